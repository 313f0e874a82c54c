// libcurl, loaded when the agent first needs it (a Kubernetes client), not at start: an agent
// without the Kubernetes sink (a plain host) then never maps libcurl and the two dozen
// libraries behind it (a second TLS stack, Kerberos, LDAP, SSH): about 4 MiB of resident
// memory. The build still compiles against libcurl's headers; only the linking is deferred.
#pragma once

#include <curl/curl.h>

#include <type_traits>

#include "nodehealth/result.h"

namespace nodehealth::kube {

// The libcurl functions the client calls, from the library loaded at run time.
struct CurlApi {
  CURL* (*easy_init)();
  void (*easy_cleanup)(CURL*);
  void (*easy_reset)(CURL*);
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);

  // curl_easy_setopt's one argument, checked for the kinds libcurl reads (a long, a
  // curl_off_t, an object or function pointer): an int or a bool passed through the
  // variadic call would be read as a long by libcurl, with garbage in its upper half.
  template <typename T>
  CURLcode setopt(CURL* c, CURLoption option, T value) const {
    static_assert(std::is_same_v<T, long> || std::is_same_v<T, curl_off_t> ||
                      std::is_pointer_v<T> || std::is_same_v<T, std::nullptr_t>,
                  "curl_easy_setopt takes a long, a curl_off_t or a pointer");
    return easy_setopt(c, option, value);
  }
};

// libcurl.so.4, loaded and initialized (curl_global_init) once, thread-safely; the error
// names the library and says why it could not be loaded. Later calls return the first
// outcome.
Result<const CurlApi*> curl_api();

}  // namespace nodehealth::kube
