#include "agent/sinks/http.h"

#include <CivetServer.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <prometheus/exposer.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "agent/sinks/process_metrics.h"
#include "agent/sinks/status_page.h"

// The OpenSSL shims (ssl_shim.c, embedded by ssl_shims.S).
extern "C" {
extern const char nh_ssl_shim_start[], nh_ssl_shim_end[];
extern const char nh_crypto_shim_start[], nh_crypto_shim_end[];
}

namespace nodehealth::sinks {
namespace {

// civetweb runs one thread per connection, so these bound what clients can hold. Each is a
// civetweb 1.15 option; README "HTTP endpoint" explains the choice.
constexpr const char* kWorkers = "32";             // num_threads: concurrent connections served
constexpr const char* kQueue = "64";               // connection_queue: accepted, waiting for a worker
constexpr const char* kBacklog = "128";            // listen_backlog: not yet accepted
constexpr const char* kRequestTimeoutMs = "2000";  // whole request head, and each write
constexpr const char* kKeepAliveMs = "1000";       // idle keep-alive connection
constexpr const char* kMaxRequestBytes = "8192";   // request line + headers

// Loads the shims from memory (memfd) before civetweb looks for OpenSSL: its dlopen of
// "libssl.so" and "libcrypto.so" then finds them by their sonames.
Result<void> load_openssl_shims() {
  static std::once_flag once;
  static Result<void> result;
  std::call_once(once, [] {
    const std::pair<const char*, std::pair<const char*, const char*>> shims[] = {
        {"nh-crypto-shim", {nh_crypto_shim_start, nh_crypto_shim_end}},
        {"nh-ssl-shim", {nh_ssl_shim_start, nh_ssl_shim_end}},
    };
    // Every memfd stays open until both are loaded: a closed descriptor's number is reused, and
    // the loader would take the second "/proc/self/fd/N" for the first, already loaded, object.
    std::vector<int> fds;
    for (const auto& [name, blob] : shims) {
      const int fd = ::memfd_create(name, MFD_CLOEXEC);
      if (fd < 0) {
        result = errno_error("tls: memfd_create", errno);
        break;
      }
      fds.push_back(fd);
      const auto size = static_cast<std::size_t>(blob.second - blob.first);
      const bool written = ::write(fd, blob.first, size) == static_cast<ssize_t>(size);
      const std::string path = "/proc/self/fd/" + std::to_string(fd);
      void* handle = written ? ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) : nullptr;
      const char* why = written ? ::dlerror() : "short write";
      if (!handle) {
        result = fail(fmt::format("tls: cannot load the OpenSSL shim {}: {} (is libssl3 installed?)",
                                  name, why ? why : "?"));
        break;
      }
    }
    for (const int fd : fds) ::close(fd);
  });
  return result;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// civetweb's begin_request callback has no per-server argument that the
// Exposer lets us set, so the one running server is reachable from here.
std::atomic<HttpServer*> g_server{nullptr};

int begin_request(struct mg_connection* conn) {
  HttpServer* server = g_server.load();
  return server ? server->handle(conn) : 0;
}

int init_ssl(void* ssl_ctx, void*) {
  HttpServer* server = g_server.load();
  return server ? server->init_tls(ssl_ctx) : -1;
}

// extra_headers: whole header lines, each ending in \r\n.
void reply(struct mg_connection* conn, int code, const char* content_type, const std::string& body,
           bool head, const std::string& extra_headers = "") {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s\r\n",
            code, mg_get_response_code_text(conn, code), content_type, body.size(),
            extra_headers.c_str());
  if (!head) mg_write(conn, body.data(), body.size());
}

}  // namespace

Result<std::string> civetweb_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return fail(fmt::format("listen address \"{}\": want HOST:PORT or :PORT", listen));
  if (colon == 0) return listen.substr(1);  // ":9710" -> every IPv4 address
  return listen;
}

HttpServer::HttpServer(const SnapshotStore& store, std::chrono::nanoseconds stale_after,
                       WebConfig web)
    : auth_(std::move(web)), store_(store), stale_after_(stale_after) {}

HttpServer::~HttpServer() {
  exposer_.reset();  // stops civetweb's threads before the handler goes away
  HttpServer* self = this;
  g_server.compare_exchange_strong(self, nullptr);
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen,
                                                      const SnapshotStore& store, BuildInfo build,
                                                      std::chrono::nanoseconds stale_after,
                                                      WebConfig web) {
  auto ports = civetweb_listen(listen);
  if (!ports) return std::unexpected(ports.error());
  const bool tls = web.tls.has_value();
  if (tls) {
    if (auto r = load_openssl_shims(); !r) return std::unexpected(r.error());
    *ports += "s";
  }
  std::unique_ptr<HttpServer> server(new HttpServer(store, stale_after, std::move(web)));
  HttpServer* expected = nullptr;
  if (!g_server.compare_exchange_strong(expected, server.get()))
    return fail("http: a server is already running in this process");
  static CivetCallbacks callbacks = [] {
    CivetCallbacks cb{};
    cb.begin_request = begin_request;
    cb.init_ssl = init_ssl;
    cb.log_message = [](const struct mg_connection*, const char*) { return 1; };  // quiet
    return cb;
  }();
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", *ports, "num_threads", kWorkers,
                                 "connection_queue", kQueue, "listen_backlog", kBacklog,
                                 "request_timeout_ms", kRequestTimeoutMs,
                                 "keep_alive_timeout_ms", kKeepAliveMs, "max_request_size",
                                 kMaxRequestBytes, "enable_keep_alive", "yes", "tcp_nodelay",
                                 "1"},
        &callbacks);
  } catch (const std::exception& e) {
    if (tls) {
      return fail(fmt::format("http: cannot serve TLS on {}: {} (see the errors above)", listen,
                              e.what()));
    }
    return fail(fmt::format("http: cannot listen on {}: {} (address in use or not local?)", listen,
                            e.what()));
  }
  server->collector_ = std::make_shared<MetricsCollector>(store, std::move(build));
  server->exposer_->RegisterCollectable(server->collector_);
  // The agent's own footprint (process_*), read from /proc/self at scrape time.
  server->add_metrics(std::make_shared<ProcessCollector>());
  return server;
}

void HttpServer::add_metrics(const std::shared_ptr<prometheus::Collectable>& c) {
  extra_.push_back(c);
  exposer_->RegisterCollectable(c);
}

int HttpServer::port() const {
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

int HttpServer::init_tls(void* ssl_ctx) {
  const auto& tls = auth_.config().tls;
  if (!tls) return -1;
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  auto bad = [&](const std::string& what) {
    spdlog::error("tls: {}: {} file={}", what, openssl_error(), auth_.config().file);
    return -1;
  };
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file.c_str()) != 1) {
    return bad("cannot use cert_file " + tls->cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls->key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return bad("cannot use key_file " + tls->key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) return bad("key_file does not match cert_file");
  if (SSL_CTX_set_min_proto_version(ctx, tls->min_version) != 1) return bad("min_version");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (tls->client_auth == ClientAuth::kNone) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    if (SSL_CTX_load_verify_locations(ctx, tls->client_ca_file.c_str(), nullptr) != 1) {
      return bad("cannot use client_ca_file " + tls->client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls->client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (tls->client_auth == ClientAuth::kRequireAndVerify) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
    SSL_CTX_set_verify_depth(ctx, 9);
  }
  return 1;  // set up: civetweb loads no certificate of its own
}

namespace {

// 401 with the challenge, or 503 while another password is being checked.
int deny(struct mg_connection* conn, Authenticator::Verdict v, const Authenticator& auth,
         bool head) {
  if (v == Authenticator::Verdict::kBusy) {
    const std::string body = "busy: another password is being checked, retry\n";
    mg_printf(conn,
              "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; "
              "charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
              body.size());
    if (!head) mg_write(conn, body.data(), body.size());
    return 503;
  }
  const std::string body = "unauthorized\n";
  mg_printf(conn,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: %s\r\nContent-Type: text/plain; "
            "charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
            auth.challenge().c_str(), body.size());
  if (!head) mg_write(conn, body.data(), body.size());
  return 401;
}

}  // namespace

int HttpServer::handle(struct mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  if (!ri || !ri->local_uri || !ri->request_method) return 0;
  const std::string_view path = ri->local_uri;
  const std::string_view method = ri->request_method;
  const bool head = method == "HEAD";
  const bool ours = path == "/" || path == "/status" || path == "/healthz";
  if (!ours && path != "/metrics") {
    reply(conn, 404, "text/plain; charset=utf-8", "not found\n", head);
    return 404;
  }
  if (method != "GET" && !head) {
    const std::string body = "method not allowed: only GET and HEAD\n";
    mg_printf(conn,
              "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain; "
              "charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
              body.size());
    mg_write(conn, body.data(), body.size());
    return 405;
  }
  // Every path but /healthz (kept cheap and open for liveness probes) needs credentials when
  // the web config names users or tokens.
  if (path != "/healthz" && auth_.config().auth_required()) {
    const char* authorization = mg_get_header(conn, "Authorization");
    const auto verdict = auth_.check(authorization ? authorization : "");
    if (verdict != Authenticator::Verdict::kAllowed) return deny(conn, verdict, auth_, head);
  }
  if (!ours) return 0;  // /metrics: the Exposer

  if (path == "/") {  // the status page; it lists /metrics, /status and /healthz
    reply(conn, 200, "text/html; charset=utf-8", std::string(status_page_html()), head,
          "Content-Security-Policy: " + std::string(status_page_csp()) + "\r\n");
    return 200;
  }
  const auto snap = store_.get();
  if (path == "/healthz") {
    if (!snap) {
      reply(conn, 503, "text/plain; charset=utf-8", "starting: no sample yet\n", head);
      return 503;
    }
    const auto age = WallClock::now() - snap->sample.taken_at;
    if (age > stale_after_) {
      reply(conn, 503, "text/plain; charset=utf-8",
            fmt::format("stalled: newest sample is {}s old\n",
                        std::chrono::duration_cast<std::chrono::seconds>(age).count()),
            head);
      return 503;
    }
    reply(conn, 200, "text/plain; charset=utf-8", "ok\n", head);
    return 200;
  }
  if (!snap) {
    reply(conn, 503, "application/json", "{\"error\":\"no sample yet\"}\n", head);
    return 503;
  }
  reply(conn, 200, "application/json", status_json(*snap).dump(2) + "\n", head);
  return 200;
}

}  // namespace nodehealth::sinks
