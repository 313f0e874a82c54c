"""The status page at "/": a self-contained HTML document served by the real agent, rendered
by Debian's headless chromium. The agent runs with its thresholds read from a kubelet
configuration file that the test rewrites, so MemoryPressure turns True while it runs;
DefaultRouteUnavailable is Unknown (network source disabled); the rest is this machine's own
state. The rendered DOM must show the agent's condition types and statuses, its signals and
sources, and the change it saw; a screenshot is written to tests/artifacts/status-page.png."""
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
        changes = self.dom[self.dom.index('id="changes"'):]
        changes = changes[:changes.index("</table>")]
        self.assertIn("MemoryPressure", changes)
        self.assertIn('<span class="pill True">True</span>', changes)

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


if __name__ == "__main__":
    unittest.main()
