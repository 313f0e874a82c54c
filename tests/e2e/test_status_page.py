"""The status page at "/": a self-contained HTML document served by the real agent, rendered
by Debian's headless chromium. The agent runs with its thresholds read from a kubelet
configuration file that the test rewrites, so MemoryPressure turns True while it runs;
DefaultRouteUnavailable is Unknown (network source disabled); the rest is this machine's own
state. The rendered DOM must show the agent's condition types and statuses, its signals and
sources, and the change it saw; a screenshot is written to tests/artifacts/status-page.png.
Driven over the DevTools protocol, the open page follows a change of the real agent's
MemoryPressure by itself (no reload) within its refresh period, and its Content-Security-Policy,
as the header says and the page repeats, stops a request to another origin."""
import contextlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import unittest

from harness import ARTIFACTS, Agent, http_get, need_binary, wait_until, write

KUBELET = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
evictionHard:
  memory.available: %s
  nodefs.available: "10%%"
  nodefs.inodesFree: "5%%"
  imagefs.available: "15%%"
  imagefs.inodesFree: "5%%"
"""
CONFIG = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 1s
kubelet: {configFile: %s}
sources:
  network: {enabled: false}
"""
SCREENSHOT = os.path.join(ARTIFACTS, "status-page.png")
# What the README promises: only the page's own inline style and script, requests to the agent
# itself, and nobody may frame it, change its base or post a form from it.
CSP = ("default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
REFRESH_SECONDS = 5  # the page's setTimeout (agent/sinks/status_page.cpp)


def directives(policy):
    return {d.split()[0]: " ".join(d.split()[1:]) for d in policy.split(";") if d.strip()}


def chromium(url, *flags, timeout=90):
    """Headless chromium with a fresh profile; returns its stdout."""
    profile = tempfile.mkdtemp(prefix="nodehealth-e2e-chromium-")
    try:
        r = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + profile, "--virtual-time-budget=5000",
             *flags, url], capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if r.returncode != 0:
        raise AssertionError("chromium exited %d:\n%s" % (r.returncode, r.stderr[-3000:]))
    return r.stdout


class Browser:
    """Headless chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages ending in NUL; the browser reads its fd 3 and writes its fd 4)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="nodehealth-e2e-chromium-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def fds():  # in the child: the pipe ends at 3 and 4 (os.pipe's fds are close-on-exec)
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)
        self.proc = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile, "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buf = b""
        self.next_id = 0
        self.session = None

    def call(self, method, timeout=30, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self.buf:
                if time.monotonic() > deadline:
                    raise AssertionError("no answer from chromium to " + method)
                chunk = os.read(self.from_browser, 65536)
                if not chunk:
                    raise AssertionError("chromium closed the pipe (exit %s)" % self.proc.poll())
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:  # events and others are not waited for
                if "error" in reply:
                    raise AssertionError("%s: %s" % (method, reply["error"]))
                return reply["result"]

    def open(self, url):
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]

    def js(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError("%s: %s" % (expression, r["exceptionDetails"]))
        return r["result"].get("value")

    def close(self):
        with contextlib.suppress(OSError, AssertionError):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


class StatusPageServedTest(unittest.TestCase):
    """What the agent serves at "/", without a browser."""

    @classmethod
    def setUpClass(cls):
        cls.agent = Agent().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)

    def test_get_serves_html(self):
        code, headers, body = http_get(self.agent.port, "/")
        self.assertEqual(code, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(int(headers["Content-Length"]), len(body.encode()))
        self.assertTrue(body.startswith("<!doctype html>"))
        for path in ("/metrics", "/status", "/healthz"):
            self.assertIn('href="%s"' % path, body)

    def test_content_security_policy_header(self):
        code, headers, body = http_get(self.agent.port, "/")
        self.assertEqual(code, 200)
        header = headers["Content-Security-Policy"]
        self.assertEqual(header, CSP)
        # The page's own <meta> policy says no more than the header does.
        (meta,) = re.findall(r'<meta http-equiv="Content-Security-Policy"\s+content="([^"]*)"',
                             body)
        self.assertLessEqual(directives(meta).items(), directives(header).items())
        # The other paths are data, not documents: no policy needed there.
        self.assertNotIn("Content-Security-Policy", http_get(self.agent.port, "/status")[1])

    def test_head_has_the_headers_and_no_body(self):
        _, _, body = http_get(self.agent.port, "/")
        code, headers, head_body = http_get(self.agent.port, "/", method="HEAD")
        self.assertEqual(code, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(int(headers["Content-Length"]), len(body.encode()))
        self.assertEqual(head_body, "")

    def test_self_contained_and_small(self):
        _, _, body = http_get(self.agent.port, "/")
        self.assertLess(len(body.encode()), 16 * 1024, "a few KB")
        # Every src/href/url() is a path on the agent itself: no external asset.
        refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', body) + re.findall(r"url\(", body)
        self.assertTrue(refs)
        for ref in refs:
            self.assertRegex(ref, r"^/[a-z]*$")
        self.assertNotRegex(body, r"https?://")
        self.assertIn("<style>", body)
        self.assertIn("<script>", body)
        self.assertNotIn("<script src", body)
        self.assertNotIn("<link", body)


class StatusPageInChromiumTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need_binary("chromium")
        cls.work = tempfile.mkdtemp(prefix="nodehealth-e2e-page-")
        kubelet = os.path.join(cls.work, "kubelet.yaml")
        write(kubelet, KUBELET % "100Mi")
        cls.agent = Agent(config=CONFIG % kubelet, workdir=cls.work).__enter__()
        try:
            wait_until(lambda: cls.agent.condition("MemoryPressure")["status"] == "False", 20,
                       what="MemoryPressure False")
            time.sleep(1.1)  # so that the change has a later transition time than the start
            write(kubelet + ".new", KUBELET % "1Ti")  # more than any machine has: met
            os.rename(kubelet + ".new", kubelet)
            wait_until(lambda: cls.agent.condition("MemoryPressure")["status"] == "True", 30,
                       what="MemoryPressure True after the kubelet configuration changed")
            url = "http://127.0.0.1:%d/" % cls.agent.port
            cls.dom = chromium(url, "--dump-dom")
            cls.status = cls.agent.status()
            os.makedirs(ARTIFACTS, exist_ok=True)
            if os.path.exists(SCREENSHOT):
                os.remove(SCREENSHOT)
            chromium(url, "--screenshot=" + SCREENSHOT, "--window-size=1280,900",
                     "--hide-scrollbars")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "agent", None) is not None:
            cls.agent.__exit__(None, None, None)
            cls.agent = None
        shutil.rmtree(cls.work, ignore_errors=True)

    def rendered_conditions(self):
        return re.findall(r'<tr class="cond" data-type="(\w+)" data-status="(\w+)">', self.dom)

    def test_conditions_are_the_agents(self):
        rendered = self.rendered_conditions()
        want = [(c["type"], c["status"]) for c in self.status["conditions"]]
        self.assertEqual([t for t, _ in rendered], [t for t, _ in want])
        got = dict(rendered)
        # The forced ones, whatever this machine does meanwhile.
        self.assertEqual(got["MemoryPressure"], "True")
        self.assertEqual(got["DefaultRouteUnavailable"], "Unknown")
        self.assertEqual(got["DiskPressure"], "False")
        # Contention can move with this machine's load between the render and the check.
        steady = {t for t, s in want if not t.endswith("Contention")}
        for t, s in want:
            if t in steady:
                self.assertEqual(got[t], s, t)

    def test_conditions_have_colour_and_age(self):
        for status in ("True", "False", "Unknown"):
            self.assertRegex(self.dom, r'<span class="pill %s">%s</span>' % (status, status))
        self.assertRegex(self.dom, r">since \d+[smhd]<")
        self.assertRegex(self.dom, r"\d+ True, \d+ Unknown, \d+ False")

    def test_reason_and_message_are_shown(self):
        mp = next(c for c in self.status["conditions"] if c["type"] == "MemoryPressure")
        self.assertIn("%s: %s" % (mp["reason"], mp["message"]), self.dom)

    def test_signals_as_bars_against_thresholds(self):
        for s in self.status["signals"]:
            self.assertIn("<b>%s</b>" % s["signal"], self.dom)
        self.assertIn('class="sig met"', self.dom)  # memory.available below 1Ti
        self.assertIn('class="mark"', self.dom)
        self.assertIn("hard threshold 1.0 TiB: met, evicting", self.dom)

    def test_sources(self):
        for s in self.status["sources"]:
            self.assertRegex(self.dom, r'<span class="dot %s"></span>%s' %
                             ("up" if s["up"] else "down", re.escape(s["name"])))

    def test_the_change_is_listed(self):
        # The agent's own history, in /status (newest first) and on the page.
        (change,) = [e for e in self.status["events"]
                     if e["kind"] == "ConditionChanged" and e["type"] == "MemoryPressure"]
        self.assertEqual((change["from"], change["to"]), ("False", "True"))
        self.assertEqual(change["reason"], "KubeletHasInsufficientMemory")
        changes = self.dom[self.dom.index('id="changes"'):]
        changes = changes[:changes.index("</table>")]
        self.assertRegex(changes, r"<td>MemoryPressure</td><td><span class=\"m\">False →"
                                  r"</span></td><td><span class=\"pill True\">True</span>")

    def test_links(self):
        for path in ("/metrics", "/status", "/healthz"):
            self.assertIn('href="%s"' % path, self.dom)

    def test_screenshot_written(self):
        with open(SCREENSHOT, "rb") as f:
            head = f.read(24)
        self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", head[16:24])
        self.assertEqual((width, height), (1280, 900))
        self.assertGreater(os.path.getsize(SCREENSHOT), 20000, "a blank page is much smaller")
        print("  screenshot: " + os.path.relpath(SCREENSHOT))


class StatusPageRefreshTest(unittest.TestCase):
    """The page, open in chromium, follows the agent without a reload."""

    def test_a_condition_change_shows_without_reload_within_the_refresh_period(self):
        need_binary("chromium")
        work = tempfile.mkdtemp(prefix="nodehealth-e2e-page-refresh-")
        self.addCleanup(shutil.rmtree, work, True)
        kubelet = os.path.join(work, "kubelet.yaml")
        write(kubelet, KUBELET % "100Mi")
        with Agent(config=CONFIG % kubelet, workdir=work) as agent:
            wait_until(lambda: agent.condition("MemoryPressure")["status"] == "False", 20,
                       what="MemoryPressure False")
            browser = Browser()
            self.addCleanup(browser.close)
            browser.open("http://127.0.0.1:%d/" % agent.port)
            shown = ('(document.querySelector(\'tr.cond[data-type="MemoryPressure"]\') || '
                     '{dataset: {}}).dataset.status || null')
            self.assertEqual(wait_until(lambda: browser.js(shown), 30, interval=0.2,
                                        what="the page rendered"), "False")
            # A mark in this document, and every CSP violation it reports from now on.
            origin = browser.js("window.nhMark = 42; window.nhViolations = []; "
                                "document.addEventListener('securitypolicyviolation', e => "
                                "nhViolations.push(e.effectiveDirective + ' ' + e.blockedURI)); "
                                "performance.timeOrigin")

            write(kubelet + ".new", KUBELET % "1Ti")  # more than any machine has: met
            os.rename(kubelet + ".new", kubelet)
            wait_until(lambda: agent.condition("MemoryPressure")["status"] == "True", 30,
                       interval=0.1, what="MemoryPressure True in the agent")
            agent_at = time.monotonic()
            wait_until(lambda: browser.js(shown) == "True", 30, interval=0.2,
                       what="MemoryPressure True on the open page")
            lag = time.monotonic() - agent_at
            print("  the page showed the change %.1fs after the agent" % lag)
            # One refresh period, plus a read of /status and a render on a busy machine.
            self.assertLess(lag, REFRESH_SECONDS + 5)
            # The same document: not reloaded, not navigated.
            self.assertEqual(browser.js("window.nhMark"), 42)
            self.assertEqual(browser.js("performance.timeOrigin"), origin)
            self.assertEqual(browser.js("performance.getEntriesByType('navigation').length"), 1)
            self.assertIn("MemoryPressure", browser.js(
                "document.getElementById('changes').textContent"))
            # Its own reads of /status broke no rule; a request to another origin (another
            # port on this host) is stopped by the policy before it leaves the browser.
            self.assertEqual(browser.js("nhViolations"), [])
            blocked = browser.js(
                "fetch('http://127.0.0.1:9/nodehealth-test').then(() => 'sent', e => e.name)")
            self.assertEqual(blocked, "TypeError")
            wait_until(lambda: browser.js("nhViolations.length") > 0, 10, interval=0.2,
                       what="the CSP violation reported")
            # Reported once per policy in force: the header's and the page's <meta>.
            wait_until(lambda: browser.js("nhViolations.length") == 2, 10, interval=0.2,
                       what="both policies reporting")
            self.assertEqual(browser.js("nhViolations"),
                             ["connect-src http://127.0.0.1:9/nodehealth-test"] * 2)


if __name__ == "__main__":
    unittest.main()
