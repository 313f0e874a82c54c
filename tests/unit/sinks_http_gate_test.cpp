// The gate's request checks (agent/sinks/http_gate.h): what passes on to civetweb, rebuilt, and
// the status every other request head gets. The gate itself, with real sockets and hostile
// clients, is tested end to end in tests/e2e/test_http_hostile.py.
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "agent/sinks/http_gate.h"

using nodehealth::sinks::client_response_head;
using nodehealth::sinks::keep_alive_requested;
using nodehealth::sinks::parse_request_head;
using nodehealth::sinks::RequestHead;
using nodehealth::sinks::response_body_length;
using nodehealth::sinks::upstream_request;

namespace {

RequestHead parse(const std::string& head) { return parse_request_head(head, 64); }

int status(const std::string& head) { return parse(head).status; }

}  // namespace

TEST_CASE("gate: a scrape passes, with its headers", "[http_gate]") {
  const auto r = parse(
      "GET /metrics?x=1 HTTP/1.1\r\nHost: node:9710\r\nAuthorization: Basic dTpw\r\n"
      "Accept-Encoding: gzip\r\nUser-Agent: Prometheus/2.53\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(r.status == 0);
  CHECK(r.method == "GET");
  CHECK(r.target == "/metrics?x=1");
  CHECK(r.path == "/metrics");
  REQUIRE(r.header("authorization") != nullptr);
  CHECK(*r.header("authorization") == "Basic dTpw");
  CHECK(*r.header("user-agent") == "Prometheus/2.53");
  CHECK(r.header("cookie") == nullptr);

  // Only the method, target, Authorization and Accept* reach civetweb, plus the secret.
  CHECK(upstream_request(r, "s3cret") ==
        "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "X-Nodehealth-Gate: s3cret\r\nAuthorization: Basic dTpw\r\nAccept-Encoding: gzip\r\n\r\n");

  // HEAD goes on as GET: the gate drops the body.
  CHECK(upstream_request(parse("HEAD /metrics HTTP/1.0\r\n\r\n"), "s") ==
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "X-Nodehealth-Gate: s\r\n\r\n");

  for (const char* path : {"/", "/status", "/healthz", "/metrics"}) {
    INFO(path);
    CHECK(status(std::string("GET ") + path + " HTTP/1.1\r\n\r\n") == 0);
    CHECK(status(std::string("HEAD ") + path + " HTTP/1.0\r\n\r\n") == 0);
  }
  CHECK(status("GET /healthz HTTP/1.1\n\n") == 0);  // bare LF line ends
  CHECK(parse("GET /status HTTP/1.1\r\nX-A:  padded \t\r\n\r\n").headers[0].second == "padded");
}

TEST_CASE("gate: only the known paths, byte for byte", "[http_gate]") {
  for (const char* target :
       {"/../metrics", "/%2e%2e/metrics", "//metrics", "/./metrics", "/metrics%00", "/metrics/",
        "/metrics/x", "/METRICS", "/%6detrics", "/..%2f..%2fetc%2fpasswd", "/../../etc/passwd",
        "\\..\\..\\etc\\passwd", "*", "http://x/healthz", "/index.html", "/favicon.ico"}) {
    INFO(target);
    CHECK(status(std::string("GET ") + target + " HTTP/1.1\r\n\r\n") == 404);
  }
  CHECK(status("GET /" + std::string(2047, 'a') + " HTTP/1.1\r\n\r\n") == 404);
  CHECK(status("GET /" + std::string(2048, 'a') + " HTTP/1.1\r\n\r\n") == 400);  // too long
}

TEST_CASE("gate: methods other than GET and HEAD are 405", "[http_gate]") {
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO"}) {
    INFO(m);
    CHECK(status(std::string(m) + " /metrics HTTP/1.1\r\n\r\n") == 405);
  }
  // Before the body check: a POST with a body is still a 405 (the gate never reads the body).
  CHECK(status("POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\n") == 405);
  CHECK(status("get /metrics HTTP/1.1\r\n\r\n") == 405);  // methods are case-sensitive
}

TEST_CASE("gate: malformed request lines", "[http_gate]") {
  for (const std::string& head : {
           std::string("GET /healthz\r\n\r\n"),            // no version (HTTP/0.9)
           std::string("GET\r\n\r\n"),                     // method only
           std::string("GET  /healthz HTTP/1.1\r\n\r\n"),  // two spaces
           std::string("GET /healthz HTTP/1.1 x\r\n\r\n"),
           std::string("GET /healthz HTTP/1\r\n\r\n"), std::string("GET /healthz http/1.1\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\n"),  // no blank line
           std::string("\r\n\r\n"),
           std::string(17, 'G') + " /healthz HTTP/1.1\r\n\r\n",  // method too long
           std::string("G\x01T /healthz HTTP/1.1\r\n\r\n"),
           std::string("GET /he\x7flthz HTTP/1.1\r\n\r\n"),
           std::string("GET /h\xc3\xa9 HTTP/1.1\r\n\r\n"),
           std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),  // a TLS hello
       }) {
    INFO(head);
    CHECK(status(head) == 400);
  }
  CHECK(status("GET /healthz HTTP/9.9\r\n\r\n") == 505);
  CHECK(status("GET /healthz HTTP/2.0\r\n\r\n") == 505);
  CHECK(status("GET /healthz HTTP/0.9\r\n\r\n") == 505);
}

TEST_CASE("gate: malformed and hostile headers", "[http_gate]") {
  for (const std::string& head : {
           std::string("GET /healthz HTTP/1.1\r\nNoColon\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\n: empty name\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nBad Name: x\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"),  // space before the colon
           std::string("GET /healthz HTTP/1.1\r\nX-A: a\r\n folded\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nX-A: a\x01b\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nX-A: a\rb\r\n\r\n"),
           // A body on a GET: smuggling-style ambiguity is refused outright.
           std::string("GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
                       "chunked\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n"),
           std::string("HEAD /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nX-Nodehealth-Gate: guess\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nx-nodehealth-gate: guess\r\n\r\n"),
       }) {
    INFO(head);
    CHECK(status(head) == 400);
  }
  std::string many = "GET /healthz HTTP/1.1\r\n";
  for (int i = 0; i < 64; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(status(many + "\r\n") == 0);
  CHECK(status(many + "X-64: v\r\n\r\n") == 431);
  const auto r = parse(many + "X-64: v\r\n\r\n");
  CHECK(r.why == "more than 64 header fields");
}

TEST_CASE("gate: keep-alive is what the client asks for, per HTTP version", "[http_gate]") {
  auto keep = [](const std::string& head) {
    const auto r = parse(head);
    REQUIRE(r.status == 0);
    return keep_alive_requested(r);
  };
  CHECK(parse("GET /metrics HTTP/1.1\r\n\r\n").version == "HTTP/1.1");
  CHECK(keep("GET /metrics HTTP/1.1\r\n\r\n"));  // 1.1 persists by default
  CHECK(keep("GET /metrics HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
  CHECK_FALSE(keep("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(keep("GET /metrics HTTP/1.1\r\nconnection: CLOSE\r\n\r\n"));      // any case
  CHECK_FALSE(keep("GET /metrics HTTP/1.1\r\nConnection: TE, close\r\n\r\n"));  // a token list
  CHECK_FALSE(keep("GET /metrics HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"));
  CHECK(keep("GET /metrics HTTP/1.1\r\nConnection: closed\r\n\r\n"));  // not the token
  CHECK_FALSE(keep("GET /metrics HTTP/1.0\r\n\r\n"));                  // 1.0 closes by default
  CHECK(keep("GET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  CHECK(keep("HEAD /metrics HTTP/1.0\r\nConnection: foo , keep-alive\r\n\r\n"));
  CHECK_FALSE(keep("GET /metrics HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
  CHECK_FALSE(keep("GET /metrics HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n"));
}

TEST_CASE("gate: a response is kept only when its head gives its length", "[http_gate]") {
  // What prometheus-cpp's /metrics handler writes, plain and gzip, and http.cpp's reply().
  CHECK(response_body_length("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "Content-Length: 5321\r\n\r\n") == std::optional<std::size_t>(5321));
  CHECK(response_body_length("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "Content-Encoding: gzip\r\nContent-Length: 812\r\n\r\n") ==
        std::optional<std::size_t>(812));
  CHECK(response_body_length("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic "
                             "realm=\"x\"\r\ncontent-length:  13 \r\n\r\n") ==
        std::optional<std::size_t>(13));
  CHECK(response_body_length("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n") ==
        std::optional<std::size_t>(0));
  CHECK(response_body_length("HTTP/1.0 200 OK\nContent-Length: 3\n\n") ==
        std::optional<std::size_t>(3));  // bare LF
  for (const char* head : {
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",  // until civetweb closes
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nno colon\r\n\r\n",
           "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
           "HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 2x0 OK\r\nContent-Length: 1\r\n\r\n",
           "HTTP/2 200\r\nContent-Length: 1\r\n\r\n",
           "",
       }) {
    INFO(head);
    CHECK_FALSE(response_body_length(head).has_value());
  }
}

TEST_CASE("gate: the response head says how the connection goes on", "[http_gate]") {
  const std::string from_civetweb =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n"
      "Keep-Alive: timeout=5\r\nContent-Length: 3\r\nCONNECTION: close\r\n\r\n";
  // Kept, HTTP/1.1: no Connection field at all (persistence is the default).
  CHECK(client_response_head(from_civetweb, true, false) ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n");
  // Kept, HTTP/1.0: it must be said.
  CHECK(client_response_head(from_civetweb, true, true) ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
        "Connection: keep-alive\r\n\r\n");
  // Not kept: close, whatever the version.
  for (const bool http10 : {false, true}) {
    CHECK(client_response_head(from_civetweb, false, http10) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
          "Connection: close\r\n\r\n");
  }
  // Bare LF line ends come out as CRLF.
  CHECK(client_response_head("HTTP/1.1 200 OK\nContent-Length: 0\n\n", true, false) ==
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}
