// The endpoint's front door. civetweb gives each connection one of its 32 worker threads from
// the moment it is accepted until the request head has arrived (up to its 2 s request timeout),
// so 32 clients that connect and send slowly, or not at all, used to hold every worker and a
// scrape waited behind them for as long as they kept coming. The gate is one epoll thread that
// owns the public socket: it accepts, does the TLS handshake, reads the request head under the
// limits below, answers bad requests itself, and passes only complete GET/HEAD requests of the
// known paths to civetweb on a loopback port, rebuilt from the parsed head (method, path, the
// Authorization and Accept* headers, and a per-process secret that civetweb checks), then relays
// the response and closes the connection. A slow client costs the gate a few KiB and no thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
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
};

// The paths the endpoint serves; anything else is 404 at the gate.
bool known_path(std::string_view path);

// A request head (through the blank line) checked as the gate checks it. status is 0 for a
// request to pass on, else the status to answer with (400, 404, 405, 431, 505) and why.
struct RequestHead {
  int status = 0;
  std::string why;
  std::string method, target, path;  // target: path and query as sent; path: before '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  const std::string* header(std::string_view lower_name) const;
};
RequestHead parse_request_head(std::string_view head, std::size_t max_headers);

// The gate's rebuilt request to civetweb for an accepted head.
std::string upstream_request(const RequestHead& r, const std::string& secret);

// The header civetweb requires (http.cpp), with the per-process secret as its value.
inline constexpr const char* kGateHeader = "X-Nodehealth-Gate";

class Gate {
 public:
  // listen: "HOST:PORT", ":PORT" (every IPv4 address) or "[v6]:PORT". tls: null for plain HTTP.
  static Result<std::unique_ptr<Gate>> start(const std::string& listen, int upstream_port,
                                             std::string secret, std::shared_ptr<ssl_ctx_st> tls,
                                             GateLimits limits);
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
