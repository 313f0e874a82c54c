// The endpoint's web config file (--web-config-file, config key webConfigFile), in the shape of
// the Prometheus exporters' web.config (exporter-toolkit):
//
//   tls_server_config:
//     cert_file: /etc/nodehealth/tls.crt
//     key_file: /etc/nodehealth/tls.key
//     client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//     client_ca_file: /etc/nodehealth/ca.crt
//     min_version: TLS12                              # or TLS13
//   basic_auth_users:
//     prometheus: $2y$10$...                           # bcrypt, cost 4..12 (htpasswd -nbBC 10 U P)
//   bearer_tokens:                                     # nodehealth's extension, not
//   exporter-toolkit's
//     prometheus: sha256:<64 hex digits>               # printf %s TOKEN | sha256sum
//
// Parsing does no I/O (parse_web_config); load_web_config reads the file and checks that the
// files it names are readable. Every problem reads "<file>:<line>: <key>: <problem>". A section
// that is present but empty is a problem: it must not silently mean "no TLS" or "no auth".
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "nodehealth/result.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace nodehealth::sinks {

using Sha256 = std::array<std::uint8_t, 32>;

enum class ClientAuth { kNone, kVerifyIfGiven, kRequireAndVerify };

struct TlsServerConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // empty: none
  ClientAuth client_auth = ClientAuth::kNone;
  int min_version = 0x0303;                  // TLS 1.2 (TLS1_2_VERSION); 0x0304 for TLS 1.3
  std::map<std::string, std::string> where;  // "cert_file" etc. -> "<file>:<line>", for messages
};

struct WebConfig {
  std::string file;  // where it came from, for messages
  std::optional<TlsServerConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
  std::map<std::string, Sha256> bearer_tokens;          // name -> SHA-256 of the token
  bool auth_required() const { return !basic_auth_users.empty() || !bearer_tokens.empty(); }
};

// Parses and validates the text of a web config file; `file` only names it in messages.
// Checks every bcrypt hash's form and salt with libcrypt (at the lowest cost, so a file of many
// users loads fast), so a malformed hash fails here, not at a scrape.
Result<WebConfig> parse_web_config(std::string_view text, const std::string& file);
// Reads `path` (at most 1 MiB) and parses it; with tls_server_config, the certificate, key and
// CA files must load into a server TLS context (make_tls_context).
Result<WebConfig> load_web_config(const std::string& path);

// The server's TLS context: certificate chain and key (which must match), min_version, no
// renegotiation, no compression, and client certificate verification against client_ca_file
// when client_auth_type asks for it. Problems name "<file>:<line>: tls_server_config.<key>".
Result<std::shared_ptr<ssl_ctx_st>> make_tls_context(const TlsServerConfig& tls,
                                                     const std::string& file);

Sha256 sha256(std::string_view data);
// Strict standard base64 (with padding); nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view in);
// True when `password` matches the bcrypt `hash` (libcrypt's crypt_rn, constant-time compare).
bool bcrypt_verify(std::string_view password, const std::string& hash);

// Checks Authorization headers against a WebConfig. Thread-safe. Successful basic-auth
// verifications are remembered by the SHA-256 of user and password (bcrypt costs tens of
// milliseconds per check), and at most one bcrypt verification runs at a time: a request
// that would need a second gets kBusy, so wrong passwords cannot occupy every worker.
class Authenticator {
 public:
  enum class Verdict { kAllowed, kMissing, kDenied, kBusy };
  explicit Authenticator(WebConfig cfg);
  Verdict check(std::string_view authorization) const;
  // The same verdict when it needs no bcrypt check (no auth configured, a bearer token, a
  // missing or malformed header, a password verified before); nullopt when it would.
  std::optional<Verdict> check_cached(std::string_view authorization) const;
  const WebConfig& config() const { return cfg_; }
  // The WWW-Authenticate header value for a 401.
  std::string challenge() const;

 private:
  std::optional<Verdict> check(std::string_view authorization, bool may_bcrypt) const;
  std::optional<Verdict> check_basic(std::string_view credentials, bool may_bcrypt) const;
  Verdict check_bearer(std::string_view token) const;
  WebConfig cfg_;
  std::string dummy_hash_;  // verified against for unknown users (same cost as a known one)
  mutable std::mutex cache_mu_;
  mutable std::set<Sha256> verified_;  // SHA-256 of "user\0password" that matched
  mutable std::mutex bcrypt_mu_;
};

}  // namespace nodehealth::sinks
