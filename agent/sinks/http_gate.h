// The endpoint's front door. civetweb gives each connection one of its 32 worker threads from
// the moment it is accepted until the request head has arrived (up to its 2 s request timeout),
// so 32 clients that connect and send slowly, or not at all, used to hold every worker and a
// scrape waited behind them for as long as they kept coming. The gate is one epoll thread that
// owns the public socket: it accepts, does the TLS handshake, reads the request head under the
// limits below, answers bad requests itself, and passes only complete GET/HEAD requests of the
// known paths to civetweb on a loopback port, rebuilt from the parsed head (method, path, the
// Authorization and Accept* headers, and a per-process secret that civetweb checks), then relays
// the response. A slow client costs the gate a few KiB and no thread. Client connections persist
// (HTTP/1.1 keep-alive) when the client asks for it and the response's length is in its head;
// each request still gets its own loopback connection to civetweb. Requests the gate can answer
// without blocking (LocalResponder: scrapes, the status) it answers itself, with no loopback hop.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nodehealth/result.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace nodehealth::sinks {

struct GateLimits {
  std::size_t max_connections =
      1024;  // client connections held at once (lowered to fit RLIMIT_NOFILE)
  std::size_t max_head_bytes = 8192;  // request line and headers
  std::size_t max_headers = 64;
  std::chrono::milliseconds head_timeout{2000};   // accept to complete head, TLS handshake included
  std::size_t max_upstream = 32;                  // requests in civetweb at once (its workers)
  std::chrono::milliseconds queue_timeout{5000};  // waiting for one of those: then 503
  std::chrono::milliseconds response_timeout{10000};  // relaying the response to a slow reader
  // A kept-alive connection waiting for its next request (until the first byte of it; the rest
  // of that head then has head_timeout): longer than Prometheus's default scrape_interval (1m).
  std::chrono::milliseconds idle_timeout{75000};
};

// The reason phrase of a status the endpoint answers with ("Error" for others).
const char* status_reason(int status);

// The paths the endpoint serves; anything else is 404 at the gate.
bool known_path(std::string_view path);

// A request head (through the blank line) checked as the gate checks it. status is 0 for a
// request to pass on, else the status to answer with (400, 404, 405, 431, 505) and why.
struct RequestHead {
  int status = 0;
  std::string why;
  std::string method, target, path;  // target: path and query as sent; path: before '?'
  std::string version;               // "HTTP/1.0" or "HTTP/1.1" once the request line parsed
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  const std::string* header(std::string_view lower_name) const;
};
RequestHead parse_request_head(std::string_view head, std::size_t max_headers);

// Whether the client asks to keep the connection: HTTP/1.1 without "Connection: close", or
// HTTP/1.0 with "Connection: keep-alive" (tokens of every Connection field, any case).
bool keep_alive_requested(const RequestHead& r);

// Whether an Accept-Encoding value accepts gzip: a "gzip" (or "x-gzip") coding whose q is not 0.
bool accepts_gzip(std::string_view accept_encoding);

// The body length a response head announces, when the gate can find the response's end by it:
// exactly one Content-Length of digits, no Transfer-Encoding, a status of 200 or more other than
// 204 and 304. nullopt otherwise (the connection then closes after the response).
std::optional<std::size_t> response_body_length(std::string_view head);

// The response head for the client, from civetweb's (through its blank line): its Connection
// and Keep-Alive fields removed, then "Connection: close", or for a kept connection nothing
// (HTTP/1.1 persists by default) or "Connection: keep-alive" to an HTTP/1.0 client.
std::string client_response_head(std::string_view head, bool keep_alive, bool http10);

// The gate's rebuilt request to civetweb for an accepted head.
std::string upstream_request(const RequestHead& r, const std::string& secret);

// The header civetweb requires (http.cpp), with the per-process secret as its value.
inline constexpr const char* kGateHeader = "X-Nodehealth-Gate";

// Answers a complete, accepted request in the gate's own thread: a whole response (head through
// the blank line with a Content-Length, then the body; for HEAD too, whose body the gate drops),
// or nullopt to pass the request to civetweb. For what is cheap and cannot block (a scrape, the
// status); what could (a bcrypt check of a password) goes on to civetweb's workers.
using LocalResponder = std::function<std::optional<std::string>(const RequestHead&)>;

class Gate {
 public:
  // listen: "HOST:PORT", ":PORT" (every IPv4 address) or "[v6]:PORT". tls: null for plain HTTP.
  // local: asked first for every accepted request (none: every request goes to civetweb).
  static Result<std::unique_ptr<Gate>> start(const std::string& listen, int upstream_port,
                                             std::string secret, std::shared_ptr<ssl_ctx_st> tls,
                                             GateLimits limits, LocalResponder local = {});
  ~Gate();
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  int port() const { return port_; }
  const GateLimits& limits() const { return limits_; }

  struct Impl;

 private:
  Gate() = default;
  int port_ = 0;
  GateLimits limits_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nodehealth::sinks
