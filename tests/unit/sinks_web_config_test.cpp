// The endpoint's web config file (agent/sinks/web_config.h): a full valid file, every problem
// the parser and loader report (each with file:line), and the Authenticator's verdicts for basic
// and bearer credentials. bcrypt hashes are made here with libcrypt at cost 4 (a millisecond).
#include <crypt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>

#include <string>

#include "agent/sinks/web_config.h"
#include "tests/unit/temp_dir.h"

using namespace nodehealth;
using sinks::Authenticator;
using Verdict = sinks::Authenticator::Verdict;

namespace {

// A fresh bcrypt hash of `password` ($2y$, the given cost, a random salt).
std::string bcrypt(const std::string& password, int cost = 4) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn("$2y$", cost, nullptr, 0, salt, sizeof salt) != nullptr);
  struct crypt_data data {};
  const char* out = crypt_rn(password.c_str(), salt, &data, sizeof data);
  REQUIRE(out != nullptr);
  REQUIRE(out[0] != '*');
  return out;
}

std::string hex(const sinks::Sha256& d) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (auto b : d) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

std::string basic(const std::string& user_colon_password) {
  // Standard base64 (the tests' own encoder, checked against a known vector below).
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  const std::string& in = user_colon_password;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return "Basic " + out;
}

// A self-signed certificate and its key (EC P-256), PEM.
struct Pem {
  std::string cert, key;
};
Pem self_signed(const char* cn) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  REQUIRE(key != nullptr);
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x, name);
  REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
  };
  Pem out{pem([&](BIO* b) { PEM_write_bio_X509(b, x); }), pem([&](BIO* b) {
            PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
          })};
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

// The error message of parsing `text` as "web.yml"; fails the test when it parses.
std::string problem(const std::string& text) {
  auto r = sinks::parse_web_config(text, "web.yml");
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

}  // namespace

TEST_CASE("web config: a full file parses into TLS, users and tokens", "[web_config]") {
  const std::string hash = bcrypt("s3cret");
  const std::string token = hex(sinks::sha256("tok"));
  const std::string text =
      "# comment\n"
      "tls_server_config:\n"
      "  cert_file: /etc/nodehealth/tls.crt\n"
      "  key_file: /etc/nodehealth/tls.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n"
      "  client_ca_file: /etc/nodehealth/ca.crt\n"
      "  min_version: TLS13\n"
      "basic_auth_users:\n"
      "  prometheus: " +
      hash +
      "\n"
      "  other: '" +
      bcrypt("x") +
      "'\n"
      "bearer_tokens:\n"
      "  vmagent: sha256:" +
      token + "\n";
  auto cfg = sinks::parse_web_config(text, "web.yml");
  REQUIRE(cfg.has_value());
  CHECK(cfg->file == "web.yml");
  REQUIRE(cfg->tls.has_value());
  CHECK(cfg->tls->cert_file == "/etc/nodehealth/tls.crt");
  CHECK(cfg->tls->key_file == "/etc/nodehealth/tls.key");
  CHECK(cfg->tls->client_ca_file == "/etc/nodehealth/ca.crt");
  CHECK(cfg->tls->client_auth == sinks::ClientAuth::kRequireAndVerify);
  CHECK(cfg->tls->min_version == 0x0304);
  CHECK(cfg->tls->where.at("cert_file") == "web.yml:3");
  CHECK(cfg->tls->where.at("client_ca_file") == "web.yml:6");
  CHECK(cfg->basic_auth_users.size() == 2);
  CHECK(cfg->basic_auth_users.at("prometheus") == hash);
  REQUIRE(cfg->bearer_tokens.size() == 1);
  CHECK(hex(cfg->bearer_tokens.at("vmagent")) == token);
  CHECK(cfg->auth_required());
}

TEST_CASE("web config: defaults and the empty file", "[web_config]") {
  auto empty = sinks::parse_web_config("", "web.yml");
  REQUIRE(empty.has_value());
  CHECK_FALSE(empty->tls.has_value());
  CHECK_FALSE(empty->auth_required());
  auto comments = sinks::parse_web_config("# nothing yet\n", "web.yml");
  REQUIRE(comments.has_value());
  CHECK_FALSE(comments->auth_required());

  auto tls = sinks::parse_web_config("tls_server_config:\n  cert_file: a\n  key_file: b\n", "w");
  REQUIRE(tls.has_value());
  CHECK(tls->tls->client_auth == sinks::ClientAuth::kNone);
  CHECK(tls->tls->min_version == 0x0303);
  CHECK(tls->tls->client_ca_file.empty());
  CHECK_FALSE(tls->auth_required());

  for (const auto& [name, want] :
       {std::pair{"NoClientCert", sinks::ClientAuth::kNone},
        std::pair{"VerifyClientCertIfGiven", sinks::ClientAuth::kVerifyIfGiven}}) {
    auto r = sinks::parse_web_config(std::string("tls_server_config:\n  cert_file: a\n  key_file: "
                                                 "b\n  client_ca_file: c\n  client_auth_type: ") +
                                         name + "\n",
                                     "w");
    REQUIRE(r.has_value());
    CHECK(r->tls->client_auth == want);
  }
}

TEST_CASE("web config: unknown and unsupported keys name file, line and the known keys",
          "[web_config]") {
  CHECK(problem("tls_server_config:\n  cert_file: a\n  key_file: b\nbasic_auth_user:\n  x: y\n") ==
        "web.yml:4: basic_auth_user: unknown key (known: tls_server_config, basic_auth_users, "
        "bearer_tokens)");
  CHECK(problem("tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n") ==
        "web.yml:4: tls_server_config.certfile: unknown key (known: cert_file, key_file, "
        "client_auth_type, client_ca_file, min_version)");
  CHECK(problem("http_server_config:\n  http2: false\n") ==
        "web.yml:1: http_server_config: not supported by nodehealth");
  CHECK(problem("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [x]\n") ==
        "web.yml:4: tls_server_config.cipher_suites: not supported by nodehealth (OpenSSL's "
        "defaults for TLS 1.2 and 1.3 are used)");
}

TEST_CASE("web config: wrong types and shapes", "[web_config]") {
  CHECK(problem("- a\n- b\n") == "web.yml:1: (top level): must be a mapping");
  CHECK(problem("tls_server_config: yes\n") == "web.yml:1: tls_server_config: must be a mapping");
  CHECK(problem("tls_server_config:\n  cert_file: [a]\n  key_file: b\n") ==
        "web.yml:2: tls_server_config.cert_file: must be a non-empty string");
  CHECK(problem("tls_server_config:\n  cert_file: ''\n  key_file: b\n") ==
        "web.yml:2: tls_server_config.cert_file: must be a non-empty string");
  CHECK(problem("basic_auth_users: [a, b]\n") ==
        "web.yml:1: basic_auth_users: must be a mapping of user to bcrypt hash");
  CHECK(problem("basic_auth_users:\n  u: {a: b}\n") ==
        "web.yml:2: basic_auth_users.u: must be a non-empty string");
  CHECK(problem("bearer_tokens: abc\n") ==
        "web.yml:1: bearer_tokens: must be a mapping of name to sha256:<hex>");
  // YAML syntax errors keep their line.
  CHECK(problem("tls_server_config:\n  cert_file: [a\n") ==
        "web.yml:3: end of sequence flow not found");
}

TEST_CASE("web config: TLS problems", "[web_config]") {
  CHECK(problem("tls_server_config:\n  key_file: b\n") ==
        "web.yml:2: tls_server_config.cert_file: is required");
  CHECK(problem("tls_server_config:\n  cert_file: a\n") ==
        "web.yml:2: tls_server_config.key_file: is required");
  CHECK(problem("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                "  client_auth_type: RequireAndVerifyClientCert\n") ==
        "web.yml:2: tls_server_config.client_ca_file: is required when client_auth_type "
        "verifies client certificates");
  CHECK(problem("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Yes\n") ==
        "web.yml:4: tls_server_config.client_auth_type: must be NoClientCert, "
        "VerifyClientCertIfGiven or RequireAndVerifyClientCert, got \"Yes\"");
  CHECK(problem("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                "  client_auth_type: RequireAnyClientCert\n") ==
        "web.yml:4: tls_server_config.client_auth_type: \"RequireAnyClientCert\" accepts "
        "unverified certificates and is not supported; use VerifyClientCertIfGiven or "
        "RequireAndVerifyClientCert");
  CHECK(problem("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS11\n") ==
        "web.yml:4: tls_server_config.min_version: TLS 1.0 and 1.1 are deprecated (RFC 8996) and "
        "not supported");
  CHECK(problem("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: 1.2\n") ==
        "web.yml:4: tls_server_config.min_version: must be TLS12 or TLS13, got \"1.2\"");
}

TEST_CASE("web config: an empty section is an error, not an open endpoint", "[web_config]") {
  CHECK(problem("basic_auth_users:\n") ==
        "web.yml:1: basic_auth_users: is empty (remove the key to serve without basic auth)");
  CHECK(problem("basic_auth_users: {}\n") ==
        "web.yml:1: basic_auth_users: is empty (remove the key to serve without basic auth)");
  CHECK(problem("bearer_tokens:\n  # all commented out\n") ==
        "web.yml:1: bearer_tokens: is empty (remove the key to serve without bearer tokens)");
  CHECK(problem("tls_server_config:\n") ==
        "web.yml:1: tls_server_config: is empty (remove the key to serve plain HTTP)");
}

TEST_CASE("web config: user names and bcrypt hashes", "[web_config]") {
  const std::string good = bcrypt("pw");
  CHECK(
      problem("basic_auth_users:\n  a:b: " + good + "\n") ==
      "web.yml:2: basic_auth_users.a:b: a user name cannot contain ':' (basic auth splits there)");
  CHECK(problem("basic_auth_users:\n  u: " + good + "\n  u: " + good + "\n") ==
        "web.yml:3: basic_auth_users.u: duplicate user");
  const std::string want_hash =
      "not a bcrypt hash (want $2a$, $2b$ or $2y$, a two-digit cost, $ and 53 characters of "
      "./A-Za-z0-9, e.g. from `htpasswd -nbBC 10 USER PASSWORD`)";
  for (const std::string& bad : {
           std::string("plaintext"), good.substr(0, 59),  // one short
           good + "x",                                    // one long
           "$1$" + good.substr(3),                        // not bcrypt
           "$2x$" + good.substr(4),                       // the buggy variant
           good.substr(0, 4) + "1x" + good.substr(6),     // cost not two digits
           good.substr(0, 6) + "x" + good.substr(7),      // no '$' after the cost
           good.substr(0, 20) + "!" + good.substr(21),    // outside the alphabet
       }) {
    INFO(bad);
    CHECK(problem("basic_auth_users:\n  u: '" + bad + "'\n") ==
          "web.yml:2: basic_auth_users.u: " + want_hash);
  }
  // A cost outside 4..12: 31 would take days per check (and the old parser verified every hash
  // at its own cost while loading, so such a file hung the agent's start).
  for (const char* cost : {"03", "13", "31"}) {
    const std::string h = good.substr(0, 4) + cost + good.substr(6);
    CHECK(problem("basic_auth_users:\n  u: '" + h + "'\n") ==
          "web.yml:2: basic_auth_users.u: bcrypt cost " + std::to_string(std::stoi(cost)) +
              " is outside 4..12 (each check of an uncached password takes 2^cost rounds; 10 is "
              "the usual choice)");
  }
  for (const char* variant : {"$2a$", "$2b$", "$2y$"}) {
    const std::string h = variant + good.substr(4);
    auto r = sinks::parse_web_config("basic_auth_users:\n  u: '" + h + "'\n", "web.yml");
    CHECK(r.has_value());
  }
}

TEST_CASE("web config: bearer tokens", "[web_config]") {
  const std::string digest = hex(sinks::sha256("tok"));
  CHECK(hex(sinks::sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto upper = sinks::parse_web_config("bearer_tokens:\n  t: sha256:" +
                                           std::string("BA7816BF8F01CFEA414140DE5DAE2223B00361A39"
                                                       "6177A9CB410FF61F20015AD") +
                                           "\n",
                                       "web.yml");
  REQUIRE(upper.has_value());
  CHECK(hex(upper->bearer_tokens.at("t")) == hex(sinks::sha256("abc")));
  const std::string want = "must be \"sha256:\" and 64 hex digits (printf %s TOKEN | sha256sum)";
  for (const std::string& bad :
       {std::string("tok"), "sha256:" + digest.substr(1), "sha256:" + digest + "0",
        "sha1:" + digest, "sha256:" + digest.substr(0, 63) + "g"}) {
    INFO(bad);
    CHECK(problem("bearer_tokens:\n  t: '" + bad + "'\n") == "web.yml:2: bearer_tokens.t: " + want);
  }
  CHECK(problem("bearer_tokens:\n  t: sha256:" + digest + "\n  t: sha256:" + digest + "\n") ==
        "web.yml:3: bearer_tokens.t: duplicate name");
}

TEST_CASE("web config: every problem is reported, one per line", "[web_config]") {
  const std::string msg = problem(
      "tls_server_config:\n  cert_file: a\n  min_version: TLS10\nbasic_auth_users:\n  u: x\n"
      "extra: 1\n");
  CHECK(msg ==
        "web.yml:3: tls_server_config.min_version: TLS 1.0 and 1.1 are deprecated (RFC 8996) and "
        "not supported\n"
        "web.yml:2: tls_server_config.key_file: is required\n"
        "web.yml:5: basic_auth_users.u: not a bcrypt hash (want $2a$, $2b$ or $2y$, a two-digit "
        "cost, $ and 53 characters of ./A-Za-z0-9, e.g. from `htpasswd -nbBC 10 USER PASSWORD`)\n"
        "web.yml:6: extra: unknown key (known: tls_server_config, basic_auth_users, "
        "bearer_tokens)");
}

TEST_CASE("web config: load_web_config reads the file and checks the files it names",
          "[web_config]") {
  testing::TempDir dir;
  const Pem pem = self_signed("localhost");
  const std::string crt = dir.write("tls.crt", pem.cert);
  const std::string key = dir.write("tls.key", pem.key);
  const std::string ok = dir.write(
      "web.yml", "tls_server_config:\n  cert_file: " + crt + "\n  key_file: " + key + "\n");
  auto cfg = sinks::load_web_config(ok);
  REQUIRE(cfg.has_value());
  CHECK(cfg->file == ok);
  CHECK(cfg->tls->cert_file == crt);

  const std::string missing = dir.write(
      "missing.yml", "tls_server_config:\n  cert_file: " + crt + "\n  key_file: " + key +
                         "\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: " +
                         dir / "nope.crt" + "\n");
  auto r = sinks::load_web_config(missing);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == missing + ":5: tls_server_config.client_ca_file: cannot read " +
                                 dir / "nope.crt" + ": No such file or directory");

  const std::string no_key = dir.write(
      "nokey.yml", "tls_server_config:\n  cert_file: " + crt + "\n  key_file: /nonexistent/k\n");
  r = sinks::load_web_config(no_key);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == no_key +
                                 ":3: tls_server_config.key_file: cannot read /nonexistent/k: No "
                                 "such file or directory");

  r = sinks::load_web_config(dir / "absent.yml");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "web config " + dir / "absent.yml" + ": No such file or directory");

  const std::string bad = dir.write("bad.yml", "\n\nbasic_auth_users:\n  u: nope\n");
  r = sinks::load_web_config(bad);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.starts_with(bad + ":4: basic_auth_users.u: not a bcrypt hash"));

  const std::string big = dir.write("big.yml", "# " + std::string(1 << 20, 'x') + "\n");
  r = sinks::load_web_config(big);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == big + ": larger than 1048576 bytes");
}

TEST_CASE("web config: the TLS context loads the files and checks that they fit", "[web_config]") {
  testing::TempDir dir;
  const Pem a = self_signed("a");
  const Pem b = self_signed("b");
  const std::string crt = dir.write("a.crt", a.cert);
  const std::string key = dir.write("a.key", a.key);
  const std::string other_key = dir.write("b.key", b.key);
  const std::string garbage = dir.write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnope\n");
  const std::string ca = dir.write("ca.crt", b.cert);
  auto write = [&](const std::string& name, const std::string& cert, const std::string& k,
                   const std::string& extra = "") {
    return dir.write(
        name, "tls_server_config:\n  cert_file: " + cert + "\n  key_file: " + k + "\n" + extra);
  };

  auto ok = sinks::load_web_config(write("ok.yml", crt, key,
                                         "  client_auth_type: RequireAndVerifyClientCert\n"
                                         "  client_ca_file: " +
                                             ca + "\n"));
  REQUIRE(ok.has_value());
  auto ctx = sinks::make_tls_context(*ok->tls, ok->file);
  REQUIRE(ctx.has_value());
  CHECK(*ctx != nullptr);

  const std::string mismatch = write("mismatch.yml", crt, other_key);
  auto r = sinks::load_web_config(mismatch);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.starts_with(mismatch + ":3: tls_server_config.key_file: cannot use " +
                                      other_key + ": "));
  CHECK(r.error().message.ends_with("key values mismatch"));

  const std::string bad_cert = write("badcert.yml", garbage, key);
  r = sinks::load_web_config(bad_cert);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.starts_with(bad_cert + ":2: tls_server_config.cert_file: cannot use " +
                                      garbage + ": "));

  const std::string key_as_cert = write("keyascert.yml", crt, crt);
  r = sinks::load_web_config(key_as_cert);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.starts_with(key_as_cert + ":3: tls_server_config.key_file: cannot use " +
                                      crt + ": "));

  const std::string bad_ca = write("badca.yml", crt, key,
                                   "  client_auth_type: VerifyClientCertIfGiven\n"
                                   "  client_ca_file: " +
                                       key + "\n");
  r = sinks::load_web_config(bad_ca);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.starts_with(bad_ca + ":5: tls_server_config.client_ca_file: "));
}

TEST_CASE("web config: strict base64", "[web_config]") {
  CHECK(sinks::base64_decode("") == std::string());
  CHECK(sinks::base64_decode("YQ==") == std::string("a"));
  CHECK(sinks::base64_decode("YWI=") == std::string("ab"));
  CHECK(sinks::base64_decode("YWJj") == std::string("abc"));
  CHECK(sinks::base64_decode("dXNlcjpwYXNz") == std::string("user:pass"));
  CHECK(basic("user:pass") == "Basic dXNlcjpwYXNz");          // the tests' encoder agrees
  CHECK_FALSE(sinks::base64_decode("YQ=").has_value());       // length not a multiple of 4
  CHECK_FALSE(sinks::base64_decode("Y===").has_value());      // too much padding
  CHECK_FALSE(sinks::base64_decode("YQ=a").has_value());      // data after padding
  CHECK_FALSE(sinks::base64_decode("YQ==YWJj").has_value());  // padding before the end
  CHECK_FALSE(sinks::base64_decode("YW-j").has_value());      // URL-safe alphabet
  CHECK_FALSE(sinks::base64_decode("YW j").has_value());
}

TEST_CASE("authenticator: basic auth", "[web_config]") {
  sinks::WebConfig cfg;
  cfg.basic_auth_users = {{"prometheus", bcrypt("right")}, {"other", bcrypt("pass:with:colons")}};
  const Authenticator auth(cfg);
  CHECK(auth.challenge() == "Basic realm=\"nodehealth\", charset=\"UTF-8\"");
  CHECK(auth.check("") == Verdict::kMissing);
  CHECK(auth.check("   ") == Verdict::kMissing);
  CHECK(auth.check(basic("prometheus:right")) == Verdict::kAllowed);
  CHECK(auth.check(basic("prometheus:right")) == Verdict::kAllowed);  // again, from the cache
  CHECK(auth.check("basic " + basic("prometheus:right").substr(6)) == Verdict::kAllowed);
  CHECK(auth.check("BASIC  " + basic("prometheus:right").substr(6) + " ") == Verdict::kAllowed);
  CHECK(auth.check(basic("prometheus:wrong")) == Verdict::kDenied);
  CHECK(auth.check(basic("prometheus:righ")) == Verdict::kDenied);
  CHECK(auth.check(basic("prometheus:right ")) == Verdict::kDenied);
  CHECK(auth.check(basic("prometheus:")) == Verdict::kDenied);
  CHECK(auth.check(basic("Prometheus:right")) == Verdict::kDenied);  // user names are exact
  CHECK(auth.check(basic("nobody:right")) == Verdict::kDenied);
  CHECK(auth.check(basic("other:right")) == Verdict::kDenied);  // another user's password
  CHECK(auth.check(basic("other:pass:with:colons")) == Verdict::kAllowed);  // split at the first
  CHECK(auth.check(basic("prometheusright")) == Verdict::kDenied);          // no colon
  CHECK(auth.check(basic(":right")) == Verdict::kDenied);
  CHECK(auth.check("Basic !!!!") == Verdict::kDenied);                       // not base64
  CHECK(auth.check("Basic " + std::string(5000, 'A')) == Verdict::kDenied);  // too long
  CHECK(auth.check("Basic") == Verdict::kDenied);
  CHECK(auth.check("Bearer right") == Verdict::kDenied);  // no tokens configured
  CHECK(auth.check("Digest username=\"prometheus\"") == Verdict::kDenied);
  // A password with a NUL byte is never checked (libcrypt would stop at it).
  CHECK(auth.check(basic(std::string("prometheus:right\0x", 18))) == Verdict::kDenied);
}

TEST_CASE("authenticator: bearer tokens", "[web_config]") {
  sinks::WebConfig cfg;
  cfg.bearer_tokens = {{"a", sinks::sha256("token-a")}, {"b", sinks::sha256("token-b")}};
  const Authenticator auth(cfg);
  CHECK(auth.challenge() == "Bearer realm=\"nodehealth\"");
  CHECK(auth.check("") == Verdict::kMissing);
  CHECK(auth.check("Bearer token-a") == Verdict::kAllowed);
  CHECK(auth.check("Bearer token-b") == Verdict::kAllowed);
  CHECK(auth.check("bearer   token-b  ") == Verdict::kAllowed);
  CHECK(auth.check("Bearer token-c") == Verdict::kDenied);
  CHECK(auth.check("Bearer token-") == Verdict::kDenied);
  CHECK(auth.check("Bearer token-aa") == Verdict::kDenied);
  CHECK(auth.check("Bearer ") == Verdict::kDenied);
  CHECK(auth.check("Bearer") == Verdict::kDenied);
  CHECK(auth.check("token-a") == Verdict::kDenied);           // no scheme
  CHECK(auth.check(basic("a:token-a")) == Verdict::kDenied);  // no users configured
}

TEST_CASE("authenticator: users and tokens together, and none", "[web_config]") {
  sinks::WebConfig both;
  both.basic_auth_users = {{"u", bcrypt("p")}};
  both.bearer_tokens = {{"t", sinks::sha256("tok")}};
  const Authenticator auth(both);
  CHECK(auth.check(basic("u:p")) == Verdict::kAllowed);
  CHECK(auth.check("Bearer tok") == Verdict::kAllowed);
  CHECK(auth.check("Bearer p") == Verdict::kDenied);
  CHECK(auth.check(basic("u:tok")) == Verdict::kDenied);

  const Authenticator open{sinks::WebConfig{}};
  CHECK(open.check("") == Verdict::kAllowed);
  CHECK(open.check("Bearer anything") == Verdict::kAllowed);
}

TEST_CASE("authenticator: check_cached answers only what needs no bcrypt", "[web_config]") {
  sinks::WebConfig cfg;
  cfg.basic_auth_users = {{"u", bcrypt("p")}};
  cfg.bearer_tokens = {{"t", sinks::sha256("tok")}};
  const Authenticator auth(cfg);
  CHECK(auth.check_cached("") == Verdict::kMissing);
  CHECK(auth.check_cached("Bearer tok") == Verdict::kAllowed);
  CHECK(auth.check_cached("Bearer nope") == Verdict::kDenied);
  CHECK(auth.check_cached("Basic !!!!") == Verdict::kDenied);  // malformed: no bcrypt needed
  CHECK(auth.check_cached("Digest x") == Verdict::kDenied);
  // A password not verified yet: only check() decides it, and then it is cached.
  CHECK_FALSE(auth.check_cached(basic("u:p")).has_value());
  CHECK_FALSE(auth.check_cached(basic("u:wrong")).has_value());
  CHECK(auth.check(basic("u:p")) == Verdict::kAllowed);
  CHECK(auth.check_cached(basic("u:p")) == Verdict::kAllowed);
  CHECK(auth.check(basic("u:wrong")) == Verdict::kDenied);
  CHECK_FALSE(auth.check_cached(basic("u:wrong")).has_value());  // failures are not cached

  const Authenticator open{sinks::WebConfig{}};
  CHECK(open.check_cached("") == Verdict::kAllowed);
}

TEST_CASE("bcrypt_verify", "[web_config]") {
  const std::string h = bcrypt("pw");
  CHECK(sinks::bcrypt_verify("pw", h));
  CHECK_FALSE(sinks::bcrypt_verify("pW", h));
  CHECK_FALSE(sinks::bcrypt_verify("", h));
  CHECK_FALSE(sinks::bcrypt_verify("pw", "not a hash"));
  // bcrypt reads 72 bytes: a longer password matches on its first 72 (README says so); over 1024
  // bytes none is even hashed.
  const std::string h72 = bcrypt(std::string(72, 'a'));
  CHECK(sinks::bcrypt_verify(std::string(72, 'a'), h72));
  CHECK(sinks::bcrypt_verify(std::string(256, 'a'), h72));
  CHECK_FALSE(sinks::bcrypt_verify(std::string(1025, 'a'), h72));
}
