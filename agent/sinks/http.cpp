#include "agent/sinks/http.h"

#include <CivetServer.h>
#include <civetweb.h>
#include <openssl/crypto.h>
#include <sys/random.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include <zlib.h>

#include <fmt/format.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "agent/json_text.h"
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

// civetweb's begin_request callback has no per-server argument, so the one running server is
// reachable from here.
std::atomic<HttpServer*> g_server{nullptr};

int begin_request(struct mg_connection* conn) {
  HttpServer* server = g_server.load();
  return server ? server->handle(conn) : 0;
}

// The head of a response (through its blank line).
std::string response_head(const Response& r) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n{}\r\n",
      r.status, status_reason(r.status), r.content_type, r.body.size(), r.extra_headers);
}

void reply(struct mg_connection* conn, const Response& r) {
  const std::string head = response_head(r);
  mg_write(conn, head.data(), head.size());
  mg_write(conn, r.body.data(), r.body.size());
}

void reply(struct mg_connection* conn, int code, const char* content_type, std::string body) {
  reply(conn, Response{code, content_type, std::move(body), ""});
}

}  // namespace

DeflatedPart deflate_part(std::string_view data, bool last) {
  DeflatedPart out;
  out.size = data.size();
  out.crc = crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
  z_stream zs{};
  // windowBits -15: raw deflate, no zlib or gzip wrapping (gzip_join adds the gzip one).
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  // deflateBound covers Z_FINISH; a sync flush adds an empty stored block (5 bytes) at most.
  out.blocks.resize(deflateBound(&zs, data.size()) + 16);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.blocks.data());
  zs.avail_out = static_cast<uInt>(out.blocks.size());
  const int rc = deflate(&zs, last ? Z_FINISH : Z_SYNC_FLUSH);
  const bool ok = last ? rc == Z_STREAM_END : rc == Z_OK && zs.avail_in == 0 && zs.avail_out > 0;
  out.blocks.resize(zs.total_out);
  deflateEnd(&zs);
  if (!ok) return {};
  return out;
}

std::string gzip_join(const DeflatedPart& head, const DeflatedPart& tail) {
  // ID1 ID2, CM deflate, no flags, no mtime, no extra flags, OS unknown (RFC 1952 2.3).
  std::string out("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  out.reserve(10 + head.blocks.size() + tail.blocks.size() + 8);
  out += head.blocks;
  out += tail.blocks;
  const unsigned long crc = crc32_combine(head.crc, tail.crc, static_cast<z_off_t>(tail.size));
  const uint64_t size = head.size + tail.size;
  for (int i = 0; i < 4; ++i) out += static_cast<char>((crc >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) out += static_cast<char>((size >> (8 * i)) & 0xff);  // mod 2^32
  return out;
}

HttpServer::HttpServer(const SnapshotStore& store, std::chrono::nanoseconds stale_after,
                       WebConfig web)
    : auth_(std::move(web)), store_(store), stale_after_(stale_after) {}

HttpServer::~HttpServer() {
  gate_.reset();   // no more requests from outside
  civet_.reset();  // stops civetweb's threads before the handler goes away
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
  // getrandom(2), not RAND_bytes: without TLS, OpenSSL is never initialized (its providers
  // and configuration would be about 2 MiB of the agent's resident memory).
  unsigned char random[16];
  if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random))
    return fail("http: no randomness for the gate secret");
  std::string secret;
  for (const unsigned char b : random) secret += fmt::format("{:02x}", b);

  std::unique_ptr<HttpServer> server(new HttpServer(store, stale_after, std::move(web)));
  server->secret_ = secret;
  server->build_ = std::move(build);
  // The agent's own footprint (process_*), read from /proc/self at scrape time.
  server->add_metrics(std::make_shared<ProcessCollector>());
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
    server->civet_ = std::make_unique<CivetServer>(
        std::vector<std::string>{"listening_ports", "127.0.0.1:0", "num_threads", kWorkers,
                                 "connection_queue", kQueue, "listen_backlog", kBacklog,
                                 "request_timeout_ms", kRequestTimeoutMs, "max_request_size",
                                 kMaxRequestBytes, "enable_keep_alive", "no", "tcp_nodelay", "1"},
        &callbacks);
  } catch (const std::exception& e) {
    return fail(fmt::format("http: cannot start the HTTP server on loopback: {}", e.what()));
  }
  const auto ports = server->civet_->getListeningPorts();
  if (ports.empty()) return fail("http: the HTTP server has no port");
  const HttpServer* self = server.get();
  auto gate = Gate::start(listen, ports.front(), std::move(secret), std::move(tls), limits,
                          [self](const RequestHead& r) { return self->answer_in_gate(r); });
  if (!gate) return std::unexpected(gate.error());
  server->gate_ = std::move(*gate);
  return server;
}

void HttpServer::add_metrics(const std::shared_ptr<prometheus::Collectable>& c) {
  std::lock_guard lock(collectables_mu_);
  collectables_.push_back(c);
  own_.reset();  // in the next scrape, not a second later
}

std::string HttpServer::metrics_text(bool gzip) const {
  // The node's families change only with the snapshot (once a tick): rendered once for it
  // (and deflated once, for the first scrape that asks for gzip), so scrapes between two
  // ticks cost a copy; the agent's own (process_*, the Kubernetes sink's) at most once a
  // second (own_metrics).
  const auto snap = store_.get();
  std::string text;
  std::shared_ptr<const DeflatedPart> packed;  // shared with the cache: no copy per scrape
  {
    std::lock_guard lock(rendered_mu_);
    if (!rendered_text_.empty() && snap == rendered_snap_) {
      if (gzip && rendered_gzip_)
        packed = rendered_gzip_;
      else
        text = rendered_text_;
    }
  }
  if (!packed && text.empty()) {
    text = prometheus::TextSerializer().Serialize(render_metrics(snap.get(), build_));
    std::lock_guard lock(rendered_mu_);
    rendered_snap_ = snap;
    rendered_text_ = text;
    rendered_gzip_.reset();
  }
  if (gzip && !packed) {
    packed = std::make_shared<const DeflatedPart>(deflate_part(text, false));
    std::lock_guard lock(rendered_mu_);
    if (snap == rendered_snap_) rendered_gzip_ = packed;
  }
  const auto own = own_metrics();
  if (!gzip) return text + own->text;
  if (packed->blocks.empty() || own->gzip_tail.blocks.empty()) return {};  // zlib failed: plain
  return gzip_join(*packed, own->gzip_tail);
}

std::shared_ptr<const HttpServer::OwnMetrics> HttpServer::own_metrics() const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(collectables_mu_);
  if (own_ && now - own_at_ < kOwnMetricsMaxAge) return own_;
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : collectables_) {
    auto more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  auto own = std::make_shared<OwnMetrics>();
  own->text = prometheus::TextSerializer().Serialize(families);
  own->gzip_tail = deflate_part(own->text, true);
  own_ = std::move(own);
  own_at_ = now;
  return own_;
}

Response HttpServer::respond(std::string_view path, bool gzip_ok) const {
  if (path == "/metrics") {
    Response r{200, "text/plain; version=0.0.4; charset=utf-8", "", ""};
    if (gzip_ok) {
      r.body = metrics_text(true);
      if (!r.body.empty()) {
        r.extra_headers = "Content-Encoding: gzip\r\n";
        return r;
      }
    }
    r.body = metrics_text(false);
    return r;
  }
  if (path == "/") {  // the status page; it lists /metrics, /status and /healthz
    return {200, "text/html; charset=utf-8", std::string(status_page_html()),
            "Content-Security-Policy: " + std::string(status_page_csp()) + "\r\n"};
  }
  const auto snap = store_.get();
  if (path == "/healthz") {
    if (!snap) return {503, "text/plain; charset=utf-8", "starting: no sample yet\n", ""};
    const auto age = WallClock::now() - snap->sample.taken_at;
    if (age > stale_after_) {
      return {503, "text/plain; charset=utf-8",
              fmt::format("stalled: newest sample is {}s old\n",
                          std::chrono::duration_cast<std::chrono::seconds>(age).count()),
              ""};
    }
    return {200, "text/plain; charset=utf-8", "ok\n", ""};
  }
  if (path == "/status") {
    if (!snap) return {503, "application/json", "{\"error\":\"no sample yet\"}\n", ""};
    // Invalid UTF-8 (a mount point's name, say) is replaced, never thrown in the gate's thread.
    return {200, "application/json", json_text(status_json(*snap)), ""};
  }
  return {404, "text/plain; charset=utf-8", "not found\n", ""};
}

std::optional<std::string> HttpServer::answer_in_gate(const RequestHead& r) const {
  if (r.path != "/healthz" && auth_.config().auth_required()) {
    const std::string* authorization = r.header("authorization");
    const auto verdict = auth_.check_cached(authorization ? *authorization : "");
    // A password to check with bcrypt, or a 401 with its challenge: civetweb's part.
    if (verdict != Authenticator::Verdict::kAllowed) return std::nullopt;
  }
  const std::string* encoding = r.header("accept-encoding");
  try {
    const Response resp = respond(r.path, encoding && accepts_gzip(*encoding));
    return response_head(resp) + resp.body;
  } catch (const std::exception& e) {  // never out of the gate's thread
    spdlog::error("http: {}: {}", r.path, e.what());
    return response_head({500, "text/plain; charset=utf-8", "internal error\n", ""}) +
           "internal error\n";
  }
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
    reply(conn, 403, "text/plain; charset=utf-8", "forbidden: use the agent's port\n");
    return 403;
  }
  const std::string_view path = ri->local_uri;
  const std::string_view method = ri->request_method;
  const bool head = method == "HEAD";
  if (!known_path(path)) {
    reply(conn, 404, "text/plain; charset=utf-8", "not found\n");
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
  const char* encoding = mg_get_header(conn, "Accept-Encoding");
  const Response r = respond(path, encoding && accepts_gzip(encoding));
  if (head) {
    const std::string h = response_head(r);
    mg_write(conn, h.data(), h.size());
  } else {
    reply(conn, r);
  }
  return r.status;
}

}  // namespace nodehealth::sinks
