// Debian 12's civetweb (1.15, built for the OpenSSL 1.1 API) loads OpenSSL at run time by the
// names "libssl.so" and "libcrypto.so" and looks up SSL_get_peer_certificate, which OpenSSL 3
// exports only as SSL_get1_peer_certificate: without help its TLS set-up fails. The agent
// embeds two tiny libraries built from this file (see the Makefile and http.cpp): one with the
// soname "libcrypto.so" that only depends on libcrypto.so.3, one with the soname "libssl.so"
// that depends on libssl.so.3 and defines the missing function. The agent loads them before
// civetweb does, and the dynamic loader then answers civetweb's dlopen calls with them.
#ifndef NH_CRYPTO_ONLY
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509* SSL_get_peer_certificate(const SSL* s);
X509* SSL_get_peer_certificate(const SSL* s) { return SSL_get1_peer_certificate(s); }
#else
int nodehealth_crypto_shim;
#endif
