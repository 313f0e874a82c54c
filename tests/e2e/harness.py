"""Shared pieces of the end-to-end tests: start the real binary, talk to it over
HTTP on loopback, wait for conditions with a deadline, clean up what we start."""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("NODEHEALTH_BIN", os.path.join(ROOT, "build", "nodehealth"))
# The SANITIZE=1 build (`make test SANITIZE=1`): its binary links the sanitizer runtimes.
SANITIZER_RUNTIMES = ("libasan.so", "libubsan.so", "liblsan.so", "libtsan.so")


def _sanitized(path):
    """Whether the binary's dynamic string table (in its first pages) names a sanitizer runtime."""
    try:
        with open(path, "rb") as f:
            data = f.read(4 << 20)
    except OSError:
        return False
    return any(r.encode() in data for r in SANITIZER_RUNTIMES)


SANITIZED = _sanitized(BIN)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
REQUIRE_PRIVILEGED = os.environ.get("NODEHEALTH_REQUIRE_PRIVILEGED") == "1"


def need(condition, reason):
    """Skips the test when `condition` is false, or fails it when CI demands the
    privileged tests run (NODEHEALTH_REQUIRE_PRIVILEGED=1)."""
    if condition:
        return
    if REQUIRE_PRIVILEGED:
        raise AssertionError("required facility missing (NODEHEALTH_REQUIRE_PRIVILEGED=1): " + reason)
    raise unittest.SkipTest(reason)


def need_root():
    need(os.geteuid() == 0, "needs root")


def need_binary(name):
    need(shutil.which(name) is not None, name + " is not installed")


def wait_until(fn, timeout, interval=0.1, what="condition"):
    """Calls fn until it returns a truthy value; returns it, or raises after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, urllib.error.URLError, ValueError) as e:  # not up yet
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def run_cli(*args, check=False, timeout=30):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          check=check)


def http_get(port, path, method="GET", timeout=5):
    """(status, headers, body) of a request to the agent on loopback."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


# What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print on a finding (the
# suite also runs on the SANITIZE=1 build, whose reports go to stderr, into the agent's log).
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
STOP_TIMEOUT = 20  # seconds from SIGTERM to exit (the Kubernetes sink's last write takes <= 5)


def sanitizer_report(log):
    """The first line of a sanitizer report in the log, or None."""
    for line in log.splitlines():
        if any(r in line for r in SANITIZER_REPORTS):
            return line
    return None


class Agent:
    """`nodehealth run` on 127.0.0.1 with an ephemeral port, as a context manager. On exit it
    sends SIGTERM (if the agent still runs) and asserts the agent exited with expect_exit (0,
    a clean shutdown, unless a test ends it otherwise on purpose: it then passes the status it
    expects, e.g. -signal.SIGKILL, or None with a comment saying why it cannot know) within
    STOP_TIMEOUT, and that its log holds no sanitizer report."""

    def __init__(self, *args, config=None, workdir=None, expect_exit=0):
        self.expect_exit = expect_exit
        # A workdir of our own (config, log) is removed at exit; one the caller gave is theirs.
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="nodehealth-e2e-")
        self.final_log = None  # the log, kept in memory once the workdir is gone
        self.args = list(args)
        if config is not None:
            path = os.path.join(self.workdir, "config.yaml")
            write(path, config)
            self.args += ["--config", path]
        self.log_path = os.path.join(self.workdir, "agent.log")
        self.proc = None
        self.port = None

    def __enter__(self):
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([BIN, "run", "--listen-address", "127.0.0.1:0", *self.args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.port = int(wait_until(self._port, 20, what="agent to listen"))
            wait_until(lambda: http_get(self.port, "/healthz")[0] == 200, 20, what="/healthz 200")
            # /healthz answers from the first sample; the event sources armed from it and the
            # sandbox follow. A test starts from the steady state: the sandbox line logged.
            wait_until(self._sandboxed, 20, what="the sandbox line")
        except BaseException:  # no __exit__ follows a failed __enter__: end the agent here
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            raise
        return self

    def _running(self):
        if self.proc.poll() is not None:
            raise AssertionError("agent exited with %s:\n%s" % (self.proc.returncode, self.logs()))

    def _sandboxed(self):
        self._running()
        return "sandbox: " in self.logs()

    def _port(self):
        self._running()
        m = re.search(r"nodehealth started: .* port=(\d+)", self.logs())
        return m.group(1) if m else None

    def logs(self):
        if self.final_log is not None:
            return self.final_log
        with open(self.log_path) as f:
            return f.read()

    def status(self):
        code, _, body = http_get(self.port, "/status")
        assert code == 200, body
        return json.loads(body)

    def condition(self, ctype):
        for c in self.status()["conditions"]:
            if c["type"] == ctype:
                return c
        raise AssertionError("no condition " + ctype)

    def headroom(self, name):
        """The signal's available amount above its nearest threshold, as the agent sees it."""
        s = self.signal(name)
        return s["available"] - max(t["value"] for t in s["thresholds"] if "value" in t)

    def signal(self, name):
        for s in self.status()["signals"]:
            if s["signal"] == name:
                return s
        raise AssertionError("no signal " + name)

    def metrics(self):
        code, _, body = http_get(self.port, "/metrics")
        assert code == 200, body
        return body

    def __exit__(self, exc_type, exc, tb):
        hung = False
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                hung = True
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.proc is None:
            self._remove_workdir()
            return False
        log = self.logs()
        self._remove_workdir()
        report = sanitizer_report(log)
        problems = []
        if report:
            problems.append("sanitizer report in the agent's log: " + report)
        if hung:
            problems.append("the agent did not exit within %ds of SIGTERM" % STOP_TIMEOUT)
        elif self.expect_exit is not None and self.proc.returncode != self.expect_exit:
            problems.append("the agent exited with %s, expected %s"
                            % (self.proc.returncode, self.expect_exit))
        # A failure of the test body is not hidden behind an exit status it probably caused; a
        # sanitizer report is raised anyway (it may be the cause), chained to that failure.
        if problems and (exc_type is None or report):
            raise AssertionError("; ".join(problems) + "\n--- agent log (last 40 lines) ---\n" +
                                 "\n".join(log.splitlines()[-40:]))
        return False

    def _remove_workdir(self):
        if not self.own_workdir:
            return
        with contextlib.suppress(OSError):
            self.final_log = self.logs()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def agent_with_headroom(make_config, signal, current, margin, slack, **kw):
    """An agent whose `signal` stands `margin` above its threshold as the agent itself sees it:
    the threshold is set from `current()` (the test's own reading) less `margin`, and the agent
    is started again (up to 3 times) while the node has drifted by more than `slack` between
    the reading and the agent's first sample (processes or memory of an earlier test going
    away). make_config(threshold) gives the agent's configuration."""
    for attempt in range(3):
        agent_cm = Agent(config=make_config(current() - margin), **kw)
        agent = agent_cm.__enter__()
        try:
            head = agent.headroom(signal)
            if 0 < head <= margin + slack or attempt == 2:
                break
        except BaseException:
            agent_cm.__exit__(None, None, None)
            raise
        agent_cm.__exit__(None, None, None)
    try:
        assert 0 < head <= margin + slack, "%s headroom %s, want (0, %s]" % (signal, head,
                                                                        margin + slack)
        yield agent
    finally:
        agent_cm.__exit__(None, None, None)
