#include "agent/kube/curl_lib.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace nodehealth::kube {

namespace {

// The soname of libcurl's ABI 4 (Debian's libcurl4, OpenSSL flavour, whose headers the build
// uses).
constexpr const char* kLibrary = "libcurl.so.4";

template <typename F>
bool resolve(void* lib, const char* name, F& out, std::string& missing) {
  out = reinterpret_cast<F>(::dlsym(lib, name));
  if (!out) missing += std::string(missing.empty() ? "" : ", ") + name;
  return out != nullptr;
}

Result<const CurlApi*> load() {
  void* lib = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = ::dlerror();
    return fail(std::string("cannot load ") + kLibrary + " (the Kubernetes client's HTTPS): " +
                (why ? why : "unknown error") + "; install libcurl4");
  }
  static CurlApi api;
  std::string missing;
  CURLcode (*global_init)(long) = nullptr;
  resolve(lib, "curl_global_init", global_init, missing);
  resolve(lib, "curl_easy_init", api.easy_init, missing);
  resolve(lib, "curl_easy_cleanup", api.easy_cleanup, missing);
  resolve(lib, "curl_easy_reset", api.easy_reset, missing);
  resolve(lib, "curl_easy_setopt", api.easy_setopt, missing);
  resolve(lib, "curl_easy_perform", api.easy_perform, missing);
  resolve(lib, "curl_easy_getinfo", api.easy_getinfo, missing);
  resolve(lib, "curl_easy_strerror", api.easy_strerror, missing);
  resolve(lib, "curl_slist_append", api.slist_append, missing);
  resolve(lib, "curl_slist_free_all", api.slist_free_all, missing);
  if (!missing.empty()) return fail(std::string(kLibrary) + " lacks " + missing);
  if (const CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK)
    return fail(std::string("curl_global_init failed: code ") + std::to_string(int(rc)));
  return &api;  // the library stays loaded for the process's life
}

}  // namespace

Result<const CurlApi*> curl_api() {
  static std::once_flag once;
  static Result<const CurlApi*> loaded = fail("not loaded");
  std::call_once(once, [] { loaded = load(); });
  return loaded;
}

}  // namespace nodehealth::kube
