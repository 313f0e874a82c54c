#include "agent/sinks/http_gate.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace nodehealth::sinks {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kRelayBuffer = 64 * 1024;  // response bytes held per connection
constexpr std::size_t kMaxTarget = 2048;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

// RFC 9110 tchar.
bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A complete response the gate writes itself; the connection closes after it.
std::string answer(int status, const std::string& why, bool head) {
  const std::string body = fmt::format("{}: {}\n", lowered(status_reason(status)), why);
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n"
      "Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
      status, status_reason(status), body.size());
  if (status == 405) out += "Allow: GET, HEAD\r\n";
  if (status == 503) out += "Retry-After: 1\r\n";
  out += "\r\n";
  if (!head) out += body;
  return out;
}

// The end of the request head (just past the blank line), or npos. A bare LF ends lines too
// (RFC 9112 §2.2 lets a recipient accept it).
std::size_t head_end(std::string_view buf) {
  for (std::size_t i = buf.find('\n'); i != std::string_view::npos; i = buf.find('\n', i + 1)) {
    if (i + 1 < buf.size() && buf[i + 1] == '\n') return i + 2;
    if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

// Before closing after an answer: reads what the client already sent and is still unread (up to
// 64 KiB) and half-closes, so the close sends a FIN, not a reset that could destroy the answer in
// flight.
void drain_and_half_close(int fd) {
  char buf[4096];
  for (int i = 0; i < 16; ++i) {
    if (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) break;
  }
  ::shutdown(fd, SHUT_WR);
}

}  // namespace

const char* status_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

bool known_path(std::string_view path) {
  return path == "/" || path == "/metrics" || path == "/status" || path == "/healthz";
}

const std::string* RequestHead::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return &value;
  return nullptr;
}

RequestHead parse_request_head(std::string_view head, std::size_t max_headers) {
  RequestHead r;
  auto bad = [&](int status, std::string why) {
    r.status = status;
    r.why = std::move(why);
    return r;
  };
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  bool ended = false;
  while (pos < head.size()) {
    const std::size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) break;
    std::string_view line = head.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = eol + 1;
    if (line.empty()) {
      ended = true;
      break;
    }
    lines.push_back(line);
  }
  if (!ended) return bad(400, "the request head does not end with a blank line");
  if (lines.empty()) return bad(400, "no request line");
  // request-line = method SP request-target SP HTTP-version
  const std::string_view line = lines[0];
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    return bad(400, "want METHOD TARGET HTTP/1.1");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > 16 ||
      !std::all_of(method.begin(), method.end(), token_char))
    return bad(400, "bad method");
  if (version.size() != 8 || !version.starts_with("HTTP/") || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return bad(400, "bad HTTP version");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return bad(505, "only HTTP/1.0 and 1.1");
  if (target.empty() || target.size() > kMaxTarget) return bad(400, "bad request target");
  for (const char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return bad(400, "bad character in the request target");
  }
  r.method = method;
  r.target = target;
  r.version = version;
  r.path = target.substr(0, target.find('?'));
  if (lines.size() - 1 > max_headers)
    return bad(431, fmt::format("more than {} header fields", max_headers));
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view h = lines[i];
    if (h.front() == ' ' || h.front() == '\t') return bad(400, "obsolete line folding");
    const auto colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return bad(400, "a header line without a name");
    const std::string_view name = h.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), token_char)) return bad(400, "bad header name");
    const std::string_view value = trim(h.substr(colon + 1));
    for (const char c : value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return bad(400, "control character in a header value");
    }
    r.headers.emplace_back(lowered(name), std::string(value));
  }
  if (!known_path(r.path)) return bad(404, "not found");
  if (method != "GET" && method != "HEAD") return bad(405, "only GET and HEAD");
  // No body: a GET or HEAD that announces one (Content-Length other than 0, or any
  // Transfer-Encoding) is refused, so that no two parsers can disagree on where it ends.
  int lengths = 0;
  for (const auto& [name, value] : r.headers) {
    if (name == "transfer-encoding") return bad(400, "a request body is not accepted");
    if (name == "content-length" && (++lengths > 1 || value != "0"))
      return bad(400, "a request body is not accepted");
    if (name == lowered(kGateHeader)) return bad(400, "reserved header");
  }
  return r;
}

std::string upstream_request(const RequestHead& r, const std::string& secret) {
  // HEAD goes on as GET (prometheus-cpp's /metrics handler has no HEAD); the gate drops the body.
  std::string out =
      fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{}: {}\r\n", r.target,
                  kGateHeader, secret);
  for (const char* name : {"authorization", "accept", "accept-encoding"}) {
    if (const std::string* v = r.header(name)) {
      const std::string canonical = name == std::string_view("authorization") ? "Authorization"
                                    : name == std::string_view("accept")      ? "Accept"
                                                                              : "Accept-Encoding";
      out += canonical + ": " + *v + "\r\n";
    }
  }
  out += "\r\n";
  return out;
}

bool keep_alive_requested(const RequestHead& r) {
  bool close = false, keep = false;
  for (const auto& [name, value] : r.headers) {
    if (name != "connection") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string token = lowered(trim(rest.substr(0, comma)));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      close = close || token == "close";
      keep = keep || token == "keep-alive";
    }
  }
  if (close) return false;
  return r.version == "HTTP/1.1" || (r.version == "HTTP/1.0" && keep);
}

bool accepts_gzip(std::string_view accept_encoding) {
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto semi = item.find(';');
    const std::string coding = lowered(trim(item.substr(0, semi)));
    if (coding != "gzip" && coding != "x-gzip") continue;
    if (semi == std::string_view::npos) return true;
    // "q=0", "q=0.", "q=0.000": refused; any other weight accepts.
    const std::string param = lowered(trim(item.substr(semi + 1)));
    if (!param.starts_with("q=")) return true;
    const std::string_view q = std::string_view(param).substr(2);
    return q.empty() || q.front() != '0' || q.find_first_not_of("0.", 1) != std::string_view::npos;
  }
  return false;
}

std::optional<std::size_t> response_body_length(std::string_view head) {
  // Status line: HTTP/1.x SP 3DIGIT ...
  if (head.size() < 12 || !head.starts_with("HTTP/1.") || head[8] != ' ') return std::nullopt;
  int status = 0;
  if (const auto [p, ec] = std::from_chars(head.data() + 9, head.data() + 12, status);
      ec != std::errc() || p != head.data() + 12) {
    return std::nullopt;
  }
  if (status < 200 || status == 204 || status == 304) return std::nullopt;
  std::optional<std::size_t> length;
  std::size_t pos = head.find('\n');
  while (pos != std::string_view::npos && pos + 1 < head.size()) {
    const std::size_t start = pos + 1;
    pos = head.find('\n', start);
    std::string_view line = head.substr(start, pos == std::string_view::npos ? pos : pos - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the blank line
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string name = lowered(line.substr(0, colon));
    if (name == "transfer-encoding") return std::nullopt;
    if (name != "content-length") continue;
    const std::string_view value = trim(line.substr(colon + 1));
    std::size_t n = 0;
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (length || value.empty() || ec != std::errc() || p != value.data() + value.size())
      return std::nullopt;  // two lengths, a sign, a list, garbage: not ours to guess
    length = n;
  }
  return length;
}

std::string client_response_head(std::string_view head, bool keep_alive, bool http10) {
  std::string out;
  std::size_t pos = 0;
  bool first = true;
  while (pos < head.size()) {
    std::size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) eol = head.size() - 1;
    std::string_view line = head.substr(pos, eol + 1 - pos);
    pos = eol + 1;
    std::string_view bare = line;
    while (!bare.empty() && (bare.back() == '\n' || bare.back() == '\r')) bare.remove_suffix(1);
    if (bare.empty()) break;  // the blank line
    const std::string name = lowered(bare.substr(0, bare.find(':')));
    if (!first && (name == "connection" || name == "keep-alive")) continue;
    first = false;
    out.append(bare);
    out += "\r\n";
  }
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else if (http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return out;
}

// ---------------------------------------------------------------------------------------------

struct Gate::Impl {
  enum class Phase { kHandshake, kHead, kQueued, kConnect, kSend, kRelay, kFlush };
  struct Conn {
    std::uint64_t id = 0;
    int fd = -1;
    int up = -1;
    SSL* ssl = nullptr;
    Phase phase = Phase::kHead;
    Clock::time_point deadline;
    bool head_method = false;  // HEAD: the gate's own answers carry no body
    std::string in;            // the request head as read
    std::string req;           // the rebuilt request to civetweb
    std::size_t req_sent = 0;
    std::string out;  // bytes for the client
    std::size_t out_sent = 0;
    bool response_head_done = false;
    std::string response_head;     // until the response head is complete
    bool up_eof = false;           // nothing more to read from civetweb
    bool keep_alive = false;       // the client asked to keep the connection
    bool http10 = false;           // the request was HTTP/1.0
    bool framed = false;           // the response head gave its length: body_left counts it down
    std::size_t body_left = 0;     // body bytes still to come from civetweb
    bool response_done = false;    // the response came whole from civetweb
    bool reuse = false;            // the connection persists after this response
    std::uint64_t served = 0;      // responses relayed whole on a kept connection
    Clock::time_point idle_since;  // when the last one went out
    bool want_write = false;       // TLS: the last call wanted to write
    uint32_t client_events = 0, up_events = 0;
  };

  GateLimits limits;
  int listen_fd = -1;
  int epoll_fd = -1;
  int stop_fd = -1;
  int upstream_port = 0;
  std::string secret;
  std::shared_ptr<ssl_ctx_st> tls;
  LocalResponder local;
  std::map<std::uint64_t, std::unique_ptr<Conn>> conns;  // by id: oldest first
  std::deque<std::uint64_t> queue;                       // complete requests waiting for civetweb
  std::vector<std::uint64_t> recheck;  // kept connections whose next request may be buffered
  std::size_t upstream_busy = 0;
  std::uint64_t next_id = 1;
  bool listening = true;
  Clock::time_point listen_paused_until;
  std::thread thread;

  static constexpr std::uint64_t kListen = 0, kStop = 1;  // epoll tags; conns: id*2 (+1 upstream)

  ~Impl() {
    for (auto& [id, c] : conns) release(*c);
    for (int fd : {listen_fd, epoll_fd, stop_fd})
      if (fd >= 0) ::close(fd);
  }

  void release(Conn& c) {
    if (c.ssl) SSL_free(c.ssl);
    if (c.fd >= 0) ::close(c.fd);
    if (c.up >= 0) ::close(c.up);
    c.ssl = nullptr;
    c.fd = c.up = -1;
  }

  void close_conn(std::uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    Conn& c = *it->second;
    if (c.up >= 0) --upstream_busy;
    if (c.phase == Phase::kQueued) std::erase(queue, id);
    release(c);
    conns.erase(it);
    start_queued();
  }

  // After an answer, or for an idle kept connection: close_notify, what the client sent and is
  // unread drained, a FIN.
  void close_gracefully(Conn& c) {
    if (c.ssl) SSL_shutdown(c.ssl);  // close_notify, best effort
    drain_and_half_close(c.fd);
    close_conn(c.id);
  }

  // A kept connection between requests, no byte of the next one read yet.
  static bool idle(const Conn& c) {
    return c.phase == Phase::kHead && c.served > 0 && c.in.empty();
  }

  void set_events(int fd, std::uint64_t tag, uint32_t& current, uint32_t wanted) {
    if (fd < 0 || current == wanted) return;
    epoll_event ev{};
    ev.events = wanted;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev);
    current = wanted;
  }

  // Registers what each of the connection's descriptors waits for in its phase.
  void update(Conn& c) {
    uint32_t client = 0, up = 0;
    switch (c.phase) {
      case Phase::kHandshake:
        client = c.want_write ? EPOLLOUT : EPOLLIN;
        break;
      case Phase::kHead:
        client = c.want_write ? EPOLLOUT : EPOLLIN;
        break;
      case Phase::kQueued:
        break;
      case Phase::kConnect:
      case Phase::kSend:
        up = EPOLLOUT;
        break;
      case Phase::kRelay:
        if (c.out_sent < c.out.size()) client = EPOLLOUT;
        if (!c.up_eof && c.out.size() - c.out_sent < kRelayBuffer) up = EPOLLIN;
        break;
      case Phase::kFlush:
        client = EPOLLOUT;
        break;
    }
    set_events(c.fd, c.id * 2, c.client_events, client);
    set_events(c.up, c.id * 2 + 1, c.up_events, up);
  }

  // Queues a complete response the gate writes itself, then closes.
  void reply(Conn& c, int status, const std::string& why) {
    if (c.phase == Phase::kQueued) std::erase(queue, c.id);
    c.out = answer(status, why, c.head_method);
    c.out_sent = 0;
    c.phase = Phase::kFlush;
    c.want_write = false;
    c.deadline = Clock::now() + limits.response_timeout;
    flush(c);
  }

  // Writes pending client bytes; true while the connection lives.
  bool write_client(Conn& c) {
    while (c.out_sent < c.out.size()) {
      const char* p = c.out.data() + c.out_sent;
      const std::size_t n = c.out.size() - c.out_sent;
      if (c.ssl) {
        ERR_clear_error();
        const int w = SSL_write(c.ssl, p, static_cast<int>(std::min<std::size_t>(n, 1 << 20)));
        if (w <= 0) {
          const int e = SSL_get_error(c.ssl, w);
          if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return true;
          return false;
        }
        c.out_sent += static_cast<std::size_t>(w);
      } else {
        const ssize_t w = ::send(c.fd, p, n, MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c.out_sent += static_cast<std::size_t>(w);
      }
    }
    if (c.out_sent == c.out.size()) {
      c.out.clear();
      c.out_sent = 0;
    }
    return true;
  }

  void flush(Conn& c) {
    if (!write_client(c)) return close_conn(c.id);
    if (c.out.empty()) return close_gracefully(c);
    update(c);
  }

  void accept_all() {
    const auto now = Clock::now();
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          if (!evict_for_new()) pause_listening(now);
          continue;
        }
        return;  // EAGAIN
      }
      if (conns.size() >= limits.max_connections && !evict_for_new()) {
        ::close(fd);  // every connection holds a complete request: the newest waits its turn
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Conn>();
      c->id = next_id++;
      c->fd = fd;
      c->deadline = now + limits.head_timeout;
      c->phase = tls ? Phase::kHandshake : Phase::kHead;
      if (tls) {
        c->ssl = SSL_new(tls.get());
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
          if (c->ssl) SSL_free(c->ssl);
          ::close(fd);
          ERR_clear_error();
          continue;
        }
        SSL_set_accept_state(c->ssl);
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = c->id * 2;
      c->client_events = EPOLLIN;
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        release(*c);
        continue;
      }
      conns.emplace(c->id, std::move(c));
    }
  }

  // Makes room for a new connection: closes the kept connection idle the longest (its client
  // loses nothing but a reconnect), else the oldest connection that has not sent a complete
  // request yet (the likeliest to be a slow or idle client); false when there is neither.
  bool evict_for_new() {
    Conn* longest = nullptr;
    for (auto& [id, c] : conns)
      if (idle(*c) && (!longest || c->idle_since < longest->idle_since)) longest = c.get();
    if (longest) {
      close_gracefully(*longest);
      return true;
    }
    for (auto& [id, c] : conns) {
      if (c->phase == Phase::kHandshake || c->phase == Phase::kHead) {
        close_conn(id);
        return true;
      }
    }
    return false;
  }

  void pause_listening(Clock::time_point now) {
    if (!listening) return;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
    listening = false;
    listen_paused_until = now + std::chrono::milliseconds(100);
  }

  void resume_listening() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListen;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) == 0) listening = true;
  }

  void handshake(Conn& c) {
    ERR_clear_error();
    const int r = SSL_do_handshake(c.ssl);
    if (r == 1) {
      c.phase = Phase::kHead;
      c.want_write = false;
      return read_head(c);  // the request may already be in OpenSSL's buffer
    }
    const int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      c.want_write = e == SSL_ERROR_WANT_WRITE;
      return update(c);
    }
    const unsigned long err = ERR_peek_error();
    ERR_clear_error();
    if (ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST) {
      // Plain HTTP on the TLS port: say so in plain text, as Go's servers do.
      const std::string msg =
          "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Connection: close\r\n\r\nclient sent an HTTP request to an HTTPS server\n";
      [[maybe_unused]] const ssize_t w = ::send(c.fd, msg.data(), msg.size(), MSG_NOSIGNAL);
      drain_and_half_close(c.fd);
    }
    close_conn(c.id);
  }

  void read_head(Conn& c) {
    if (!c.in.empty()) {  // pipelined: read with the previous request, which is answered now
      c.deadline = std::min(c.deadline, Clock::now() + limits.head_timeout);
      const std::size_t end = head_end(c.in);
      if (end != std::string::npos && end <= limits.max_head_bytes) return got_head(c, end);
      if (c.in.size() > limits.max_head_bytes) {
        return reply(
            c, 431, fmt::format("the request head is larger than {} bytes", limits.max_head_bytes));
      }
    }
    char buf[4096];
    for (;;) {
      ssize_t n;
      if (c.ssl) {
        ERR_clear_error();
        const int r = SSL_read(c.ssl, buf, sizeof buf);
        if (r <= 0) {
          const int e = SSL_get_error(c.ssl, r);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            c.want_write = e == SSL_ERROR_WANT_WRITE;
            return update(c);
          }
          ERR_clear_error();
          return close_conn(c.id);
        }
        n = r;
      } else {
        n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return update(c);
          return close_conn(c.id);
        }
        if (n == 0) return close_conn(c.id);
      }
      // The head's first byte: on a kept connection the idle wait ends and the head has the
      // same time as a first request's (no trickling a head for the idle timeout).
      if (c.in.empty()) c.deadline = std::min(c.deadline, Clock::now() + limits.head_timeout);
      c.in.append(buf, static_cast<std::size_t>(n));
      const std::size_t end = head_end(c.in);
      if (end != std::string::npos && end <= limits.max_head_bytes) return got_head(c, end);
      if (c.in.size() > limits.max_head_bytes) {
        return reply(
            c, 431, fmt::format("the request head is larger than {} bytes", limits.max_head_bytes));
      }
    }
  }

  void got_head(Conn& c, std::size_t end) {
    RequestHead r = parse_request_head(std::string_view(c.in).substr(0, end), limits.max_headers);
    c.head_method = r.method == "HEAD";
    // Bytes after the head are the next request (pipelined): kept, and read once this one is
    // answered. Nothing more is read from the client until then.
    c.in.erase(0, end);
    if (r.status != 0) return reply(c, r.status, r.why);
    c.keep_alive = keep_alive_requested(r);
    c.http10 = r.version == "HTTP/1.0";
    if (local) {
      if (auto response = local(r)) return serve_local(c, std::move(*response));
    }
    c.req = upstream_request(r, secret);
    c.phase = Phase::kQueued;
    c.deadline = Clock::now() + limits.queue_timeout;
    queue.push_back(c.id);
    update(c);
    start_queued();
  }

  // A response the gate made itself: out to the client as a relayed one would go, civetweb's
  // part already done.
  void serve_local(Conn& c, std::string response) {
    std::size_t end = head_end(response);
    if (end == std::string::npos) end = response.size();
    const std::string_view head = std::string_view(response).substr(0, end);
    c.reuse = c.keep_alive && response_body_length(head).has_value();
    c.out = client_response_head(head, c.reuse, c.http10);
    if (!c.head_method) c.out.append(response, end);
    c.out_sent = 0;
    c.response_head_done = c.response_done = c.up_eof = true;
    c.phase = Phase::kRelay;
    c.deadline = Clock::now() + limits.response_timeout;
    relay(c);
  }

  void start_queued() {
    while (upstream_busy < limits.max_upstream && !queue.empty()) {
      const std::uint64_t id = queue.front();
      queue.pop_front();
      auto it = conns.find(id);
      if (it == conns.end()) continue;
      connect_upstream(*it->second);
    }
  }

  void connect_upstream(Conn& c) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return reply(c, 503, "cannot reach the agent's HTTP server");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(upstream_port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
      ::close(fd);
      return reply(c, 503, "cannot reach the agent's HTTP server");
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = c.id * 2 + 1;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      return reply(c, 503, "cannot reach the agent's HTTP server");
    }
    c.up = fd;
    c.up_events = EPOLLOUT;
    c.phase = Phase::kConnect;
    c.deadline = Clock::now() + limits.response_timeout;
    ++upstream_busy;
    update(c);
  }

  void upstream_ready(Conn& c, uint32_t events) {
    if (c.up < 0) return;
    if (c.phase == Phase::kConnect) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.up, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return upstream_failed(c);
      c.phase = Phase::kSend;
    }
    if (c.phase == Phase::kSend) {
      while (c.req_sent < c.req.size()) {
        const ssize_t w =
            ::send(c.up, c.req.data() + c.req_sent, c.req.size() - c.req_sent, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno == EAGAIN || errno == EINTR) return update(c);
          return upstream_failed(c);
        }
        c.req_sent += static_cast<std::size_t>(w);
      }
      c.phase = Phase::kRelay;
      return update(c);
    }
    if (c.phase == Phase::kRelay && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
      char buf[16384];
      while (!c.response_done && c.out.size() - c.out_sent < kRelayBuffer) {
        const ssize_t n = ::recv(c.up, buf, sizeof buf, 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          c.up_eof = true;
          break;
        }
        if (n == 0) {
          c.up_eof = true;
          break;
        }
        relay_bytes(c, std::string_view(buf, static_cast<std::size_t>(n)));
      }
      if (c.response_done) c.up_eof = true;  // civetweb closes after it: no need to wait
      if (c.up_eof) {
        close_upstream(c);
        start_queued();
      }
      relay(c);
    }
  }

  void relay_bytes(Conn& c, std::string_view bytes) {
    if (c.response_head_done) return relay_body(c, bytes);
    c.response_head.append(bytes);
    const std::size_t end = head_end(c.response_head);
    if (end == std::string::npos) {
      if (c.response_head.size() > 16384) {  // not expected from civetweb: pass it on as it is
        c.out += c.response_head;
        c.response_head.clear();
        c.response_head_done = true;
      }
      return;
    }
    const std::string_view head = std::string_view(c.response_head).substr(0, end);
    const std::optional<std::size_t> length = response_body_length(head);
    c.framed = length.has_value();
    c.body_left = length.value_or(0);
    c.reuse = c.framed && c.keep_alive;
    c.out += client_response_head(head, c.reuse, c.http10);
    c.response_head_done = true;
    const std::string rest = c.response_head.substr(end);
    c.response_head.clear();
    relay_body(c, rest);
  }

  // The body as it comes; when its length is known, only that many bytes (the response ends
  // there, whatever civetweb might send after it). HEAD: counted, not sent.
  void relay_body(Conn& c, std::string_view bytes) {
    if (c.framed) {
      bytes = bytes.substr(0, std::min(bytes.size(), c.body_left));
      c.body_left -= bytes.size();
      c.response_done = c.body_left == 0;
    }
    if (!c.head_method) c.out.append(bytes);
  }

  void relay(Conn& c) {
    if (!write_client(c)) return close_conn(c.id);
    if (c.up_eof && c.out.empty()) {
      if (!c.response_head_done && !c.response_head.empty()) {
        c.out = std::move(c.response_head);  // a head without its blank line: as it came
        c.response_head.clear();
        c.response_head_done = true;
        return relay(c);
      }
      if (c.reuse && c.response_done) return next_request(c);
      return close_gracefully(c);
    }
    update(c);
  }

  // The response went out whole on a connection that persists: back to reading a head, with the
  // idle timeout until the first byte of the next request.
  void next_request(Conn& c) {
    const auto now = Clock::now();
    ++c.served;
    c.phase = Phase::kHead;
    c.want_write = false;
    c.head_method = c.keep_alive = c.http10 = c.framed = c.response_done = c.reuse = false;
    c.up_eof = c.response_head_done = false;
    c.body_left = c.req_sent = c.out_sent = 0;
    std::string().swap(c.req);  // an idle connection keeps no buffers
    std::string().swap(c.out);
    std::string().swap(c.response_head);
    c.idle_since = now;
    c.deadline = now + (c.in.empty() ? limits.idle_timeout : limits.head_timeout);
    update(c);
    // A pipelined head already read, or bytes OpenSSL holds, raise no event: looked at after
    // this round of events (by then no event of the closed civetweb connection is pending).
    if (!c.in.empty() || c.ssl) recheck.push_back(c.id);
  }

  // Gives civetweb's slot back as soon as the response is read (or the connection failed), so
  // that a client reading slowly does not hold one.
  void close_upstream(Conn& c) {
    if (c.up < 0) return;
    ::close(c.up);
    c.up = -1;
    c.up_events = 0;
    --upstream_busy;
  }

  void upstream_failed(Conn& c) {
    close_upstream(c);
    if (c.response_head_done || !c.response_head.empty() || !c.out.empty()) {
      return close_conn(c.id);  // part of a response went out: nothing better to do
    }
    c.phase = Phase::kQueued;  // not counted as upstream any more
    reply(c, 503, "the agent's HTTP server did not answer");
    start_queued();
  }

  void client_ready(Conn& c, uint32_t events) {
    switch (c.phase) {
      case Phase::kQueued:
      case Phase::kConnect:
      case Phase::kSend:
        // Not waiting for the client: only a hang-up or an error is reported here.
        if (events & (EPOLLHUP | EPOLLERR)) return close_conn(c.id);
        return;
      case Phase::kHandshake:
        return handshake(c);
      case Phase::kHead:
        if (events & (EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLERR)) return read_head(c);
        return;
      case Phase::kRelay:
        return relay(c);
      case Phase::kFlush:
        return flush(c);
    }
  }

  void sweep(Clock::time_point now) {
    std::vector<std::uint64_t> expired;
    for (auto& [id, c] : conns)
      if (now >= c->deadline) expired.push_back(id);
    for (const auto id : expired) {
      auto it = conns.find(id);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      if (c.phase == Phase::kQueued) {
        reply(c, 503, "too many requests at once, retry");
      } else if (idle(c)) {
        close_gracefully(c);  // the idle timeout of a kept connection
      } else {
        close_conn(id);  // a slow head, a slow reader, or civetweb stuck: nothing to say
      }
    }
    if (!listening && now >= listen_paused_until) resume_listening();
  }

  void run() {
    epoll_event events[128];
    auto next_sweep = Clock::now();
    for (;;) {
      // Connections with a request already buffered (pipelined, or held by OpenSSL) are looked
      // at once per round, so one client's pipeline cannot keep the others waiting.
      const int n = ::epoll_wait(epoll_fd, events, 128, recheck.empty() ? 100 : 0);
      if (n < 0 && errno != EINTR) {
        spdlog::error("http gate: epoll_wait: {}", std::strerror(errno));
        return;
      }
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[i].data.u64;
        if (tag == kStop) return;
        if (tag == kListen) {
          accept_all();
          continue;
        }
        auto it = conns.find(tag / 2);
        if (it == conns.end()) continue;  // closed earlier in this batch
        if (tag % 2 == 1) {
          upstream_ready(*it->second, events[i].events);
        } else {
          client_ready(*it->second, events[i].events);
        }
      }
      if (!recheck.empty()) {
        std::vector<std::uint64_t> ids;
        ids.swap(recheck);
        for (const auto id : ids) {
          auto it = conns.find(id);
          if (it != conns.end() && it->second->phase == Phase::kHead) read_head(*it->second);
        }
      }
      const auto now = Clock::now();
      if (now >= next_sweep) {
        sweep(now);
        next_sweep = now + std::chrono::milliseconds(100);
      }
    }
  }
};

namespace {

// "HOST:PORT", ":PORT", "[v6]:PORT" -> a bound, listening, non-blocking socket.
Result<int> listen_on(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return fail(fmt::format("listen address \"{}\": want HOST:PORT or :PORT", listen));
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = host.empty() ? AF_INET : AF_UNSPEC;  // ":PORT": every IPv4 address
  addrinfo* res = nullptr;
  if (const int rc =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
      rc != 0) {
    return fail(fmt::format("http: cannot listen on {}: {}", listen, ::gai_strerror(rc)));
  }
  int err = 0;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return fail(fmt::format("http: cannot listen on {}: {} (address in use or not local?)", listen,
                          std::strerror(err)),
              err);
}

}  // namespace

Result<std::unique_ptr<Gate>> Gate::start(const std::string& listen, int upstream_port,
                                          std::string secret, std::shared_ptr<ssl_ctx_st> tls,
                                          GateLimits limits, LocalResponder local) {
  // Every held connection is a descriptor (two while it is relayed): fit the cap under
  // RLIMIT_NOFILE, raising the soft limit towards the hard one first.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    const rlim_t want = std::min<rlim_t>(rl.rlim_max, 65536);
    if (rl.rlim_cur < want) {
      rl.rlim_cur = want;
      ::setrlimit(RLIMIT_NOFILE, &rl);
      ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    const std::size_t room = rl.rlim_cur > 256 ? static_cast<std::size_t>(rl.rlim_cur - 256) : 64;
    const std::size_t fit = room > 2 * limits.max_upstream ? room - 2 * limits.max_upstream : 32;
    if (limits.max_connections > fit) {
      spdlog::info(
          "http gate: connections capped by the descriptor limit: max_connections={} "
          "nofile={}",
          fit, rl.rlim_cur);
      limits.max_connections = fit;
    }
  }
  auto fd = listen_on(listen);
  if (!fd) return std::unexpected(fd.error());
  std::unique_ptr<Gate> gate(new Gate());
  gate->limits_ = limits;
  gate->impl_ = std::make_unique<Impl>();
  Impl& im = *gate->impl_;
  im.limits = limits;
  im.listen_fd = *fd;
  im.upstream_port = upstream_port;
  im.secret = std::move(secret);
  im.tls = std::move(tls);
  im.local = std::move(local);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(im.listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
  gate->port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  im.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  im.stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (im.epoll_fd < 0 || im.stop_fd < 0) return errno_error("http gate: epoll", errno);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Impl::kListen;
  ::epoll_ctl(im.epoll_fd, EPOLL_CTL_ADD, im.listen_fd, &ev);
  ev.data.u64 = Impl::kStop;
  ::epoll_ctl(im.epoll_fd, EPOLL_CTL_ADD, im.stop_fd, &ev);
  im.thread = std::thread([&im] { im.run(); });
  return gate;
}

Gate::~Gate() {
  if (!impl_) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t w = ::write(impl_->stop_fd, &one, sizeof one);
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace nodehealth::sinks
