"""Pieces every bench section uses: /proc readers for a process's CPU and memory,
the two processes under test (nodehealth and node_exporter) on loopback ports,
a keep-alive HTTP scraper, small statistics, and cleanup of what we start.

Standard library only. Everything the bench creates is named nodehealth-test-*
and removed; it ends only the processes it started, by pid."""
import contextlib
import http.client
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import harness  # noqa: E402  (tests/e2e: Agent, http_get, wait_until)
import nodecalc  # noqa: E402  (tests/e2e: the independent signal calculation)

BIN = harness.BIN
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
ARTIFACTS = harness.ARTIFACTS
MiB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- /proc readers

def cpu_stat(pid):
    """utime + stime of a whole process (live and dead threads) in seconds, from
    /proc/<pid>/stat. Resolution: one clock tick (1/CLK_TCK s)."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    rest = text[text.rindex(")") + 2:].split()  # rest[0] is field 3 (state)
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def cpu_sched(pid):
    """Sum of the live threads' run time in seconds (ns resolution), from
    /proc/<pid>/task/*/schedstat. A cross-check of cpu_stat with a finer grain;
    it misses threads that exited."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return float("nan")
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            pass
    return total / 1e9


def memory(pid):
    """{'rss', 'hwm', 'rss_anon' (the process's own memory; the rest of the RSS is file
    pages, mostly shared libraries): bytes, 'threads': n} from /proc/<pid>/status."""
    out = {}
    keys = {"VmRSS": "rss", "VmHWM": "hwm", "RssAnon": "rss_anon"}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                out[keys[key]] = int(value.split()[0]) * 1024
            elif key == "Threads":
                out["threads"] = int(value)
    return out


class CpuMark:
    """A point in time for a process: wall clock, stat CPU, schedstat CPU."""

    def __init__(self, pid):
        self.pid = pid
        self.wall = time.monotonic()
        self.stat = cpu_stat(pid)
        self.sched = cpu_sched(pid)

    def since(self, earlier):
        """(wall, stat cpu, sched cpu) seconds elapsed between earlier and self."""
        return (self.wall - earlier.wall, self.stat - earlier.stat, self.sched - earlier.sched)


def idle_rate(pid, seconds):
    """CPU seconds per wall second of an untouched process, measured over `seconds`
    (schedstat, for its grain; stat alongside)."""
    a = CpuMark(pid)
    time.sleep(seconds)
    wall, stat, sched = CpuMark(pid).since(a)
    return {"wall_s": wall, "stat_cpu_s": stat, "sched_cpu_s": sched,
            "rate": sched / wall if not math.isnan(sched) else stat / wall}


# --------------------------------------------------------------------- processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid):
    """Pids of the live descendants of pid (our own children's children), deepest last."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    kids = [int(x) for x in f.read().split()]
                out += kids
                todo += kids
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def stop(proc, grace=5.0):
    """Ends a process we started and everything it started: SIGTERM, then after
    `grace` SIGKILL to it and its descendants, each by pid."""
    if proc is None or proc.poll() is not None:
        return
    kids = descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        kids = descendants(proc.pid) or kids
        proc.kill()
        proc.wait()
    for k in kids:  # workers that outlived their parent (stress-ng's, for one)
        with contextlib.suppress(ProcessLookupError):
            os.kill(k, signal.SIGKILL)


@contextlib.contextmanager
def workdir(tag):
    path = tempfile.mkdtemp(prefix="nodehealth-test-bench-%s-" % tag)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def nodehealth(config=None, args=()):
    """`nodehealth run` on 127.0.0.1:<ephemeral> (the e2e harness's Agent), started
    fresh; yields the harness Agent (proc, port, status(), condition(), logs())."""
    with workdir("agent") as wd:
        agent = harness.Agent(*args, config=config, workdir=wd)
        try:
            agent.__enter__()
        except BaseException:
            stop(agent.proc)
            agent.log.close()
            raise
        try:
            yield agent
        finally:
            stop(agent.proc, grace=10)
            agent.log.close()


class _Peer:
    def __init__(self, proc, port, log_path):
        self.proc, self.port, self.log_path = proc, port, log_path

    def logs(self):
        with open(self.log_path) as f:
            return f.read()


@contextlib.contextmanager
def node_exporter():
    """Debian's prometheus-node-exporter with its default collectors on
    127.0.0.1:<free port>, started fresh. Ready when its landing page answers
    (so that no scrape has run yet)."""
    with workdir("node-exporter") as wd:
        log_path = os.path.join(wd, "node_exporter.log")
        with open(log_path, "w") as logf:
            port = free_port()
            proc = subprocess.Popen(
                [NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                def ready():
                    if proc.poll() is not None:
                        raise AssertionError("node_exporter exited with %s" % proc.returncode)
                    return harness.http_get(port, "/", timeout=2)[0] == 200
                harness.wait_until(ready, 20, what="node_exporter to listen")
                yield _Peer(proc, port, log_path)
            finally:
                stop(proc)


def version_of(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


# --------------------------------------------------------------------- HTTP

class Scraper:
    """GETs on one keep-alive connection (or a new connection per request).
    Reconnects once when the server has closed an idle connection."""

    def __init__(self, port, path="/metrics", keepalive=True, timeout=30):
        self.port, self.path, self.keepalive, self.timeout = port, path, keepalive, timeout
        self.conn = None
        self.reconnects = 0

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def get(self):
        """(latency seconds, status, body bytes)."""
        headers = {} if self.keepalive else {"Connection": "close"}
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", self.path, headers=headers)
                r = self.conn.getresponse()
                body = r.read()
                latency = time.perf_counter() - t0
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.BadStatusLine):
                self.close()
                if attempt:
                    raise
                self.reconnects += 1
                continue
            if not self.keepalive or r.will_close:
                self.close()
            return latency, r.status, body
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def series_count(body):
    """Samples in a Prometheus text exposition: non-comment, non-blank lines."""
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))


def metric_values(body, name):
    """{labels text: value} of one metric family in a text exposition."""
    out = {}
    prefix = name.encode()
    for line in body.split(b"\n"):
        if not line.startswith(prefix):
            continue
        head, _, value = line.rpartition(b" ")
        if head == prefix or head.startswith(prefix + b"{"):
            out[head[len(prefix):].decode()] = float(value)
    return out


# --------------------------------------------------------------------- statistics

def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def least_squares(xs, ys):
    """(slope, intercept, r2) of y = intercept + slope * x."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx if sxx else 0.0
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    r2 = 1 - ss_res / ss_tot if ss_tot else 1.0
    return slope, intercept, r2


def jitter_sleep(max_seconds):
    """A random pause so that an action does not keep one phase against the agent's tick."""
    time.sleep(random.uniform(0, max_seconds))


# --------------------------------------------------------------------- formatting

def fmt_s(seconds, digits=3):
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    a = abs(seconds)
    if a >= 100:
        return "%.0f s" % seconds
    if a >= 1:
        return "%.*g s" % (digits, seconds)
    if a >= 1e-3:
        return "%.*g ms" % (digits, seconds * 1e3)
    return "%.*g µs" % (digits, seconds * 1e6)


def fmt_bytes(n):
    if n is None:
        return "-"
    if n >= MiB:
        return "%.1f MiB" % (n / MiB)
    if n >= 1024:
        return "%.1f KiB" % (n / 1024)
    return "%d B" % n
