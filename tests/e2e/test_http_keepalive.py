"""Persistent connections (HTTP/1.1 keep-alive) at the gate, against the real binary on loopback:
1000 sequential scrapes over one connection (each a 200, framed by its Content-Length, bodies
like a fresh scrape's), HEAD then GET, pipelined requests answered in order, HTTP/1.0 and
`Connection: close` closing, the gate's own errors closing, 50 concurrent kept scrapers, a head trickled after a kept request
cut at the 2 s head timeout, the idle timeout (shortened for the test by a hidden switch), an idle
kept connection evicted first when the gate is full, and the same over TLS. Prints the latency
p50/p99 of 1000 keep-alive scrapes and of 1000 scrapes on a new connection each, for the README:
`python3 tests/e2e/run.py test_http_keepalive.py`."""
import contextlib
import hashlib
import os
import re
import resource
import shutil
import socket
import ssl
import statistics
import tempfile
import threading
import time
import unittest

from harness import Agent, FIXTURES, http_get, need_binary, write
from kube_standin import make_pki
from test_web_config import TlsAgent

HYBRID = os.path.join(FIXTURES, "debian12-hybrid")
SCRAPES = 1000


class Client:
    """One connection; reads responses by their Content-Length, as a keep-alive client must."""

    def __init__(self, port, ctx=None, timeout=10):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1") if ctx else raw
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, method, path, version="HTTP/1.1", headers=None):
        req = "%s %s %s\r\nHost: 127.0.0.1\r\n" % (method, path, version)
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        self.s.sendall((req + "\r\n").encode())

    def _fill(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("the server closed the connection")
        self.buf += b

    def response(self, head=False):
        """(status, {lower-case name: [values]}, body) of the next response on the connection.
        head: the answer to a HEAD, whose Content-Length is not followed by a body."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode().split("\r\n")
        m = re.fullmatch(r"HTTP/1\.[01] (\d{3}) .*", lines[0])
        assert m, "not a status line: %r" % lines[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        n = 0 if head else int(headers["content-length"][0])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(m.group(1)), headers, body

    def request(self, method, path, version="HTTP/1.1", headers=None):
        self.send(method, path, version, headers)
        return self.response(head=method == "HEAD")

    def closed_by_server(self, timeout=10):
        """True when the server ends the connection (FIN, close_notify or reset) within timeout
        with no byte more; fails on a byte more, on a timeout returns False."""
        self.s.settimeout(timeout)
        try:
            b = self.s.recv(1024)
        except (ConnectionResetError, ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return self.buf == b""
        except (socket.timeout, TimeoutError):
            return False
        assert b == b"" and self.buf == b"", "bytes after the last response: %r" % (self.buf + b)
        return True


def one_shot(port, path, method="GET", ctx=None, headers=None):
    """A request on a new connection with `Connection: close`, read until the server closes:
    (status, headers, body, seconds)."""
    t = time.perf_counter()
    c = Client(port, ctx)
    try:
        out = c.request(method, path, headers={**(headers or {}), "Connection": "close"})
        assert c.closed_by_server(), "Connection: close, yet the connection stayed open"
    finally:
        c.close()
    return (*out, time.perf_counter() - t)


def series(body):
    """The series of a text exposition (name and labels, without values) and its families."""
    lines = body.decode().splitlines()
    return ({line.rpartition(" ")[0] for line in lines if line and not line.startswith("#")},
            [line for line in lines if line.startswith("# TYPE ")])


def percentiles(lat):
    lat = sorted(lat)
    return statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000


@contextlib.contextmanager
def environ(**env):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class KeepAliveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent("--host-root", HYBRID, "--node-name", "keepalive-node").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)

    def test_1000_sequential_scrapes_on_one_connection(self):
        port = self.agent.port
        code, headers, fresh, _ = one_shot(port, "/metrics")
        self.assertEqual(code, 200)
        self.assertEqual(int(headers["content-length"][0]), len(fresh))
        fresh_series, fresh_families = series(fresh)
        self.assertIn('nodehealth_condition{type="MemoryPressure",status="False"}', fresh_series)

        c = Client(port)
        kept = []
        try:
            for _ in range(SCRAPES):
                t = time.perf_counter()
                code, headers, body = c.request("GET", "/metrics")
                kept.append(time.perf_counter() - t)
                self.assertEqual(code, 200)
                self.assertNotIn("connection", headers)  # HTTP/1.1: persistent by default
                self.assertEqual(int(headers["content-length"][0]), len(body))
                self.assertTrue(body.endswith(b"\n"))
            # The last body against a fresh scrape's: the same series and families (the values
            # move: scrape counters, the process's CPU time), about the same length.
            last_series, last_families = series(body)
            self.assertEqual(last_series, fresh_series)
            self.assertEqual(last_families, fresh_families)
            self.assertLess(abs(len(body) - len(fresh)), len(fresh) // 50)
            # Static bodies are byte for byte those of a fresh connection.
            for path in ("/", "/healthz"):
                code, headers, body = c.request("GET", path)
                f_code, f_headers, f_body, _ = one_shot(port, path)
                self.assertEqual((code, body), (f_code, f_body))
                self.assertEqual(headers["content-length"], f_headers["content-length"])
            self.assertEqual(c.buf, b"")  # nothing more than the responses came
        finally:
            c.close()

        fresh_lat = []
        for _ in range(SCRAPES):
            code, _, _, seconds = one_shot(port, "/metrics")
            self.assertEqual(code, 200)
            fresh_lat.append(seconds)
        k50, k99 = percentiles(kept)
        n50, n99 = percentiles(fresh_lat)
        print("\nkeepalive: %d sequential GET /metrics (%d bytes) on one connection: "
              "p50 %.2f ms, p99 %.2f ms; on a new connection each: p50 %.2f ms, p99 %.2f ms"
              % (SCRAPES, len(fresh), k50, k99, n50, n99), flush=True)

    def test_50_concurrent_scrapers_on_kept_connections(self):
        """As tests/bench does: 50 scrapers at once, each on its own kept connection; every
        scrape a 200 on that same connection (a close would end it with EOFError)."""
        results = []

        def scraper():
            c = Client(self.agent.port, timeout=30)
            try:
                for _ in range(40):
                    code, headers, body = c.request("GET", "/metrics")
                    results.append((code, "connection" in headers,
                                    b"nodehealth_build_info{" in body))
            except Exception as e:  # reported by the assertion below
                results.append(repr(e))
            finally:
                c.close()
        threads = [threading.Thread(target=scraper) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(len(results), 50 * 40)
        self.assertEqual(set(results), {(200, False, True)})

    def test_head_then_get_on_one_connection(self):
        c = Client(self.agent.port)
        try:
            code, head_headers, body = c.request("HEAD", "/metrics")
            self.assertEqual((code, body), (200, b""))
            announced = int(head_headers["content-length"][0])
            self.assertGreater(announced, 1000)
            # The next bytes are the GET's response, not the body HEAD announced.
            code, headers, body = c.request("GET", "/metrics")
            self.assertEqual(code, 200)
            self.assertEqual(int(headers["content-length"][0]), len(body))
            self.assertLess(abs(len(body) - announced), announced // 50)
            for path in ("/", "/healthz", "/status"):
                code, h_headers, body = c.request("HEAD", path)
                self.assertEqual((code, body), (200, b""))
                code, g_headers, body = c.request("GET", path)
                self.assertEqual(code, 200)
                if path != "/status":  # /status moves with each sample
                    self.assertEqual(h_headers["content-length"], g_headers["content-length"])
                self.assertEqual(int(g_headers["content-length"][0]), len(body))
            self.assertEqual(c.buf, b"")
        finally:
            c.close()

    def test_pipelined_requests_are_answered_in_order(self):
        c = Client(self.agent.port)
        try:
            c.s.sendall(b"GET /healthz HTTP/1.1\r\n\r\nHEAD /metrics HTTP/1.1\r\n\r\n"
                        b"GET / HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
            self.assertEqual(c.response()[0:3:2], (200, b"ok\n"))
            code, headers, body = c.response(head=True)
            self.assertEqual((code, body), (200, b""))
            self.assertGreater(int(headers["content-length"][0]), 1000)
            code, _, body = c.response()
            self.assertEqual(code, 200)
            self.assertIn(b"<html", body)
            code, headers, body = c.response()
            self.assertEqual((code, body), (200, b"ok\n"))
            self.assertEqual(headers["connection"], ["close"])
            self.assertTrue(c.closed_by_server())
        finally:
            c.close()

    def test_http_1_0_closes_unless_it_asks(self):
        c = Client(self.agent.port)
        try:
            code, headers, body = c.request("GET", "/healthz", version="HTTP/1.0")
            self.assertEqual((code, body), (200, b"ok\n"))
            self.assertEqual(headers["connection"], ["close"])
            self.assertTrue(c.closed_by_server())
        finally:
            c.close()
        c = Client(self.agent.port)
        try:
            for _ in range(3):
                code, headers, body = c.request("GET", "/healthz", version="HTTP/1.0",
                                                headers={"Connection": "keep-alive"})
                self.assertEqual((code, body), (200, b"ok\n"))
                self.assertEqual(headers["connection"], ["keep-alive"])
            code, headers, _ = c.request("HEAD", "/metrics", version="HTTP/1.0")
            self.assertEqual((code, headers["connection"]), (200, ["close"]))
            self.assertTrue(c.closed_by_server())
        finally:
            c.close()

    def test_connection_close_closes(self):
        c = Client(self.agent.port)
        try:
            for _ in range(3):
                self.assertEqual(c.request("GET", "/metrics")[0], 200)
            code, headers, body = c.request("GET", "/metrics", headers={"Connection": "close"})
            self.assertEqual(code, 200)
            self.assertEqual(int(headers["content-length"][0]), len(body))
            self.assertEqual(headers["connection"], ["close"])
            self.assertTrue(c.closed_by_server())
        finally:
            c.close()

    def test_the_gates_own_answers_close(self):
        """After kept requests, a request the gate refuses gets its answer and the close."""
        for bad, want in (("GET /nope HTTP/1.1\r\n\r\n", 404),
                          ("POST /metrics HTTP/1.1\r\n\r\n", 405),
                          ("GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400)):
            with self.subTest(want):
                c = Client(self.agent.port)
                try:
                    self.assertEqual(c.request("GET", "/healthz")[0], 200)
                    c.s.sendall(bad.encode())
                    code, headers, _ = c.response()
                    self.assertEqual((code, headers["connection"]), (want, ["close"]))
                    self.assertTrue(c.closed_by_server())
                finally:
                    c.close()

    def test_a_trickled_head_after_a_request_is_cut_at_the_head_timeout(self):
        """Slowloris on a kept connection: one good request, then a head a byte every 0.25 s.
        The idle timeout (75 s) ends at the first byte; the head then has the 2 s of any head."""
        c = Client(self.agent.port)
        try:
            self.assertEqual(c.request("GET", "/healthz")[0], 200)
            c.s.settimeout(0.25)
            t = time.monotonic()
            closed = False
            for b in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 200:
                try:
                    c.s.send(bytes([b]))
                    if c.s.recv(1) == b"":
                        closed = True
                        break
                except (socket.timeout, TimeoutError):
                    continue
                except OSError:
                    closed = True
                    break
            elapsed = time.monotonic() - t
        finally:
            c.close()
        self.assertTrue(closed, "the trickling connection was not closed")
        self.assertLess(elapsed, 20)  # the head timeout (2 s) and a loaded machine; not 75 s
        print("\nkeepalive: a head trickled after a kept request was cut after %.1f s" % elapsed,
              flush=True)

    def test_a_kept_connection_survives_a_scrape_interval(self):
        """A Prometheus scrape every 15 s reuses its connection (the idle timeout is 75 s)."""
        c = Client(self.agent.port)
        try:
            self.assertEqual(c.request("GET", "/metrics")[0], 200)
            time.sleep(16)
            code, _, body = c.request("GET", "/metrics")
            self.assertEqual(code, 200)
            self.assertIn(b"nodehealth_build_info{", body)
        finally:
            c.close()

    def test_an_idle_kept_connection_is_evicted_first_when_full(self):
        """The gate holds max_connections; when full, a kept connection idle between requests is
        closed for the newcomer before any connection still sending its head, and a scraper on a
        new connection is served throughout."""
        m = re.search(r"max_connections=(\d+)", self.agent.logs())
        limit = int(m.group(1)) if m else 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < limit + 64:
            self.skipTest("RLIMIT_NOFILE hard %d is below %d" % (hard, limit + 64))
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, limit + 64), hard))
        socks = []
        kept = Client(self.agent.port)
        try:
            t0 = time.monotonic()
            early = socket.create_connection(("127.0.0.1", self.agent.port), timeout=5)
            socks.append(early)  # unfinished, and older than the kept connection's idle wait
            self.assertEqual(kept.request("GET", "/healthz")[0], 200)
            # Fill the gate: it then holds `limit` connections, the kept one among them.
            while len(socks) + 1 < limit:
                socks.append(socket.create_connection(("127.0.0.1", self.agent.port), timeout=5))
            code = one_shot(self.agent.port, "/healthz")[0]  # one more: an eviction
            self.assertEqual(code, 200)
            self.assertTrue(kept.closed_by_server(timeout=5), "the idle kept one went first")
            if time.monotonic() - t0 < 1.5:  # before the head timeout could close `early`
                early.setblocking(False)
                with self.assertRaises(BlockingIOError, msg="the older unfinished one stays"):
                    early.recv(1)
            else:
                print("\nkeepalive: eviction: filling took over 1.5 s, the unfinished "
                      "connection's survival not checked", flush=True)
        finally:
            kept.close()
            for s in socks:
                s.close()
        self.assertEqual(http_get(self.agent.port, "/healthz")[0], 200)


class IdleTimeoutTest(unittest.TestCase):
    """The idle timeout, shortened to 3 s by NODEHEALTH_TEST_IDLE_TIMEOUT_SECONDS."""

    def test_an_idle_kept_connection_is_closed(self):
        with environ(NODEHEALTH_TEST_IDLE_TIMEOUT_SECONDS="3"):
            agent = Agent("--host-root", HYBRID, "--node-name", "idle-node").__enter__()
        try:
            self.assertIn("idle timeout 3s", agent.logs())
            c = Client(agent.port)
            try:
                self.assertEqual(c.request("GET", "/metrics")[0], 200)
                t = time.monotonic()
                self.assertFalse(c.closed_by_server(timeout=1), "closed before the idle timeout")
                self.assertTrue(c.closed_by_server(timeout=20), "not closed at the idle timeout")
                elapsed = time.monotonic() - t
                self.assertGreater(elapsed, 2.5)
            finally:
                c.close()
            print("\nkeepalive: an idle kept connection was closed after %.1f s (timeout 3 s)"
                  % elapsed, flush=True)
        finally:
            agent.__exit__(None, None, None)


class TlsKeepAliveTest(unittest.TestCase):
    """Keep-alive over TLS, with bearer authentication: a 401 keeps the connection too."""

    @classmethod
    def setUpClass(cls):
        need_binary("openssl")
        cls.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-keepalive-")
        cls.pki = make_pki(cls.dir)
        web = os.path.join(cls.dir, "web.yml")
        cls.token = "keepalive-token"
        write(web, "tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
                   "bearer_tokens:\n  scraper: sha256:%s\n"
                   % (cls.pki["server.crt"], cls.pki["server.key"],
                      hashlib.sha256(cls.token.encode()).hexdigest()))
        cls.agent = TlsAgent(cls.pki, "--host-root", HYBRID, "--node-name", "tls-keepalive",
                             "--web-config-file", web).__enter__()
        cls.ctx = ssl.create_default_context(cafile=cls.pki["ca.crt"])

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_tls_keep_alive(self):
        auth = {"Authorization": "Bearer " + self.token}
        c = Client(self.agent.port, self.ctx)
        kept = []
        try:
            self.assertEqual(c.request("GET", "/metrics")[0], 401)  # framed: the connection stays
            code, headers, body = c.request("HEAD", "/metrics", headers=auth)
            self.assertEqual((code, body), (200, b""))
            self.assertGreater(int(headers["content-length"][0]), 1000)
            for _ in range(SCRAPES):
                t = time.perf_counter()
                code, headers, body = c.request("GET", "/metrics", headers=auth)
                kept.append(time.perf_counter() - t)
                self.assertEqual(code, 200)
                self.assertNotIn("connection", headers)
                self.assertIn(b"nodehealth_build_info{", body)
            code, headers, body = c.request("GET", "/healthz", headers={"Connection": "close"})
            self.assertEqual((code, body, headers["connection"]), (200, b"ok\n", ["close"]))
            self.assertTrue(c.closed_by_server())
        finally:
            c.close()
        fresh = []
        for _ in range(SCRAPES):  # a full TLS handshake each
            code, _, _, seconds = one_shot(self.agent.port, "/metrics", ctx=self.ctx, headers=auth)
            self.assertEqual(code, 200)
            fresh.append(seconds)
        k50, k99 = percentiles(kept)
        n50, n99 = percentiles(fresh)
        print("\nkeepalive: TLS: %d sequential GET /metrics on one connection: p50 %.2f ms, "
              "p99 %.2f ms; on a new TLS connection each: p50 %.2f ms, p99 %.2f ms"
              % (SCRAPES, k50, k99, n50, n99), flush=True)


if __name__ == "__main__":
    unittest.main()
