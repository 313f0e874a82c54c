#!/usr/bin/env python3
"""Soak: `nodehealth run` on the real node (sandbox on, eBPF probes on) for --duration under
rotating, bounded pressure and faults, sampling the agent's RSS, open fds, threads and CPU.

Phases, each about 10 s, in turn until the time is up:
  memory    stress-ng --vm 48 MiB inside a 64 MiB memory cgroup nodehealth-test-soak (OOM kills)
  fork      a burst of 3000 short processes
  disk      fallocate 30 MiB on a 32 MiB tmpfs that is nodefs and imagefs (DiskPressure flips)
  scrapes   400 scrapes of /metrics, /status and /healthz back to back, 50 idle connections
  hung      a FUSE mount over nodefs whose server never answers (statfs times out), then gone
Prints a table of the samples, writes them with the verdict to --out (JSON), and fails (exit 1)
when, after the warm-up, RSS grows beyond --rss-tolerance, the fd or thread count grows, the
agent dies, or a scrape fails."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from test_faults import hung_mount  # noqa: E402  (the FUSE server that never answers)

BIN = os.environ.get("NODEHEALTH_BIN", os.path.join(ROOT, "build", "nodehealth"))
CGROUP = "nodehealth-test-soak"


def parse_duration(text):
    m = re.fullmatch(r"(\d+)(s|m|h)?", text)
    if not m:
        raise argparse.ArgumentTypeError("want N, Ns, Nm or Nh, got %r" % text)
    return int(m.group(1)) * {"s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def proc_sample(pid):
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"rss_kib": int(st["VmRSS"].split()[0]), "fds": len(os.listdir("/proc/%d/fd" % pid)),
            "threads": int(st["Threads"]), "cpu_s": cpu}


def get(port, path, timeout=5):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        r.read()
        return r.status


def slope_per_min(xs, ys):
    """Least-squares slope of ys over xs (seconds), per minute."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


class Soak:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="nodehealth-test-soak-")
        self.fs = os.path.join(self.work, "fs")
        os.mkdir(self.fs)
        self.samples = []
        self.failures = []
        self.phases = {}
        self.stop = threading.Event()
        self.cg = None

    # --- setup ---------------------------------------------------------------------------
    def start(self):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "nodehealth-test", self.fs],
                       check=True)
        cfg = os.path.join(self.work, "config.yaml")
        with open(cfg, "w") as f:
            f.write("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                    "sampleInterval: 1s\nfilesystems:\n  nodefs: %s\n  imagefs: %s\n"
                    "  statfsTimeout: 500ms\n" % (self.fs, self.fs))
        self.log = open(os.path.join(self.work, "agent.log"), "w+")
        self.agent = subprocess.Popen([BIN, "run", "--listen-address", "127.0.0.1:0",
                                       "--config", cfg], stdout=self.log,
                                      stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"nodehealth started: .* port=(\d+)", self.logs())
            if m and "sandbox: seccomp=" in self.logs():
                self.port = int(m.group(1))
                return
            if self.agent.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit("soak: the agent did not start:\n" + self.logs())

    def logs(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def make_cgroup(self):
        base = "/sys/fs/cgroup/memory"
        if os.path.exists(os.path.join(base, "memory.limit_in_bytes")):
            self.cg = os.path.join(base, CGROUP)
            os.makedirs(self.cg, exist_ok=True)
            with open(os.path.join(self.cg, "memory.limit_in_bytes"), "w") as f:
                f.write(str(64 << 20))
        else:  # cgroup v2
            self.cg = os.path.join("/sys/fs/cgroup", CGROUP)
            os.makedirs(self.cg, exist_ok=True)
            with open(os.path.join(self.cg, "memory.max"), "w") as f:
                f.write(str(64 << 20))

    # --- pressure ------------------------------------------------------------------------
    def run_bounded(self, argv, seconds):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            p.wait(seconds + 10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def phase_memory(self):
        self.run_bounded(["sh", "-c", 'echo $$ > %s/cgroup.procs && exec stress-ng --vm 1 '
                          '--vm-bytes 48M --vm-keep --timeout 8s --quiet' % self.cg], 8)

    def phase_fork(self):
        self.run_bounded(["stress-ng", "--fork", "1", "--fork-ops", "3000", "--timeout", "8s",
                          "--quiet"], 8)

    def phase_disk(self):
        path = os.path.join(self.fs, "fill")
        subprocess.run(["fallocate", "-l", "30M", path], check=False)
        time.sleep(6)
        os.unlink(path)
        time.sleep(3)

    def phase_scrapes(self):
        idle = []
        try:
            for _ in range(50):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                idle.append(s)
            for i in range(400):
                self.check_scrape(("/metrics", "/status", "/healthz")[i % 3])
        finally:
            for s in idle:
                s.close()

    def phase_hung(self):
        with hung_mount(self.fs):
            time.sleep(6)
        time.sleep(3)

    def check_scrape(self, path):
        try:
            code = get(self.port, path)
            if code != 200:
                self.failures.append("scrape %s: HTTP %d" % (path, code))
        except OSError as e:
            self.failures.append("scrape %s: %s" % (path, e))

    # --- sampling ------------------------------------------------------------------------
    def sampler(self):
        t0 = self.t0
        while not self.stop.is_set():
            if self.agent.poll() is not None:
                self.failures.append("agent exited with %s" % self.agent.returncode)
                return
            s = proc_sample(self.agent.pid)
            s["t"] = round(time.monotonic() - t0, 1)
            s["phase"] = self.current
            self.samples.append(s)
            self.check_scrape("/metrics")
            self.stop.wait(self.args.sample_every)

    def run(self):
        self.make_cgroup()
        self.start()
        phases = [("memory", self.phase_memory), ("fork", self.phase_fork),
                  ("disk", self.phase_disk), ("scrapes", self.phase_scrapes),
                  ("hung", self.phase_hung)]
        self.current = "start"
        self.t0 = time.monotonic()
        self.first_rotation_s = None
        sampler = threading.Thread(target=self.sampler, daemon=True)
        sampler.start()
        end = time.monotonic() + self.args.duration
        i = 0
        while time.monotonic() < end and self.agent.poll() is None:
            name, fn = phases[i % len(phases)]
            self.current = name
            fn()
            self.phases[name] = self.phases.get(name, 0) + 1
            i += 1
            if i == len(phases):  # every phase has run once: warm-up ends here at the earliest
                self.first_rotation_s = time.monotonic() - self.t0
        self.current = "end"
        time.sleep(self.args.sample_every)
        self.stop.set()
        sampler.join()

    def cleanup(self):
        if self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                rc = self.agent.wait(15)
                if rc != 0:
                    self.failures.append("agent exit status %d after SIGTERM" % rc)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.failures.append("agent did not stop within 15s of SIGTERM")
        subprocess.run(["umount", "-l", self.fs], capture_output=True)
        if self.cg and os.path.isdir(self.cg):
            for _ in range(50):
                try:
                    os.rmdir(self.cg)
                    break
                except OSError:
                    time.sleep(0.1)
        shutil.rmtree(self.work, ignore_errors=True)

    # --- verdict -------------------------------------------------------------------------
    def verdict(self):
        a = self.args
        s = self.samples
        if len(s) < 4:
            self.failures.append("too few samples (%d)" % len(s))
            return {}
        # Warm-up: --warmup, and at least one full rotation (each phase's first run grows the
        # heap once: civetweb workers' and the statfs worker's malloc arenas, error strings).
        self.warmup_s = max(a.warmup, self.first_rotation_s or 0)
        warm = [x for x in s if x["t"] >= self.warmup_s] or s[len(s) // 2:]
        xs = [x["t"] for x in warm]
        rss = [x["rss_kib"] for x in warm]
        rss_slope = slope_per_min(xs, rss)
        window_min = (xs[-1] - xs[0]) / 60 if len(xs) > 1 else 0
        rss_growth = rss_slope * window_min  # KiB over the measured window
        allowed = max(a.rss_tolerance_kib, 0.05 * rss[0])
        head, tail = warm[:3], warm[-3:]
        med = lambda vals: sorted(vals)[len(vals) // 2]  # noqa: E731
        fd_growth = med([x["fds"] for x in tail]) - med([x["fds"] for x in head])
        thr_growth = med([x["threads"] for x in tail]) - med([x["threads"] for x in head])
        cpu = (s[-1]["cpu_s"] - s[0]["cpu_s"]) / max(s[-1]["t"] - s[0]["t"], 1)
        if rss_growth > allowed:
            self.failures.append("RSS grew %.0f KiB after warm-up (%.1f KiB/min), allowed %.0f"
                                 % (rss_growth, rss_slope, allowed))
        if fd_growth > a.fd_tolerance:
            self.failures.append("fds grew by %d after warm-up" % fd_growth)
        if thr_growth > 0:
            self.failures.append("threads grew by %d after warm-up" % thr_growth)
        return {"warmup_s": round(self.warmup_s, 1), "rss_kib_start": s[0]["rss_kib"], "rss_kib_after_warmup": rss[0],
                "rss_kib_end": s[-1]["rss_kib"], "rss_kib_max": max(x["rss_kib"] for x in s),
                "rss_slope_kib_per_min": round(rss_slope, 2),
                "rss_growth_kib": round(rss_growth, 1), "rss_allowed_kib": round(allowed),
                "fds_start": s[0]["fds"], "fds_end": s[-1]["fds"],
                "fds_max": max(x["fds"] for x in s), "fd_growth": fd_growth,
                "threads_start": s[0]["threads"], "threads_end": s[-1]["threads"],
                "cpu_percent_of_a_core": round(100 * cpu, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=parse_duration, default=600)
    ap.add_argument("--sample-every", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before growth counts (default: a fifth of the run, >= 20s)")
    ap.add_argument("--rss-tolerance-kib", type=float, default=2048)
    ap.add_argument("--fd-tolerance", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "artifacts", "soak.json"))
    args = ap.parse_args()
    if args.warmup is None:
        args.warmup = max(20.0, args.duration / 5)
    if os.geteuid() != 0:
        raise SystemExit("soak: needs root (cgroups, tmpfs and FUSE mounts, eBPF probes)")
    for tool in ("stress-ng", "fallocate"):
        if shutil.which(tool) is None:
            raise SystemExit("soak: %s is not installed (scripts/install-deps.sh --test)" % tool)
    soak = Soak(args)
    try:
        soak.run()
    finally:
        soak.cleanup()
    summary = soak.verdict()
    print("%7s  %-8s %9s %5s %7s %8s" % ("t(s)", "phase", "rss(KiB)", "fds", "threads", "cpu(s)"))
    for x in soak.samples:
        print("%7.1f  %-8s %9d %5d %7d %8.2f" % (x["t"], x["phase"], x["rss_kib"], x["fds"],
                                                 x["threads"], x["cpu_s"]))
    print("soak: %s" % json.dumps(summary))
    print("soak: phases run %s" % json.dumps(soak.phases))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"duration_s": args.duration, "warmup_s": args.warmup, "summary": summary,
                   "phases": soak.phases, "failures": soak.failures, "samples": soak.samples},
                  f, indent=1)
    print("soak: samples and summary in %s" % args.out)
    if soak.failures:
        for msg in soak.failures[:20]:
            print("soak: FAIL: " + msg)
        sys.exit(1)
    print("soak: ok (%d samples over %ds, no growth)" % (len(soak.samples), args.duration))


if __name__ == "__main__":
    main()
