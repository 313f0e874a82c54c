// The agent's HTTP endpoint, on prometheus-cpp's pull Exposer (civetweb):
//   /metrics  Prometheus text format (the Exposer)
//   /status   the status document as JSON
//   /healthz  "ok" while the sampling loop is alive, 503 when it stalled
//   /         the status page (HTML): conditions, signals, sources, links to the above
// Only GET and HEAD of these paths are served; TLS and basic or bearer-token auth come from the
// web config file (web_config.h); auth applies to every path but /healthz. Clients talk to the
// gate (http_gate.h: TLS, request limits), which passes complete requests to civetweb on
// loopback.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/sinks/http_gate.h"
#include "agent/sinks/metrics.h"
#include "agent/sinks/snapshot.h"
#include "agent/sinks/web_config.h"
#include "nodehealth/result.h"

struct mg_connection;  // civetweb

namespace prometheus {
class Exposer;
}

namespace nodehealth::sinks {

class HttpServer {
 public:
  // listen: "HOST:PORT", ":PORT" (every address) or "[v6]:PORT". stale_after:
  // /healthz fails when the newest sample is older than this. web: TLS and auth (none when
  // default-constructed).
  static Result<std::unique_ptr<HttpServer>> start(const std::string& listen,
                                                   const SnapshotStore& store, BuildInfo build,
                                                   std::chrono::nanoseconds stale_after,
                                                   WebConfig web = {}, GateLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;  // the bound port (useful with port 0)
  // More metric families on /metrics (the Kubernetes sink's request counters).
  void add_metrics(const std::shared_ptr<prometheus::Collectable>& c);

  // Handles a request civetweb received from the gate; returns the HTTP status
  // written, or 0 to let the Exposer answer (/metrics).
  int handle(struct mg_connection* conn);

 private:
  HttpServer(const SnapshotStore& store, std::chrono::nanoseconds stale_after, WebConfig web);
  Authenticator auth_;
  const SnapshotStore& store_;
  std::chrono::nanoseconds stale_after_;
  std::shared_ptr<MetricsCollector> collector_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extra_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string secret_;  // the gate's header value
  std::unique_ptr<Gate> gate_;
};

}  // namespace nodehealth::sinks
