#include "agent/sinks/http.h"

#include <CivetServer.h>
#include <civetweb.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <prometheus/exposer.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "agent/sinks/process_metrics.h"
#include "agent/sinks/status_page.h"

namespace nodehealth::sinks {
namespace {

// civetweb runs one thread per connection; the gate (http_gate.h) in front of it holds the
// clients, so these only bound what the gate passes on. Each is a civetweb 1.15 option; README
// "HTTP endpoint" lists them with the gate's own limits.
constexpr const char* kWorkers = "32";   // num_threads: concurrent requests served
constexpr const char* kQueue = "64";     // connection_queue: accepted, waiting for a worker
constexpr const char* kBacklog = "128";  // listen_backlog: not yet accepted
constexpr const char* kRequestTimeoutMs = "2000";  // whole request head, and each write
constexpr const char* kMaxRequestBytes = "8192";   // request line + headers

// civetweb's begin_request callback has no per-server argument that the
// Exposer lets us set, so the one running server is reachable from here.
std::atomic<HttpServer*> g_server{nullptr};

int begin_request(struct mg_connection* conn) {
  HttpServer* server = g_server.load();
  return server ? server->handle(conn) : 0;
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

HttpServer::HttpServer(const SnapshotStore& store, std::chrono::nanoseconds stale_after,
                       WebConfig web)
    : auth_(std::move(web)), store_(store), stale_after_(stale_after) {}

HttpServer::~HttpServer() {
  gate_.reset();     // no more requests from outside
  exposer_.reset();  // stops civetweb's threads before the handler goes away
  HttpServer* self = this;
  g_server.compare_exchange_strong(self, nullptr);
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen,
                                                      const SnapshotStore& store, BuildInfo build,
                                                      std::chrono::nanoseconds stale_after,
                                                      WebConfig web, GateLimits limits) {
  std::shared_ptr<ssl_ctx_st> tls;
  if (web.tls) {
    auto ctx = make_tls_context(*web.tls, web.file);
    if (!ctx) return std::unexpected(ctx.error());
    tls = std::move(*ctx);
  }
  unsigned char random[16];
  if (RAND_bytes(random, sizeof random) != 1)
    return fail("http: no randomness for the gate secret");
  std::string secret;
  for (const unsigned char b : random) secret += fmt::format("{:02x}", b);

  std::unique_ptr<HttpServer> server(new HttpServer(store, stale_after, std::move(web)));
  server->secret_ = secret;
  HttpServer* expected = nullptr;
  if (!g_server.compare_exchange_strong(expected, server.get()))
    return fail("http: a server is already running in this process");
  static CivetCallbacks callbacks = [] {
    CivetCallbacks cb{};
    cb.begin_request = begin_request;
    cb.log_message = [](const struct mg_connection*, const char*) { return 1; };  // quiet
    return cb;
  }();
  try {
    // Loopback only, an ephemeral port: the gate is its one client.
    server->exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", "127.0.0.1:0", "num_threads", kWorkers,
                                 "connection_queue", kQueue, "listen_backlog", kBacklog,
                                 "request_timeout_ms", kRequestTimeoutMs, "max_request_size",
                                 kMaxRequestBytes, "enable_keep_alive", "no", "tcp_nodelay", "1"},
        &callbacks);
  } catch (const std::exception& e) {
    return fail(fmt::format("http: cannot start the HTTP server on loopback: {}", e.what()));
  }
  const auto ports = server->exposer_->GetListeningPorts();
  if (ports.empty()) return fail("http: the HTTP server has no port");
  auto gate = Gate::start(listen, ports.front(), std::move(secret), std::move(tls), limits);
  if (!gate) return std::unexpected(gate.error());
  server->gate_ = std::move(*gate);
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

int HttpServer::port() const { return gate_->port(); }

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
  // Only requests the gate passed on: anything else on the loopback port (another local process)
  // would skip TLS and the gate's limits.
  const char* via = mg_get_header(conn, kGateHeader);
  if (!via || std::strlen(via) != secret_.size() ||
      CRYPTO_memcmp(via, secret_.data(), secret_.size()) != 0) {
    reply(conn, 403, "text/plain; charset=utf-8", "forbidden: use the agent's port\n", false);
    return 403;
  }
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
