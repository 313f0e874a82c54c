// The endpoint's own answers (agent/sinks/http.h): Accept-Encoding, gzip, and a real server on
// loopback answering in the gate (keep-alive, pipelined, HEAD, gzip). Auth, TLS and hostile
// clients are tested end to end in tests/e2e/test_web_config.py and test_http_hostile.py.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "agent/features/gunzip.h"
#include "agent/sinks/http.h"

using nodehealth::sinks::accepts_gzip;
using nodehealth::sinks::deflate_part;
using nodehealth::sinks::DeflatedPart;
using nodehealth::sinks::gzip_join;

TEST_CASE("http: which Accept-Encoding values accept gzip", "[http]") {
  CHECK(accepts_gzip("gzip"));
  CHECK(accepts_gzip("GZip"));
  CHECK(accepts_gzip("x-gzip"));
  CHECK(accepts_gzip("deflate, gzip;q=0.5"));
  CHECK(accepts_gzip("gzip ; q=1"));
  CHECK(accepts_gzip("identity;q=0.1, gzip"));
  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("deflate, br"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip;q=0.000"));
  CHECK_FALSE(accepts_gzip("gzipped"));
  CHECK_FALSE(accepts_gzip("*"));  // only gzip by name
}

TEST_CASE("http: deflated parts joined into one gzip member round-trip", "[http]") {
  std::string text;
  for (int i = 0; i < 2000; ++i)
    text += "nodehealth_signal_value{signal=\"x" + std::to_string(i) + "\"} 1\n";
  const std::string own = "process_open_fds 12\nprocess_max_fds 1024\n";
  // The node's part compressed once (not last), the agent's own part per scrape (last).
  const DeflatedPart head = deflate_part(text, false);
  REQUIRE_FALSE(head.blocks.empty());
  CHECK(head.size == text.size());
  const std::string packed = gzip_join(head, deflate_part(own, true));
  REQUIRE(packed.size() > 18);
  CHECK(static_cast<unsigned char>(packed[0]) == 0x1f);  // the gzip magic
  CHECK(static_cast<unsigned char>(packed[1]) == 0x8b);
  CHECK(packed.size() < text.size() / 4);
  auto back = nodehealth::features::gunzip(packed);
  REQUIRE(back);
  CHECK(*back == text + own);
  // The same head joined to another tail: the head is reused as it is.
  auto again = nodehealth::features::gunzip(gzip_join(head, deflate_part("x 1\n", true)));
  REQUIRE(again);
  CHECK(*again == text + "x 1\n");
  // Empty parts, either side.
  auto tail_only =
      nodehealth::features::gunzip(gzip_join(deflate_part("", false), deflate_part(own, true)));
  REQUIRE(tail_only);
  CHECK(*tail_only == own);
  auto empty =
      nodehealth::features::gunzip(gzip_join(deflate_part("", false), deflate_part("", true)));
  REQUIRE(empty);
  CHECK(empty->empty());
}

namespace {

// Sends raw bytes to 127.0.0.1:port, then reads until the server closes (or 5 s).
std::string exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[16384];
  pollfd pfd{fd, POLLIN, 0};
  while (::poll(&pfd, 1, 5000) == 1) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// A family whose value counts the collections.
class CountingCollectable final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily f{
        "test_collections", "Collections.", prometheus::MetricType::Gauge, {}};
    prometheus::ClientMetric m;
    m.gauge.value = double(++calls);
    f.metric.push_back(m);
    return {f};
  }
  mutable std::atomic<int> calls{0};
};

}  // namespace

TEST_CASE("http: the agent's own families are collected at most once a second", "[http]") {
  nodehealth::sinks::SnapshotStore store("node-a");
  auto server = nodehealth::sinks::HttpServer::start("127.0.0.1:0", store, {"1.2.3", "abc"},
                                                     std::chrono::seconds(10));
  REQUIRE(server);
  auto counting = std::make_shared<CountingCollectable>();
  (*server)->add_metrics(counting);
  const int port = (*server)->port();
  auto scrape = [&](const char* extra) {
    // Qualified: with a std::string argument, lookup would also find std::exchange.
    return ::exchange(
        port, std::string("GET /metrics HTTP/1.1\r\n") + extra + "Connection: close\r\n\r\n");
  };
  CHECK(count(scrape(""), "\ntest_collections 1\n") == 1);
  // Within the second: the same collection, plain and gzip alike.
  CHECK(count(scrape(""), "\ntest_collections 1\n") == 1);
  const std::string packed = scrape("Accept-Encoding: gzip\r\n");
  auto text = nodehealth::features::gunzip(packed.substr(packed.find("\r\n\r\n") + 4));
  REQUIRE(text);
  CHECK(count(*text, "\ntest_collections 1\n") == 1);
  CHECK(counting->calls == 1);
  std::this_thread::sleep_for(nodehealth::sinks::kOwnMetricsMaxAge + std::chrono::milliseconds(50));
  CHECK(count(scrape(""), "\ntest_collections 2\n") == 1);
  // A collectable added later shows in the next scrape.
  (*server)->add_metrics(std::make_shared<CountingCollectable>());
  CHECK(count(scrape(""), "\ntest_collections 1\n") == 1);
}

TEST_CASE("http: the gate answers scrapes itself, kept alive and pipelined", "[http]") {
  nodehealth::sinks::SnapshotStore store("node-a");
  auto server = nodehealth::sinks::HttpServer::start("127.0.0.1:0", store, {"1.2.3", "abc"},
                                                     std::chrono::seconds(10));
  REQUIRE(server);
  const int port = (*server)->port();

  // Three requests in one write on one connection: all answered, in order; the last closes.
  const std::string reply =
      exchange(port,
               "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
               "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(count(reply, "HTTP/1.1 200 OK\r\n") == 2);
  CHECK(count(reply, "HTTP/1.1 503 Service Unavailable\r\n") == 1);  // no sample yet
  CHECK(count(reply, "nodehealth_build_info{version=\"1.2.3\",commit=\"abc\"} 1") ==
        1);  // not for HEAD
  CHECK(count(reply, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") == 2);
  CHECK(count(reply, "\nprocess_resident_memory_bytes ") == 1);
  CHECK(reply.find("Connection: close\r\n") != std::string::npos);
  CHECK(reply.ends_with("starting: no sample yet\n"));

  // gzip when asked for.
  const std::string packed =
      exchange(port, "GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
  const auto body_at = packed.find("\r\n\r\n");
  REQUIRE(body_at != std::string::npos);
  CHECK(packed.find("Content-Encoding: gzip\r\n") < body_at);
  auto text = nodehealth::features::gunzip(packed.substr(body_at + 4));
  REQUIRE(text);
  CHECK(text->find("nodehealth_build_info{") != std::string::npos);

  // A sample whose text is not UTF-8 (a message quoting a file, say): /status replaces the
  // byte and answers; the agent goes on.
  nodehealth::Sample sample;
  sample.taken_at = nodehealth::WallClock::now();
  nodehealth::NodeStatus status;
  status.conditions = {{"MemoryPressure", nodehealth::ConditionStatus::kFalse, "Reason",
                        "bad \xff byte", sample.taken_at, sample.taken_at}};
  store.publish(sample, status);
  const std::string doc = exchange(port, "GET /status HTTP/1.1\r\nConnection: close\r\n\r\n");
  CHECK(doc.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(doc.find("bad \xef\xbf\xbd byte") != std::string::npos);
  CHECK(exchange(port, "GET /healthz HTTP/1.0\r\n\r\n").ends_with("\r\n\r\nok\n"));

  // Unknown paths are the gate's 404.
  CHECK(exchange(port, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
}
