"""Detection latency: from a real pressure event to the condition change visible
on /status, at the agent's default 1 s sample interval (what a user runs).

Each trial starts a fresh agent whose threshold sits just past the current
value, waits a random 0..1 s (so the event does not keep one phase against the
agent's tick), starts the event, and then every 10 ms both re-computes the signal
independently (tests/e2e/nodecalc.py, statfs, /proc/loadavg) and reads /status.

  event latency  = first /status showing True - first moment our own reading
                   was past the threshold (the pressure itself);
  action latency = first /status showing True - start of the action.

Events, each bounded in size and time and cleaned up:
  memory  threshold ~256 MiB below memory.available; stress-ng --vm 1
          --vm-bytes 512M --vm-keep --vm-populate --timeout 30s
  disk    64 MiB tmpfs nodehealth-test-bench-* as nodefs and imagefs (default
          thresholds 10% / 15%); fallocate 60 MiB
  pids    threshold 100 below pid.available; 300 `sleep 30` processes

The kubelet's own figure is its 10 s eviction loop (synchronize every 10 s; on
cgroup v2 it has no memory notifier at all): a uniform phase gives a median of
about 5 s and a worst case of 10 s, before its NodeStatus update (another 10 s
period) makes the condition visible."""
import contextlib
import datetime
import os
import subprocess
import threading
import time

import common

MiB = common.MiB
POLL_S = 0.010
TIMEOUT_S = 30.0
KUBELET_LOOP_S = 10.0


def pid_available():
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    with open("/proc/sys/kernel/threads-max") as f:
        threads_max = int(f.read())
    with open("/proc/loadavg") as f:
        tasks = int(f.read().split()[3].split("/")[1])
    return min(pid_max, threads_max) - tasks


def memory_available():
    return common.nodecalc.memory_available("/proc", "/sys")[0]


def fs_available(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


# ----------------------------------------------------------------- the three events

class MemoryEvent:
    name, condition = "memory", "MemoryPressure"
    below_mib, alloc = 256, "512M"

    def prepare(self):
        avail = memory_available()
        if avail < 2048 * MiB:
            return "needs 2 GiB of memory.available, have %d MiB" % (avail // MiB)
        self.threshold = (avail // MiB - self.below_mib) * MiB
        self.config = ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                       "evictionHard:\n  memory.available: %dMi\n" % (self.threshold // MiB))
        self.proc = None
        return None

    def crossed(self):
        return memory_available() < self.threshold

    def start(self):
        self.proc = subprocess.Popen(
            ["stress-ng", "--vm", "1", "--vm-bytes", self.alloc, "--vm-keep", "--vm-populate",
             "--timeout", "30s", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def undo(self):
        common.stop(self.proc)
        self.proc = None

    def settled(self):
        return not self.crossed()


class DiskEvent:
    name, condition = "disk", "DiskPressure"
    size_mib, fill_mib = 64, 60

    def __init__(self, mountpoint):
        self.mnt = mountpoint
        self.filler = os.path.join(mountpoint, "nodehealth-test-filler")

    def prepare(self):
        avail, cap = fs_available(self.mnt)
        # The lowest default threshold to be crossed first: imagefs.available 15%.
        self.threshold = cap * 15 // 100
        self.config = ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                       "filesystems: {nodefs: %s, imagefs: %s}\n" % (self.mnt, self.mnt))
        self.proc = None
        return None

    def crossed(self):
        return fs_available(self.mnt)[0] < self.threshold

    def start(self):
        self.proc = subprocess.Popen(["fallocate", "-l", "%dM" % self.fill_mib, self.filler])

    def undo(self):
        common.stop(self.proc)
        self.proc = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.filler)

    def settled(self):
        return not self.crossed()


class PidEvent:
    name, condition = "pids", "PIDPressure"
    below, spawn = 100, 300

    def prepare(self):
        avail = pid_available()
        if avail < 4 * self.spawn:
            return "only %d PIDs available" % avail
        self.threshold = avail - self.below
        self.config = ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                       "evictionHard:\n  memory.available: 100Mi\n  pid.available: \"%d\"\n"
                       % self.threshold)
        self.procs, self.thread, self.halt = [], None, threading.Event()
        return None

    def crossed(self):
        return pid_available() < self.threshold

    def start(self):
        def spawn():
            for _ in range(self.spawn):
                if self.halt.is_set():
                    return
                self.procs.append(subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL))
        self.thread = threading.Thread(target=spawn, daemon=True)
        self.thread.start()

    def undo(self):
        self.halt.set()
        if self.thread:
            self.thread.join(60)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()
        self.procs = []
        self.halt.clear()

    def settled(self):
        return pid_available() >= self.threshold + self.below // 2


# ----------------------------------------------------------------- one trial

def _log_time(line):
    try:
        return datetime.datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None


def _woken_by(logs, condition):
    """'psi trigger' when the sample that flipped the condition was one a PSI
    trigger asked for (its debug line at most 20 ms before the change), else 'tick'."""
    lines = logs.splitlines()
    for i, line in enumerate(lines):
        if "condition changed: %s False -> True" % condition in line:
            t = _log_time(line)
            for prev in reversed(lines[:i]):
                tp = _log_time(prev)
                if t is None or tp is None or (t - tp).total_seconds() > 0.020:
                    break
                if "psi trigger" in prev:
                    return "psi trigger"
            return "tick"
    return None


def trial(event):
    skip = event.prepare()
    if skip:
        return {"skipped": skip}
    res = {"threshold": event.threshold}
    with common.nodehealth(config=event.config, args=("--log-level", "debug")) as agent:
        first = agent.condition(event.condition)["status"]
        if first != "False":
            return {"skipped": "%s was %s before the event" % (event.condition, first)}
        common.jitter_sleep(1.0)
        if event.crossed():
            return {"skipped": "threshold crossed before the event (someone else's load)"}
        t_action = time.monotonic()
        t_event = t_seen = None
        try:
            event.start()
            deadline = t_action + TIMEOUT_S
            next_poll = t_action
            while time.monotonic() < deadline:
                now = time.monotonic()
                if t_event is None and event.crossed():
                    t_event = now
                if agent.condition(event.condition)["status"] == "True":
                    t_seen = time.monotonic()
                    break
                next_poll += POLL_S
                time.sleep(max(0.0, next_poll - time.monotonic()))
        finally:
            event.undo()
        res["woken_by"] = _woken_by(agent.logs(), event.condition)
    if t_seen is None:
        res["detected"] = False
        res["event_seen"] = t_event is not None
        return res
    res["detected"] = True
    res["action_latency_s"] = t_seen - t_action
    res["event_latency_s"] = t_seen - (t_event if t_event is not None else t_seen)
    res["event_after_action_s"] = (t_event - t_action) if t_event is not None else None
    return res


def _wait_settled(event):
    if not hasattr(event, "threshold"):  # no trial yet
        return True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if event.settled():
            return True
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def test_tmpfs(size_mib):
    path = os.path.join("/tmp", "nodehealth-test-bench-disk-%d" % os.getpid())
    os.makedirs(path, exist_ok=True)
    mounted = False
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mib,
                        "nodehealth-test-bench", path], check=True)
        mounted = True
        yield path
    finally:
        if mounted:
            r = subprocess.run(["umount", path])
            if r.returncode != 0:
                time.sleep(1)
                subprocess.run(["umount", path])
        with contextlib.suppress(OSError):
            os.rmdir(path)


def _summary(trials):
    got = [t for t in trials if t.get("detected")]
    out = {"trials": trials, "n": len(trials), "detected": len(got),
           "missed": sum(1 for t in trials if t.get("detected") is False),
           "skipped": sum(1 for t in trials if "skipped" in t)}
    if got:
        ev = [t["event_latency_s"] for t in got]
        ac = [t["action_latency_s"] for t in got]
        out.update({"event_median_s": common.median(ev), "event_worst_s": max(ev),
                    "action_median_s": common.median(ac), "action_worst_s": max(ac),
                    "woken_by": sorted({t.get("woken_by") or "?" for t in got})})
    return out


ALLOCATE = "b = []\nwhile True:\n    b.append(bytearray(1 << 20))\n"


def oom_trials(n):
    """A python allocation in a 32 MiB v1 memory cgroup is OOM-killed; latency = first
    /status with RecentOOMKills True - the moment waitpid saw the kill (an upper bound of
    the kill's own time, so this is a lower bound of the true latency's error)."""
    _, v1 = common.nodecalc.cgroup_mounts("/proc")
    if v1 is None:
        return {"n": 0, "detected": 0, "skipped": "no cgroup v1 memory controller"}
    lat = []
    for i in range(n):
        cg = os.path.join(v1, "nodehealth-test-bench-oom-%d-%d" % (os.getpid(), i))
        os.mkdir(cg)
        try:
            with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
                f.write(str(32 << 20))
            with common.nodehealth() as agent:
                def enter():
                    with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                        f.write(str(os.getpid()))
                proc = subprocess.Popen(["python3", "-c", ALLOCATE], preexec_fn=enter,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                proc.wait(30)
                t_kill = time.monotonic()
                while time.monotonic() - t_kill < TIMEOUT_S:
                    if agent.condition("RecentOOMKills")["status"] == "True":
                        lat.append(time.monotonic() - t_kill)
                        break
                    time.sleep(POLL_S / 10)
                common.log("detect: oom trial %d/%d: %s" % (
                    i + 1, n, "%.0f ms" % (lat[-1] * 1e3) if len(lat) == i + 1 else "MISSED"))
        finally:
            for _ in range(50):
                try:
                    os.rmdir(cg)
                    break
                except OSError:
                    time.sleep(0.1)
    out = {"n": n, "detected": len(lat), "latencies_s": lat}
    if lat:
        out.update({"median_s": common.median(lat), "worst_s": max(lat)})
    return out


def run(opts):
    """opts: trials."""
    out = {"options": dict(opts), "poll_interval_s": POLL_S, "timeout_s": TIMEOUT_S,
           "kubelet_loop_s": KUBELET_LOOP_S,
           "kubelet_model": {"median_s": KUBELET_LOOP_S / 2, "worst_s": KUBELET_LOOP_S}}
    with test_tmpfs(DiskEvent.size_mib) as mnt:
        for event in (MemoryEvent(), DiskEvent(mnt), PidEvent()):
            trials = []
            for i in range(opts["trials"]):
                if not _wait_settled(event):
                    trials.append({"skipped": "signal did not settle back before the trial"})
                    continue
                t = trial(event)
                common.log("detect: %s trial %d/%d: %s" % (
                    event.name, i + 1, opts["trials"],
                    "skipped (%s)" % t["skipped"] if "skipped" in t else
                    ("%.0f ms after the event (%s)" % (t["event_latency_s"] * 1e3, t["woken_by"])
                     if t["detected"] else "NOT DETECTED within %ds" % TIMEOUT_S)))
                trials.append(t)
            out[event.name] = _summary(trials)
    out["oom_kill"] = oom_trials(opts["trials"])
    out["kubernetes_sink"] = common.NOT_BUILT
    return out

