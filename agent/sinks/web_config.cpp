#include "agent/sinks/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace nodehealth::sinks {
namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;
constexpr std::size_t kMaxUsers = 1000;
constexpr std::size_t kMaxCachedCredentials = 256;
// bcrypt's lowest cost, and the highest accepted: each uncached check takes 2^cost rounds (cost 10
// about 0.1 s, 12 about 0.4 s on a busy 2-core node), and only one check runs at a time.
constexpr int kMinBcryptCost = 4;
constexpr int kMaxBcryptCost = 12;

// A fixed bcrypt hash (of a random password nobody knows) checked for unknown users, so that
// an unknown user costs the same time as a wrong password.
constexpr const char* kDummyHash = "$2y$10$5Fn9QGZsizsm611y/8pacu.dBtNbe1kWIoMijoCv3G0gI/MPmNhyO";

class Checker {
 public:
  explicit Checker(const std::string& file) : file_(file) {}

  std::string at(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.line < 0) return file_;
    return file_ + ":" + std::to_string(m.line + 1);
  }
  void problem(const YAML::Node& n, const std::string& key, const std::string& what) {
    problems_.push_back(at(n) + ": " + key + ": " + what);
  }
  void problem_at(const std::string& where, const std::string& key, const std::string& what) {
    problems_.push_back(where + ": " + key + ": " + what);
  }
  bool ok() const { return problems_.empty(); }
  std::string joined() const {
    std::string out;
    for (const auto& p : problems_) out += (out.empty() ? "" : "\n") + p;
    return out;
  }

  // A non-empty string scalar, or nullopt with a problem recorded.
  std::optional<std::string> string_of(const YAML::Node& n, const std::string& key) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      problem(n, key, "must be a non-empty string");
      return std::nullopt;
    }
    return n.Scalar();
  }

 private:
  std::string file_;
  std::vector<std::string> problems_;
};

// "unknown key (known: a, b, c)"
std::string unknown_key(std::initializer_list<const char*> known) {
  std::string list;
  for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
  return "unknown key (known: " + list + ")";
}

bool bcrypt_char(char c) {
  return c == '.' || c == '/' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9');
}

// The cost of a well-formed bcrypt hash ("$2y$10$" + 22 salt + 31 hash characters), or nullopt.
// libcrypt checks the salt, at the lowest cost: checking at the hash's own cost would take
// 2^cost rounds per user at startup.
std::optional<int> bcrypt_cost(const std::string& hash) {
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$')
    return std::nullopt;
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') return std::nullopt;
  int cost = 0;
  const auto [end, ec] = std::from_chars(hash.data() + 4, hash.data() + 6, cost);
  if (ec != std::errc{} || end != hash.data() + 6) return std::nullopt;
  if (!std::all_of(hash.begin() + 7, hash.end(), bcrypt_char)) return std::nullopt;
  std::string cheap = hash;
  cheap.replace(4, 2, "04");
  struct crypt_data data {};
  const char* out = crypt_rn("", cheap.c_str(), &data, sizeof data);
  if (out == nullptr || out[0] == '*') return std::nullopt;
  return cost;
}

std::optional<Sha256> parse_sha256(std::string_view s) {
  if (!s.starts_with("sha256:")) return std::nullopt;
  s.remove_prefix(7);
  if (s.size() != 64) return std::nullopt;
  Sha256 out{};
  for (std::size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (std::size_t j = 0; j < 2; ++j) {
      const char c = s[i * 2 + j];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return std::nullopt;
      }
      v = v * 16 + d;
    }
    out[i] = static_cast<std::uint8_t>(v);
  }
  return out;
}

void parse_tls(const YAML::Node& node, Checker& c, WebConfig& cfg) {
  if (!node.IsMap()) {
    c.problem(node, "tls_server_config", "must be a mapping");
    return;
  }
  TlsServerConfig tls;
  std::set<std::string> seen;  // file keys present (a bad value is reported once, not as missing)
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    const std::string path = "tls_server_config." + key;
    const YAML::Node v = it->second;
    if (key == "cert_file" || key == "key_file" || key == "client_ca_file") {
      seen.insert(key);
      auto s = c.string_of(v, path);
      if (!s) continue;
      (key == "cert_file"  ? tls.cert_file
       : key == "key_file" ? tls.key_file
                           : tls.client_ca_file) = *s;
      tls.where[key] = c.at(v);
    } else if (key == "client_auth_type") {
      auto s = c.string_of(v, path);
      if (!s) continue;
      if (*s == "NoClientCert") {
        tls.client_auth = ClientAuth::kNone;
      } else if (*s == "VerifyClientCertIfGiven") {
        tls.client_auth = ClientAuth::kVerifyIfGiven;
      } else if (*s == "RequireAndVerifyClientCert") {
        tls.client_auth = ClientAuth::kRequireAndVerify;
      } else if (*s == "RequestClientCert" || *s == "RequireAnyClientCert") {
        c.problem(v, path,
                  "\"" + *s +
                      "\" accepts unverified certificates and is not supported; use "
                      "VerifyClientCertIfGiven or RequireAndVerifyClientCert");
      } else {
        c.problem(v, path,
                  "must be NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert, "
                  "got \"" +
                      *s + "\"");
      }
    } else if (key == "min_version") {
      auto s = c.string_of(v, path);
      if (!s) continue;
      if (*s == "TLS12") {
        tls.min_version = 0x0303;
      } else if (*s == "TLS13") {
        tls.min_version = 0x0304;
      } else if (*s == "TLS10" || *s == "TLS11") {
        c.problem(v, path, "TLS 1.0 and 1.1 are deprecated (RFC 8996) and not supported");
      } else {
        c.problem(v, path, "must be TLS12 or TLS13, got \"" + *s + "\"");
      }
    } else if (key == "cipher_suites" || key == "curve_preferences" || key == "max_version" ||
               key == "prefer_server_cipher_suites" || key == "client_allowed_sans") {
      c.problem(it->first, path,
                "not supported by nodehealth (OpenSSL's defaults for TLS 1.2 and 1.3 are used)");
    } else {
      c.problem(it->first, path,
                unknown_key({"cert_file", "key_file", "client_auth_type", "client_ca_file",
                             "min_version"}));
    }
  }
  if (!seen.contains("cert_file")) c.problem(node, "tls_server_config.cert_file", "is required");
  if (!seen.contains("key_file")) c.problem(node, "tls_server_config.key_file", "is required");
  if (tls.client_auth != ClientAuth::kNone && !seen.contains("client_ca_file")) {
    c.problem(node, "tls_server_config.client_ca_file",
              "is required when client_auth_type verifies client certificates");
  }
  cfg.tls = std::move(tls);
}

// An empty section is an error, not "no authentication": a file whose every user is commented
// out must not serve without credentials.
bool empty_section(const YAML::Node& key, const YAML::Node& node, Checker& c,
                   const std::string& name, const std::string& without) {
  if (!node.IsNull() && !(node.IsMap() && node.size() == 0)) return false;
  c.problem(key, name, "is empty (remove the key to " + without + ")");
  return true;
}

void parse_users(const YAML::Node& key, const YAML::Node& node, Checker& c, WebConfig& cfg) {
  if (empty_section(key, node, c, "basic_auth_users", "serve without basic auth")) return;
  if (!node.IsMap()) {
    c.problem(node, "basic_auth_users", "must be a mapping of user to bcrypt hash");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar() || it->first.Scalar().empty()) {
      c.problem(it->first, "basic_auth_users", "user names must be non-empty strings");
      continue;
    }
    const std::string user = it->first.Scalar();
    const std::string path = "basic_auth_users." + user;
    if (user.find(':') != std::string::npos) {
      c.problem(it->first, path, "a user name cannot contain ':' (basic auth splits there)");
      continue;
    }
    auto hash = c.string_of(it->second, path);
    if (!hash) continue;
    const auto cost = bcrypt_cost(*hash);
    if (!cost) {
      c.problem(it->second, path,
                "not a bcrypt hash (want $2a$, $2b$ or $2y$, a two-digit cost, $ and 53 characters "
                "of ./A-Za-z0-9, e.g. from `htpasswd -nbBC 10 USER PASSWORD`)");
      continue;
    }
    if (*cost < kMinBcryptCost || *cost > kMaxBcryptCost) {
      c.problem(it->second, path,
                fmt::format("bcrypt cost {} is outside {}..{} (each check of an uncached password "
                            "takes 2^cost rounds; 10 is the usual choice)",
                            *cost, kMinBcryptCost, kMaxBcryptCost));
      continue;
    }
    if (cfg.basic_auth_users.size() >= kMaxUsers) {
      c.problem(it->first, path, "more than " + std::to_string(kMaxUsers) + " users");
      return;
    }
    if (!cfg.basic_auth_users.emplace(user, *hash).second) {
      c.problem(it->first, path, "duplicate user");
    }
  }
}

void parse_tokens(const YAML::Node& key, const YAML::Node& node, Checker& c, WebConfig& cfg) {
  if (empty_section(key, node, c, "bearer_tokens", "serve without bearer tokens")) return;
  if (!node.IsMap()) {
    c.problem(node, "bearer_tokens", "must be a mapping of name to sha256:<hex>");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar() || it->first.Scalar().empty()) {
      c.problem(it->first, "bearer_tokens", "names must be non-empty strings");
      continue;
    }
    const std::string name = it->first.Scalar();
    const std::string path = "bearer_tokens." + name;
    auto text = c.string_of(it->second, path);
    if (!text) continue;
    auto digest = parse_sha256(*text);
    if (!digest) {
      c.problem(it->second, path,
                "must be \"sha256:\" and 64 hex digits (printf %s TOKEN | sha256sum)");
      continue;
    }
    if (cfg.bearer_tokens.size() >= kMaxUsers) {
      c.problem(it->first, path, "more than " + std::to_string(kMaxUsers) + " tokens");
      return;
    }
    if (!cfg.bearer_tokens.emplace(name, *digest).second) {
      c.problem(it->first, path, "duplicate name");
    }
  }
}

bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

bool ieq_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

Result<WebConfig> parse_web_config(std::string_view text, const std::string& file) {
  if (text.size() > kMaxFileBytes) {
    return fail(file + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    if (e.mark.line >= 0) {
      return fail(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    return fail(file + ": " + e.msg);
  } catch (const std::exception& e) {
    return fail(file + ": " + e.what());
  }
  WebConfig cfg;
  cfg.file = file;
  if (root.IsNull()) return cfg;  // an empty file: plain HTTP, no auth
  Checker c(file);
  try {
    if (!root.IsMap()) {
      c.problem(root, "(top level)", "must be a mapping");
      return fail(c.joined());
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
      if (key == "tls_server_config") {
        if (!empty_section(it->first, it->second, c, key, "serve plain HTTP"))
          parse_tls(it->second, c, cfg);
      } else if (key == "basic_auth_users") {
        parse_users(it->first, it->second, c, cfg);
      } else if (key == "bearer_tokens") {
        parse_tokens(it->first, it->second, c, cfg);
      } else if (key == "http_server_config" || key == "rate_limit") {
        c.problem(it->first, key, "not supported by nodehealth");
      } else {
        c.problem(it->first, key,
                  unknown_key({"tls_server_config", "basic_auth_users", "bearer_tokens"}));
      }
    }
  } catch (const std::exception& e) {
    c.problem_at(file, "(document)", e.what());
  }
  if (!c.ok()) return fail(c.joined());
  return cfg;
}

Result<WebConfig> load_web_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("web config " + path, errno ? errno : ENOENT);
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto cfg = parse_web_config(text, path);
  if (!cfg) return cfg;
  if (cfg->tls) {
    const auto& tls = *cfg->tls;
    for (const auto& [key, file] :
         {std::pair{"cert_file", &tls.cert_file}, std::pair{"key_file", &tls.key_file},
          std::pair{"client_ca_file", &tls.client_ca_file}}) {
      if (!file->empty() && !readable(*file)) {
        const auto w = tls.where.find(key);
        return errno_error((w == tls.where.end() ? path : w->second) + ": tls_server_config." +
                               key + ": cannot read " + *file,
                           errno);
      }
    }
    if (auto ctx = make_tls_context(tls, path); !ctx) return std::unexpected(ctx.error());
  }
  return cfg;
}

Result<std::shared_ptr<ssl_ctx_st>> make_tls_context(const TlsServerConfig& tls,
                                                     const std::string& file) {
  auto bad = [&](const char* key, const std::string& what) {
    const unsigned long e = ERR_get_error();
    char buf[256] = "unknown OpenSSL error";
    if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    const auto w = tls.where.find(key);
    return fail(fmt::format("{}: tls_server_config.{}: {}: {}",
                            w == tls.where.end() ? file : w->second, key, what, buf));
  };
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return bad("cert_file", "cannot create a TLS context");
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_use_certificate_chain_file(c, tls.cert_file.c_str()) != 1)
    return bad("cert_file", "cannot use " + tls.cert_file);
  if (SSL_CTX_use_PrivateKey_file(c, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return bad("key_file", "cannot use " + tls.key_file);
  if (SSL_CTX_check_private_key(c) != 1) return bad("key_file", "does not match cert_file");
  if (SSL_CTX_set_min_proto_version(c, tls.min_version) != 1)
    return bad("min_version", "not available");
  SSL_CTX_set_options(
      c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
  if (tls.client_auth == ClientAuth::kNone) {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    return ctx;
  }
  if (SSL_CTX_load_verify_locations(c, tls.client_ca_file.c_str(), nullptr) != 1)
    return bad("client_ca_file", "cannot use " + tls.client_ca_file);
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
  if (!names) return bad("client_ca_file", "no certificate in " + tls.client_ca_file);
  SSL_CTX_set_client_CA_list(c, names);
  int mode = SSL_VERIFY_PEER;
  if (tls.client_auth == ClientAuth::kRequireAndVerify) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(c, mode, nullptr);
  SSL_CTX_set_verify_depth(c, 9);
  return ctx;
}

Sha256 sha256(std::string_view data) {
  Sha256 out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char ch = in[i + j];
      if (ch == '=' && last && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[j] = value(ch);
      if (v[j] < 0) return std::nullopt;
    }
    const unsigned n =
        (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

bool bcrypt_verify(std::string_view password, const std::string& hash) {
  if (password.size() > 1024 || password.find('\0') != std::string_view::npos) return false;
  struct crypt_data data {};
  const std::string pw(password);
  const char* out = crypt_rn(pw.c_str(), hash.c_str(), &data, sizeof data);
  if (out == nullptr || out[0] == '*') return false;
  const std::size_t n = std::strlen(out);
  return n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
}

Authenticator::Authenticator(WebConfig cfg) : cfg_(std::move(cfg)), dummy_hash_(kDummyHash) {
  // At the highest cost among the users, so that an unknown user costs as much as a known one.
  int cost = 0;
  for (const auto& [user, hash] : cfg_.basic_auth_users)
    cost = std::max(cost, bcrypt_cost(hash).value_or(0));
  if (cost == 0) cost = 10;
  dummy_hash_.replace(4, 2, fmt::format("{:02}", cost));
}

std::string Authenticator::challenge() const {
  if (!cfg_.basic_auth_users.empty()) return "Basic realm=\"nodehealth\", charset=\"UTF-8\"";
  return "Bearer realm=\"nodehealth\"";
}

Authenticator::Verdict Authenticator::check(std::string_view authorization) const {
  return *check(authorization, true);
}

std::optional<Authenticator::Verdict> Authenticator::check_cached(
    std::string_view authorization) const {
  return check(authorization, false);
}

std::optional<Authenticator::Verdict> Authenticator::check(std::string_view authorization,
                                                           bool may_bcrypt) const {
  if (!cfg_.auth_required()) return Verdict::kAllowed;
  while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
  if (authorization.empty()) return Verdict::kMissing;
  if (ieq_prefix(authorization, "basic ")) {
    if (cfg_.basic_auth_users.empty()) return Verdict::kDenied;
    return check_basic(authorization.substr(6), may_bcrypt);
  }
  if (ieq_prefix(authorization, "bearer ")) {
    if (cfg_.bearer_tokens.empty()) return Verdict::kDenied;
    return check_bearer(authorization.substr(7));
  }
  return Verdict::kDenied;
}

Authenticator::Verdict Authenticator::check_bearer(std::string_view token) const {
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return Verdict::kDenied;
  const Sha256 got = sha256(token);
  bool match = false;
  for (const auto& [name, want] : cfg_.bearer_tokens) {  // every entry: no early exit
    match |= CRYPTO_memcmp(got.data(), want.data(), got.size()) == 0;
  }
  return match ? Verdict::kAllowed : Verdict::kDenied;
}

std::optional<Authenticator::Verdict> Authenticator::check_basic(std::string_view credentials,
                                                                 bool may_bcrypt) const {
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  while (!credentials.empty() && credentials.back() == ' ') credentials.remove_suffix(1);
  if (credentials.size() > 4096) return Verdict::kDenied;
  auto decoded = base64_decode(credentials);
  if (!decoded) return Verdict::kDenied;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return Verdict::kDenied;
  const std::string user = decoded->substr(0, colon);
  const std::string_view password = std::string_view(*decoded).substr(colon + 1);

  const Sha256 key = sha256(user + std::string(1, '\0') + std::string(password));
  {
    std::lock_guard lock(cache_mu_);
    if (verified_.contains(key)) return Verdict::kAllowed;
  }
  if (!may_bcrypt) return std::nullopt;
  std::unique_lock bcrypt(bcrypt_mu_, std::try_to_lock);
  if (!bcrypt.owns_lock()) return Verdict::kBusy;
  const auto it = cfg_.basic_auth_users.find(user);
  const bool known = it != cfg_.basic_auth_users.end();
  const bool ok = bcrypt_verify(password, known ? it->second : dummy_hash_) && known;
  bcrypt.unlock();
  if (!ok) return Verdict::kDenied;
  std::lock_guard lock(cache_mu_);
  if (verified_.size() >= kMaxCachedCredentials) verified_.clear();
  verified_.insert(key);
  return Verdict::kAllowed;
}

}  // namespace nodehealth::sinks
