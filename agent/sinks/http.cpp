#include "agent/sinks/http.h"

#include <CivetServer.h>
#include <civetweb.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>
#include <prometheus/exposer.h>
#include <nlohmann/json.hpp>

#include "agent/sinks/status_page.h"

namespace nodehealth::sinks {
namespace {

// civetweb's begin_request callback has no per-server argument that the
// Exposer lets us set, so the one running server is reachable from here.
std::atomic<HttpServer*> g_server{nullptr};

int begin_request(struct mg_connection* conn) {
  HttpServer* server = g_server.load();
  return server ? server->handle(conn) : 0;
}

void reply(struct mg_connection* conn, int code, const char* content_type, const std::string& body,
           bool head) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n",
            code, mg_get_response_code_text(conn, code), content_type, body.size());
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

HttpServer::HttpServer(const SnapshotStore& store, std::chrono::nanoseconds stale_after)
    : store_(store), stale_after_(stale_after) {}

HttpServer::~HttpServer() {
  exposer_.reset();  // stops civetweb's threads before the handler goes away
  HttpServer* self = this;
  g_server.compare_exchange_strong(self, nullptr);
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen,
                                                      const SnapshotStore& store, BuildInfo build,
                                                      std::chrono::nanoseconds stale_after) {
  auto ports = civetweb_listen(listen);
  if (!ports) return std::unexpected(ports.error());
  std::unique_ptr<HttpServer> server(new HttpServer(store, stale_after));
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
    server->exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", *ports, "num_threads", "4",
                                 "request_timeout_ms", "10000", "enable_keep_alive", "yes",
                                 "tcp_nodelay", "1"},
        &callbacks);
  } catch (const std::exception& e) {
    return fail(fmt::format("http: cannot listen on {}: {} (address in use or not local?)", listen,
                            e.what()));
  }
  server->collector_ = std::make_shared<MetricsCollector>(store, std::move(build));
  server->exposer_->RegisterCollectable(server->collector_);
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
    mg_printf(conn,
              "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n\r\n");
    return 405;
  }
  if (!ours) return 0;  // /metrics: the Exposer

  if (path == "/") {  // the status page; it lists /metrics, /status and /healthz
    reply(conn, 200, "text/html; charset=utf-8", std::string(status_page_html()), head);
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
