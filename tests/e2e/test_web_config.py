"""The endpoint's web config against the real binary: HTTPS with a test CA (openssl CLI), plain
HTTP on the TLS port, basic and bearer auth (401 without or with wrong credentials, 200 with
right ones), /healthz open under auth, client certificates (RequireAndVerifyClientCert), a
password flood that cannot lock out a cached user, min_version, and bad web configs that stop
the start with file:line."""
import base64
import ctypes
import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Agent, BIN, FIXTURES, need_binary, wait_until, write
from kube_standin import make_pki

HYBRID = os.path.join(FIXTURES, "debian12-hybrid")
TOKEN = "e2e-bearer-token-0123456789"


def bcrypt(password, cost=10):
    """A real bcrypt hash from libcrypt (as htpasswd -B makes), with a random salt."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt.restype = ctypes.c_char_p
    salt = lib.crypt_gensalt(b"$2y$", cost, None, 0)
    out = lib.crypt(password.encode(), salt)
    assert out and out.startswith(b"$2y$"), out
    return out.decode()


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class TlsAgent(Agent):
    """An Agent whose endpoint speaks HTTPS: waits for /healthz over TLS."""

    def __init__(self, pki, *args, **kw):
        super().__init__(*args, **kw)
        self.pki = pki

    def __enter__(self):
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([BIN, "run", "--listen-address", "127.0.0.1:0", *self.args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.port = int(wait_until(self._port, 20, what="agent to listen"))
        wait_until(lambda: self.get("/healthz")[0] == 200, 20, what="/healthz 200 over TLS")
        return self

    def context(self, client=None):
        ctx = ssl.create_default_context(cafile=self.pki["ca.crt"])
        if client:
            ctx.load_cert_chain(client["client.crt"], client["client.key"])
        return ctx

    def get(self, path, headers=None, client=None, ctx=None, method="GET"):
        """(status, headers, body) over HTTPS, verifying the server against the test CA."""
        ctx = ctx or self.context(client)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                # One request, read until the server closes (it keeps the connection otherwise).
                req = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (method, path)
                for k, v in (headers or {}).items():
                    req += "%s: %s\r\n" % (k, v)
                s.sendall((req + "\r\n").encode())
                data = b""
                while True:
                    try:
                        b = s.recv(65536)
                    except ssl.SSLZeroReturnError:
                        break
                    if not b:
                        break
                    data += b
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        hdrs = dict(line.split(": ", 1) for line in lines[1:])
        return int(lines[0].split(" ")[1]), hdrs, body.decode()


class WebConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need_binary("openssl")
        cls.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-webconfig-")
        os.makedirs(os.path.join(cls.dir, "pki"))
        cls.pki = make_pki(os.path.join(cls.dir, "pki"))
        os.makedirs(os.path.join(cls.dir, "other"))
        cls.other = make_pki(os.path.join(cls.dir, "other"))  # another CA and its client
        cls.web = os.path.join(cls.dir, "web.yml")
        write(cls.web, "tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
                       "basic_auth_users:\n  prometheus: %s\n"
                       "bearer_tokens:\n  vmagent: sha256:%s\n"
                       % (cls.pki["server.crt"], cls.pki["server.key"], bcrypt("right-pass"),
                          hashlib.sha256(TOKEN.encode()).hexdigest()))
        cls.agent = TlsAgent(cls.pki, "--host-root", HYBRID, "--node-name", "tls-node",
                             "--web-config-file", cls.web).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_https_scrape_with_basic_and_bearer(self):
        code, _, body = self.agent.get("/metrics", {"Authorization": basic("prometheus",
                                                                           "right-pass")})
        self.assertEqual(code, 200)
        self.assertIn("nodehealth_build_info{", body)
        code, _, body = self.agent.get("/status", {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(code, 200)
        self.assertIn('"node": "tls-node"', body)
        code, hdrs, body = self.agent.get("/metrics", {"Authorization": "Bearer " + TOKEN},
                                          method="HEAD")
        self.assertEqual((code, body), (200, ""))
        self.assertGreater(int(hdrs["Content-Length"]), 1000)
        self.assertIn("web config: file=%s tls=on basic_auth_users=1 bearer_tokens=1" % self.web,
                      self.agent.logs())

    def test_tls_version_is_at_least_1_2(self):
        # min_version TLS13 refusing a TLS 1.2 client is in ClientCertTest. TLS 1.0 and 1.1 are
        # not tried: OpenSSL 3 offers them only at security level 0, so a refusal here would not
        # say whether the agent or the client refused.
        with socket.create_connection(("127.0.0.1", self.agent.port), timeout=10) as raw:
            with self.agent.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
        tls12 = self.agent.context()
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.agent.port), timeout=10) as raw:
            with tls12.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                self.assertEqual(s.version(), "TLSv1.2")  # the default min_version serves 1.2

    def test_wrong_or_missing_credentials_are_401(self):
        cases = {
            "none": {},
            "wrong password": {"Authorization": basic("prometheus", "wrong-pass")},
            "unknown user": {"Authorization": basic("nobody", "right-pass")},
            "wrong token": {"Authorization": "Bearer not-the-token"},
            "token as password": {"Authorization": basic("vmagent", TOKEN)},
            "garbage": {"Authorization": "Basic %%%"},
        }
        for name, headers in cases.items():
            for path in ("/metrics", "/status", "/"):
                with self.subTest(name, path=path):
                    code, hdrs, body = self.agent.get(path, headers)
                    self.assertEqual(code, 401)
                    self.assertEqual(hdrs["WWW-Authenticate"],
                                     'Basic realm="nodehealth", charset="UTF-8"')
                    self.assertNotIn("nodehealth_", body)

    def test_healthz_is_open_under_auth(self):
        # README: /healthz needs no credentials (liveness probes), every other path does.
        self.assertEqual(self.agent.get("/healthz")[0:3:2], (200, "ok\n"))
        self.assertEqual(self.agent.get("/healthz", {"Authorization": "Bearer wrong"})[0], 200)

    def test_plain_http_on_the_tls_port_fails_cleanly(self):
        with socket.create_connection(("127.0.0.1", self.agent.port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
        self.assertTrue(data.startswith(b"HTTP/1.0 400 Bad Request\r\n"), data)
        self.assertIn(b"client sent an HTTP request to an HTTPS server", data)
        self.assertNotIn(b"nodehealth_", data)
        with socket.create_connection(("127.0.0.1", self.agent.port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01\x00\x05garbage" * 10)  # not a TLS hello either
            try:
                self.assertEqual(s.recv(4096)[:1], b"\x15")  # a TLS alert record, or
            except ConnectionResetError:
                pass  # a reset
        self.assertIsNone(self.agent.proc.poll())
        self.assertEqual(self.agent.get("/healthz")[0], 200)

    def test_password_flood_cannot_lock_out_a_cached_user(self):
        """8 clients sending wrong passwords (each a bcrypt check at cost 10) for 4 s: they get
        401, or 503 while another check runs; the right user, verified once and cached, keeps
        getting 200."""
        good = {"Authorization": basic("prometheus", "right-pass")}
        self.assertEqual(self.agent.get("/metrics", good)[0], 200)  # cached from here
        deadline = time.monotonic() + 4
        codes = []

        def flood(i):
            while time.monotonic() < deadline:
                try:
                    codes.append(self.agent.get("/status", {
                        "Authorization": basic("prometheus", "guess-%d-%f" % (i, time.time()))})[0])
                except OSError as e:
                    codes.append(repr(e))
        threads = [threading.Thread(target=flood, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        lat = []
        try:
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                self.assertEqual(self.agent.get("/metrics", good)[0], 200)
                lat.append(time.monotonic() - t0)
                time.sleep(0.2)
        finally:
            for t in threads:
                t.join()
        self.assertTrue(codes)
        self.assertLessEqual(set(codes), {401, 503})
        self.assertIn(401, codes)
        self.assertLess(max(lat), 2.0)
        print("\nweb config: password flood: %d wrong guesses in 4 s (%d 401, %d 503); cached "
              "user's scrapes max %.0f ms" % (len(codes), codes.count(401), codes.count(503),
                                               max(lat) * 1000), flush=True)


class ClientCertTest(unittest.TestCase):
    """tls_server_config.client_auth_type: RequireAndVerifyClientCert."""

    @classmethod
    def setUpClass(cls):
        need_binary("openssl")
        cls.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-mtls-")
        os.makedirs(os.path.join(cls.dir, "pki"))
        cls.pki = make_pki(os.path.join(cls.dir, "pki"))
        os.makedirs(os.path.join(cls.dir, "other"))
        cls.other = make_pki(os.path.join(cls.dir, "other"))
        web = os.path.join(cls.dir, "web.yml")
        write(web, "tls_server_config:\n  cert_file: %s\n  key_file: %s\n"
                   "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %s\n"
                   "  min_version: TLS13\n"
                   % (cls.pki["server.crt"], cls.pki["server.key"], cls.pki["ca.crt"]))
        cls.agent = TlsAgent(cls.pki, "--host-root", HYBRID, "--web-config-file", web)
        # Its /healthz wait needs a client certificate too.
        orig = cls.agent.get
        cls.agent.get = lambda path, headers=None, client=cls.pki, ctx=None, method="GET": \
            orig(path, headers, client, ctx, method)
        cls.agent.__enter__()
        cls.plain_get = orig

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_certificate_from_the_ca_is_accepted(self):
        code, _, body = self.plain_get("/metrics", client=self.pki)
        self.assertEqual(code, 200)
        self.assertIn("nodehealth_build_info{", body)

    def test_no_certificate_is_refused(self):
        with self.assertRaises((ssl.SSLError, ConnectionResetError, ValueError, IndexError)):
            self.plain_get("/metrics")

    def test_certificate_from_another_ca_is_refused(self):
        with self.assertRaises((ssl.SSLError, ConnectionResetError, ValueError, IndexError)):
            self.plain_get("/metrics", client=self.other)
        self.assertIsNone(self.agent.proc.poll())
        self.assertEqual(self.plain_get("/healthz", client=self.pki)[0], 200)

    def test_tls_1_2_client_is_refused_by_min_version_tls13(self):
        ctx = self.agent.context(self.pki)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            self.plain_get("/healthz", ctx=ctx)


class BadWebConfigTest(unittest.TestCase):
    """A bad web config stops `run` before it serves, with file:line."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-badweb-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_with(self, text):
        path = os.path.join(self.dir, "web.yml")
        write(path, text)
        r = subprocess.run([BIN, "run", "--listen-address", "127.0.0.1:0", "--host-root", HYBRID,
                            "--web-config-file", path], capture_output=True, text=True, timeout=30)
        return path, r

    def test_bad_configs_refuse_to_start_with_file_and_line(self):
        need_binary("openssl")
        pki = make_pki(self.dir)
        cases = [
            ("basic_auth_users:\n  u: %s\ntls_server_confg:\n  cert_file: x\n" % bcrypt("p", 4),
             r":3: tls_server_confg: unknown key"),
            ("basic_auth_users:\n  u: not-a-hash\n", r":2: basic_auth_users.u: not a bcrypt hash"),
            ("basic_auth_users:\n  u: '%s'\n" % bcrypt("p", 4).replace("$04$", "$31$"),
             r":2: basic_auth_users.u: bcrypt cost 31 is outside 4..12"),
            ("basic_auth_users:\n", r":1: basic_auth_users: is empty"),
            ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n" % (pki["server.crt"],
                                                                      pki["client.key"]),
             r":3: tls_server_config.key_file: cannot use .*key values mismatch"),
            ("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: %s\n" % pki["server.key"],
             r":2: tls_server_config.cert_file: cannot read /nonexistent.crt"),
            ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: Maybe\n"
             % (pki["server.crt"], pki["server.key"]), r":4: tls_server_config.client_auth_type"),
            ("tls_server_config: [\n", r":\d+: "),  # YAML syntax
        ]
        for text, want in cases:
            with self.subTest(want):
                path, r = self.run_with(text)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertRegex(r.stderr, re.escape("nodehealth: invalid web config") + r"(.|\n)*"
                                 + re.escape(path) + want)
                self.assertNotIn("nodehealth started", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
