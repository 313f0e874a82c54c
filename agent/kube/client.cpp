#include "agent/kube/client.h"

#include "agent/kube/curl_lib.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nodehealth::kube {

namespace {

// Bound service-account tokens rotate (the kubelet rewrites the file at 80% of their life):
// the file is read again about every minute. NODEHEALTH_TEST_TOKEN_REREAD_SECONDS shortens
// that for the e2e test of a rotation the old token survives.
std::chrono::seconds token_reread() {
  static const std::chrono::seconds value = [] {
    const char* v = std::getenv("NODEHEALTH_TEST_TOKEN_REREAD_SECONDS");
    const std::string_view text = v ? v : "";
    long n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    const bool ok = ec == std::errc() && end == text.data() + text.size() && n > 0 && n <= 60;
    return ok ? std::chrono::seconds(n) : std::chrono::seconds(60);
  }();
  return value;
}

Result<std::string> read_text(const std::string& path, const std::string& what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return errno_error(what + " " + path, errno ? errno : ENOENT);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<std::string> base64_decode(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0, pad = 0;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return fail("base64: data after padding");
    const auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos)
      return fail(std::string("base64: invalid character '") + c + "'");
    acc = (acc << 6) | uint32_t(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xff));
    }
  }
  if (pad > 2) return fail("base64: too much padding");
  return out;
}

std::optional<Result<ClusterConfig>> in_cluster_config(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) return std::nullopt;
  ClusterConfig c;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  c.server = "https://" + h + ":" + port;
  c.token_file = sa_dir + "/token";
  c.ca_file = sa_dir + "/ca.crt";
  c.origin = "in-cluster";
  if (auto t = read_text(c.token_file, "service account token"); !t)
    return Result<ClusterConfig>(std::unexpected(t.error()));
  return Result<ClusterConfig>(c);
}

Result<ClusterConfig> load_kubeconfig(const std::string& path) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return errno_error("kubeconfig " + path, ENOENT);
  } catch (const YAML::Exception& e) {
    return fail("kubeconfig " + path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  auto err = [&](const YAML::Node& n, const std::string& key, const std::string& msg) {
    const int line = n.IsDefined() && n.Mark().line >= 0 ? n.Mark().line + 1 : 1;
    return fail("kubeconfig " + path + ":" + std::to_string(line) + ": " + key + ": " + msg);
  };
  auto abs = [&](const std::string& p) {
    return p.empty() || p.front() == '/' ? p : (dir / p).string();
  };
  try {
    if (!doc.IsMap()) return err(doc, "(document)", "must be a mapping");
    const std::string ctx_name =
        doc["current-context"] ? doc["current-context"].as<std::string>() : "";
    if (ctx_name.empty()) return err(doc, "current-context", "not set");
    auto named = [&](const char* list, const std::string& name) -> YAML::Node {
      for (const auto& item : doc[list])
        if (item["name"] && item["name"].as<std::string>() == name) return item;
      return YAML::Node(YAML::NodeType::Undefined);
    };
    const YAML::Node ctx = named("contexts", ctx_name);
    if (!ctx.IsDefined())
      return err(doc["current-context"], "current-context",
                 "no context named \"" + ctx_name + "\"");
    const YAML::Node c = ctx["context"];
    if (!c || !c["cluster"])
      return err(ctx, "contexts[" + ctx_name + "].context.cluster", "not set");
    const std::string cluster_name = c["cluster"].as<std::string>();
    const YAML::Node cl = named("clusters", cluster_name);
    if (!cl.IsDefined() || !cl["cluster"])
      return err(c["cluster"], "context.cluster", "no cluster named \"" + cluster_name + "\"");
    ClusterConfig out;
    out.origin = path;
    const YAML::Node cc = cl["cluster"];
    if (!cc["server"]) return err(cc, "clusters[" + cluster_name + "].cluster.server", "not set");
    out.server = cc["server"].as<std::string>();
    if (!out.server.starts_with("https://"))
      return err(cc["server"], "clusters[" + cluster_name + "].cluster.server",
                 "must be an https:// URL, got \"" + out.server + "\"");
    while (out.server.ends_with("/")) out.server.pop_back();
    if (cc["certificate-authority"])
      out.ca_file = abs(cc["certificate-authority"].as<std::string>());
    if (cc["certificate-authority-data"]) {
      auto pem = base64_decode(cc["certificate-authority-data"].as<std::string>());
      if (!pem)
        return err(cc["certificate-authority-data"], "certificate-authority-data",
                   pem.error().message);
      out.ca_pem = *pem;
    }
    if (cc["insecure-skip-tls-verify"]) out.insecure = cc["insecure-skip-tls-verify"].as<bool>();
    if (c["user"]) {
      const std::string user_name = c["user"].as<std::string>();
      const YAML::Node u = named("users", user_name);
      if (!u.IsDefined())
        return err(c["user"], "context.user", "no user named \"" + user_name + "\"");
      const YAML::Node uu = u["user"];
      if (uu) {
        if (uu["token"]) out.token = uu["token"].as<std::string>();
        if (uu["tokenFile"]) out.token_file = abs(uu["tokenFile"].as<std::string>());
        if (uu["client-certificate"])
          out.cert_file = abs(uu["client-certificate"].as<std::string>());
        if (uu["client-key"]) out.key_file = abs(uu["client-key"].as<std::string>());
        for (auto [key, dst] : {std::pair{"client-certificate-data", &out.cert_pem},
                                std::pair{"client-key-data", &out.key_pem}}) {
          if (!uu[key]) continue;
          auto pem = base64_decode(uu[key].as<std::string>());
          if (!pem) return err(uu[key], key, pem.error().message);
          *dst = *pem;
        }
        if (uu["exec"] || uu["auth-provider"])
          return err(uu, "users[" + user_name + "].user",
                     "exec and auth-provider credentials are not supported: use a token or a "
                     "client certificate");
      }
    }
    return out;
  } catch (const YAML::Exception& e) {
    return fail("kubeconfig " + path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Client::Client(ClusterConfig cfg, std::chrono::milliseconds timeout)
    : cfg_(std::move(cfg)), timeout_(timeout) {
  if (auto api = curl_api(); api) curl_ = (*api)->easy_init();
}

Client::~Client() {
  if (curl_) (*curl_api())->easy_cleanup(static_cast<CURL*>(curl_));
}

Result<std::string> Client::bearer() {
  if (cfg_.token_file.empty()) return cfg_.token;
  const auto now = std::chrono::steady_clock::now();
  if (token_.empty() || now - token_read_ >= token_reread()) {
    auto t = read_text(cfg_.token_file, "token file");
    if (!t) {
      if (token_.empty()) return std::unexpected(t.error());
    } else {
      token_ = trim(*t);
      token_read_ = now;
    }
  }
  return token_;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
    value.remove_suffix(1);
  if (value.empty() || value.size() > 18 ||
      value.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;  // an HTTP date, garbage, or a number too long to be meant
  long long secs = 0;
  std::from_chars(value.data(), value.data() + value.size(), secs);
  if (secs <= 0) return std::nullopt;
  return std::chrono::seconds(std::min<long long>(secs, kMaxRetryAfter.count()));
}

namespace {

size_t on_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* out) {
  std::string_view line(data, size * n);
  constexpr std::string_view kRetry = "retry-after:";
  if (line.size() > kRetry.size()) {
    std::string lower(line.substr(0, kRetry.size()));
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (lower == kRetry) {
      if (auto wait = parse_retry_after(line.substr(kRetry.size())))
        *static_cast<std::optional<std::chrono::seconds>*>(out) = *wait;
    }
  }
  return size * n;
}

int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// curl's progress callback: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int on_progress(void* deadline, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const int64_t d = static_cast<std::atomic<int64_t>*>(deadline)->load();
  return d != 0 && steady_ns(std::chrono::steady_clock::now()) >= d ? 1 : 0;
}

}  // namespace

void Client::set_deadline(std::chrono::steady_clock::time_point t) {
  deadline_ns_ = std::max<int64_t>(steady_ns(t), 1);
}

bool Client::deadline_passed() const {
  const int64_t d = deadline_ns_.load();
  return d != 0 && steady_ns(std::chrono::steady_clock::now()) >= d;
}

Result<Response> Client::request(const std::string& method, const std::string& path,
                                 const std::string& content_type, const std::string& body) {
  auto r = perform(method, path, content_type, body);
  // A rotated token: read the file again at once rather than at the next minute.
  if (r && r->code == 401 && !cfg_.token_file.empty()) {
    token_read_ = {};
    r = perform(method, path, content_type, body);
  }
  return r;
}

Result<Response> Client::perform(const std::string& method, const std::string& path,
                                 const std::string& content_type, const std::string& body) {
  auto loaded = curl_api();
  if (!loaded) return std::unexpected(loaded.error());
  const CurlApi& api = **loaded;
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return fail("curl_easy_init failed");
  auto token = bearer();
  if (!token) return std::unexpected(token.error());
  const std::string url = cfg_.server + path;
  auto timeout = timeout_;
  if (const int64_t d = deadline_ns_.load(); d != 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(d - steady_ns(std::chrono::steady_clock::now())));
    if (left.count() <= 0) return fail(method + " " + url + ": not sent, the deadline passed");
    timeout = std::min(timeout, left);
  }
  api.easy_reset(c);
  Response r;
  api.setopt(c, CURLOPT_URL, url.c_str());
  api.setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  api.setopt(c, CURLOPT_NOSIGNAL, 1L);
  api.setopt(c, CURLOPT_TIMEOUT_MS, long(timeout.count()));
  api.setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(std::min<int64_t>(timeout.count(), 5000)));
  api.setopt(c, CURLOPT_NOPROGRESS, 0L);
  api.setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  api.setopt(c, CURLOPT_XFERINFODATA, &deadline_ns_);
  api.setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  api.setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  api.setopt(c, CURLOPT_WRITEDATA, &r.body);
  api.setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  api.setopt(c, CURLOPT_HEADERDATA, &r.retry_after);
  api.setopt(c, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(64) << 20);  // a Node is KiBs
  curl_blob ca{}, cert{}, key{};
  if (!cfg_.ca_file.empty()) api.setopt(c, CURLOPT_CAINFO, cfg_.ca_file.c_str());
  if (!cfg_.ca_pem.empty()) {
    ca = {cfg_.ca_pem.data(), cfg_.ca_pem.size(), CURL_BLOB_COPY};
    api.setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (!cfg_.cert_file.empty()) api.setopt(c, CURLOPT_SSLCERT, cfg_.cert_file.c_str());
  if (!cfg_.key_file.empty()) api.setopt(c, CURLOPT_SSLKEY, cfg_.key_file.c_str());
  if (!cfg_.cert_pem.empty()) {
    cert = {cfg_.cert_pem.data(), cfg_.cert_pem.size(), CURL_BLOB_COPY};
    api.setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
  }
  if (!cfg_.key_pem.empty()) {
    key = {cfg_.key_pem.data(), cfg_.key_pem.size(), CURL_BLOB_COPY};
    api.setopt(c, CURLOPT_SSLKEY_BLOB, &key);
  }
  if (cfg_.insecure) {
    api.setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    api.setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_slist* headers = nullptr;
  headers = api.slist_append(headers, "Accept: application/json");
  std::string auth;
  if (!token->empty()) {
    auth = "Authorization: Bearer " + *token;
    headers = api.slist_append(headers, auth.c_str());
  }
  std::string ct;
  if (!content_type.empty()) {
    ct = "Content-Type: " + content_type;
    headers = api.slist_append(headers, ct.c_str());
  }
  if (!body.empty() || method == "POST" || method == "PATCH") {
    api.setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    api.setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  }
  api.setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = api.easy_perform(c);
  api.slist_free_all(headers);
  if (rc == CURLE_ABORTED_BY_CALLBACK)
    return fail(method + " " + url + ": cut at the deadline, no answer yet");
  if (rc != CURLE_OK) return fail(method + " " + url + ": " + api.easy_strerror(rc));
  api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
  return r;
}

}  // namespace nodehealth::kube
