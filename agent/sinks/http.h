// The agent's HTTP endpoint:
//   /metrics  Prometheus text format (gzip when the scraper accepts it)
//   /status   the status document as JSON
//   /healthz  "ok" while the sampling loop is alive, 503 when it stalled
//   /         the status page (HTML): conditions, signals, sources, links to the above
// Only GET and HEAD of these paths are served; TLS and basic or bearer-token auth come from the
// web config file (web_config.h); auth applies to every path but /healthz. Clients talk to the
// gate (http_gate.h: TLS, request limits), which answers every request itself when its
// credentials need no bcrypt check (no auth, a bearer token, a password verified before), and
// passes the rest to civetweb on loopback, whose workers do the bcrypt checks.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>

#include "agent/sinks/http_gate.h"
#include "agent/sinks/metrics.h"
#include "agent/sinks/snapshot.h"
#include "agent/sinks/web_config.h"
#include "nodehealth/result.h"

struct mg_connection;  // civetweb
class CivetServer;

namespace nodehealth::sinks {

// A piece of a gzip member, compressed on its own: raw deflate blocks (zlib's fastest
// level), and the CRC-32 and length of what they hold. A piece that is not the last ends
// with a sync flush (byte-aligned, no final block), so pieces compressed at different times
// can be joined: /metrics compresses the node's families once per sample and only the
// agent's own few families per scrape.
struct DeflatedPart {
  std::string blocks;
  unsigned long crc = 0;  // zlib's crc32 of the uncompressed bytes
  size_t size = 0;        // uncompressed bytes
};
DeflatedPart deflate_part(std::string_view data, bool last);
// One gzip member (RFC 1952: header, the parts' blocks in order, CRC-32 and size of the
// whole): what gunzip of it gives is the parts' data joined. `tail` must be `last`.
std::string gzip_join(const DeflatedPart& head, const DeflatedPart& tail);

// A response of the endpoint, before it is written (by the gate or by civetweb).
struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::string extra_headers;  // whole header lines, each ending in \r\n
};

// The agent's own families on /metrics are collected at most this often; the node's are
// rendered once per sample. /metrics is thus never more than about a second old.
inline constexpr std::chrono::seconds kOwnMetricsMaxAge{1};

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
  // More metric families on /metrics (the Kubernetes sink's request counters); safe while
  // serving.
  void add_metrics(const std::shared_ptr<prometheus::Collectable>& c);

  // Handles a request civetweb received from the gate; returns the HTTP status written.
  int handle(struct mg_connection* conn);

 private:
  HttpServer(const SnapshotStore& store, std::chrono::nanoseconds stale_after, WebConfig web);
  // The response to an authorized GET of a known path.
  Response respond(std::string_view path, bool gzip_ok) const;
  // The /metrics body in the text format: the snapshot's families, then every collectable;
  // gzip: the same as one gzip member, the snapshot's part compressed once per snapshot.
  std::string metrics_text(bool gzip) const;
  // The agent's own families (the collectables: process_*, the Kubernetes sink's counters) as
  // text and deflated as a gzip tail, collected again when kOwnMetricsMaxAge old: concurrent
  // scrapers (an HA pair of Prometheus servers, a dashboard) then share one collection, and
  // every scrape within a second is the same copy.
  struct OwnMetrics {
    std::string text;
    DeflatedPart gzip_tail;  // empty blocks when zlib failed
  };
  std::shared_ptr<const OwnMetrics> own_metrics() const;
  // The gate's own answer (LocalResponder), or nullopt when the credentials need bcrypt.
  std::optional<std::string> answer_in_gate(const RequestHead& r) const;
  Authenticator auth_;
  const SnapshotStore& store_;
  std::chrono::nanoseconds stale_after_;
  BuildInfo build_;
  mutable std::mutex rendered_mu_;  // the node's families, as text, for one snapshot
  mutable std::shared_ptr<const Snapshot> rendered_snap_;
  mutable std::string rendered_text_;
  mutable std::shared_ptr<const DeflatedPart> rendered_gzip_;  // rendered_text_ deflated
  mutable std::mutex collectables_mu_;                         // the agent's own families
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  mutable std::shared_ptr<const OwnMetrics> own_;  // under collectables_mu_
  mutable std::chrono::steady_clock::time_point own_at_{};
  std::unique_ptr<CivetServer> civet_;
  std::string secret_;  // the gate's header value
  std::unique_ptr<Gate> gate_;
};

}  // namespace nodehealth::sinks
