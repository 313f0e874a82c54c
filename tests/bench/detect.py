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

On the Node object: every trial also runs the agent's Kubernetes sink against
tests/e2e/kube_standin.py (the e2e suite's stand-in for the kube-apiserver: TLS
with a test CA, a bearer token, strategic merge of status.conditions), so each
trial gives a second figure: the time from the same pressure event to the PATCH
that makes the agent's condition (MemoryEvictionThresholdMet,
DiskEvictionThresholdMet, PIDEvictionThresholdMet) True on the Node, taken from
the stand-in's request log (the moment the request arrived; it is applied
within the same request). The Node is recreated with the kubelet's own
conditions before each trial, so no trial adopts the last one's True.

The kubelet's own figure is its 10 s eviction loop (synchronize every 10 s; on
cgroup v2 it has no memory notifier at all): a uniform phase gives a median of
about 5 s and a worst case of 10 s to its own view; its NodeStatus update
(another 10 s period, patched on change) puts the condition on the Node: about
10 s median and 20 s worst there."""
import contextlib
import datetime
import http.client
import os
import shutil
import subprocess
import tempfile
import threading
import time

import common

MiB = common.MiB
POLL_S = 0.010
TIMEOUT_S = 30.0
KUBELET_LOOP_S = 10.0
KUBELET_STATUS_S = 10.0  # nodeStatusUpdateFrequency
NODE = "nodehealth-test-bench-node"
# The kubelet's and the CNI's own conditions, as a real Node carries them.
KUBELET_CONDITIONS = [
    {"type": t, "status": st, "reason": r, "message": m,
     "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    for t, st, r, m in (
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"))]


def pid_available():
    return common.nodecalc.pid_available("/proc")[0]


def memory_available():
    return common.nodecalc.memory_available("/proc", "/sys")[0]


def fs_available(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


# ----------------------------------------------------------------- the three events

class MemoryEvent:
    name, condition, node_condition = "memory", "MemoryPressure", "MemoryEvictionThresholdMet"
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
    name, condition, node_condition = "disk", "DiskPressure", "DiskEvictionThresholdMet"
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
    name, condition, node_condition = "pids", "PIDPressure", "PIDEvictionThresholdMet"
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
    """'psi trigger', 'filesystem event', 'probe event' or 'memory threshold event' when the
    sample that flipped the condition was one such an event asked for (its debug line at most
    70 ms before the change: the event may wait out the 50 ms gap after the last sample),
    else 'tick'."""
    lines = logs.splitlines()
    for i, line in enumerate(lines):
        if "condition changed: %s False -> True" % condition in line:
            t = _log_time(line)
            for prev in reversed(lines[:i]):
                tp = _log_time(prev)
                if t is None or tp is None or (t - tp).total_seconds() > 0.070:
                    break
                for what in ("psi trigger", "filesystem event", "probe event",
                             "memory threshold event"):
                    if what in prev:
                        return what
            return "tick"
    return None


class Kube:
    """The Kubernetes stand-in (tests/e2e/kube_standin.py) with a test PKI and a kubeconfig
    holding a bearer token, as tests/e2e/test_kubernetes.py starts it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="nodehealth-test-bench-kube-")
        self.standin = None
        try:
            from kube_standin import StandIn, make_pki  # tests/e2e, on common's path
            self.standin = StandIn(make_pki(self.dir)).__enter__()
            self.kubeconfig = self.standin.kubeconfig(os.path.join(self.dir, "kubeconfig"),
                                                      token="test-token")
        except BaseException:
            self.close()
            raise

    def reset_node(self):
        self.standin.add_node(NODE, KUBELET_CONDITIONS)

    def status(self, ctype):
        return self.standin.conditions(NODE).get(ctype, {}).get("status")

    def first_true_patch(self, ctype, since):
        """Arrival time of the first status PATCH (answered 200) setting ctype True."""
        for r in self.standin.requests("PATCH", r"/status$", since=since):
            if r["code"] != 200 or not isinstance(r["body"], dict):
                continue
            for c in r["body"]["status"].get("conditions", []):
                if c.get("type") == ctype and c.get("status") == "True":
                    return r["time"]
        return None

    def close(self):
        if self.standin is not None:
            self.standin.__exit__(None, None, None)
            self.standin = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _status_of(agent, ctype):
    """The condition's status on /status. A refused or dropped connection is retried (twice,
    50 ms apart); an agent that exited is an error carrying the end of its log."""
    for attempt in range(3):
        try:
            return agent.condition(ctype)["status"]
        except (OSError, http.client.HTTPException) as e:
            if agent.proc.poll() is not None:
                raise AssertionError("agent exited with %s:\n%s"
                                     % (agent.proc.returncode, agent.logs()[-3000:])) from e
            if attempt == 2:
                raise
            common.log("detect: /status: %s: %s, retrying" % (type(e).__name__, e))
            time.sleep(0.05)


def trial(event, kube=None):
    skip = event.prepare()
    if skip:
        return {"skipped": skip}
    res = {"threshold": event.threshold}
    config, args = event.config, ("--log-level", "debug")
    if kube is not None:
        kube.reset_node()
        config += "nodeName: %s\n" % NODE
        args += ("--kubeconfig", kube.kubeconfig)
    with common.nodehealth(config=config, args=args) as agent:
        first = _status_of(agent, event.condition)
        if first != "False":
            return {"skipped": "%s was %s before the event" % (event.condition, first)}
        if kube is not None:
            # The first patch: the agent's condition on the Node, False.
            deadline = time.monotonic() + 10
            while kube.status(event.node_condition) != "False" and time.monotonic() < deadline:
                time.sleep(POLL_S)
            if kube.status(event.node_condition) != "False":
                return {"skipped": "%s not False on the Node before the event (%s)"
                        % (event.node_condition, kube.status(event.node_condition))}
        common.jitter_sleep(1.0)
        if event.crossed():
            return {"skipped": "threshold crossed before the event (someone else's load)"}
        t_action = time.monotonic()
        t_event = t_seen = t_node_seen = None
        try:
            event.start()
            deadline = t_action + TIMEOUT_S
            next_poll = t_action
            while time.monotonic() < deadline:
                now = time.monotonic()
                if t_event is None and event.crossed():
                    t_event = now
                if t_seen is None and _status_of(agent, event.condition) == "True":
                    t_seen = time.monotonic()
                if kube is not None and t_node_seen is None and \
                        kube.status(event.node_condition) == "True":
                    t_node_seen = time.monotonic()
                if t_seen is not None and (kube is None or t_node_seen is not None):
                    break
                next_poll += POLL_S
                time.sleep(max(0.0, next_poll - time.monotonic()))
        finally:
            event.undo()
        res["woken_by"] = _woken_by(agent.logs(), event.condition)
    res["event_seen"] = t_event is not None
    if kube is not None:
        t_node = kube.first_true_patch(event.node_condition, t_action)
        res["node_detected"] = t_node is not None and t_node_seen is not None
        if res["node_detected"]:
            # The request log's arrival time; the poll that saw it bounds it from above.
            res["node_action_latency_s"] = t_node - t_action
            res["node_event_latency_s"] = t_node - (t_event if t_event is not None else t_node)
            res["node_poll_lag_s"] = t_node_seen - t_node
    if t_seen is None:
        res["detected"] = False
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


def _summary(trials, kube_skipped=None):
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
    # On the Node object (the Kubernetes sink against the stand-in).
    node = {"skipped": kube_skipped} if kube_skipped else {
        "n": sum(1 for t in trials if "node_detected" in t),
        "detected": sum(1 for t in trials if t.get("node_detected")),
        "missed": sum(1 for t in trials if t.get("node_detected") is False)}
    seen = [t for t in trials if t.get("node_detected")]
    if seen:
        ev = [t["node_event_latency_s"] for t in seen]
        ac = [t["node_action_latency_s"] for t in seen]
        node.update({"event_median_s": common.median(ev), "event_worst_s": max(ev),
                     "action_median_s": common.median(ac), "action_worst_s": max(ac)})
    out["node"] = node
    return out


ALLOCATE = "b = []\nwhile True:\n    b.append(bytearray(1 << 20))\n"


def oom_trials(n):
    """A python allocation in a 32 MiB memory cgroup (v1, else v2) is OOM-killed; latency = first
    /status with RecentOOMKills True - the moment waitpid saw the kill (an upper bound of
    the kill's own time, so this is a lower bound of the true latency's error)."""
    v2, v1 = common.nodecalc.cgroup_mounts("/proc")
    root, limit_file = v1, "memory.limit_in_bytes"
    if v1 is None:
        # cgroup v2: only where the root already hands the memory controller to its children.
        try:
            with open(os.path.join(v2 or "/nonexistent", "cgroup.subtree_control")) as f:
                delegated = "memory" in f.read().split()
        except OSError:
            delegated = False
        if not delegated:
            return {"n": 0, "detected": 0,
                    "skipped": "no memory controller for test cgroups (cgroup v1 memory, or "
                               "memory in the v2 root's cgroup.subtree_control)"}
        root, limit_file = v2, "memory.max"
    lat = []
    for i in range(n):
        cg = os.path.join(root, "nodehealth-test-bench-oom-%d-%d" % (os.getpid(), i))
        os.mkdir(cg)
        try:
            with open(os.path.join(cg, limit_file), "w") as f:
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
           "kubelet_model": {"median_s": KUBELET_LOOP_S / 2, "worst_s": KUBELET_LOOP_S},
           "kubelet_node_model": {"median_s": KUBELET_LOOP_S / 2 + KUBELET_STATUS_S / 2,
                                  "worst_s": KUBELET_LOOP_S + KUBELET_STATUS_S}}
    kube, kube_skipped = None, None
    if not shutil.which("openssl"):
        kube_skipped = "openssl is not installed (the stand-in's test PKI)"
    else:
        try:
            kube = Kube()
        except Exception as e:  # the /status figures still run
            kube_skipped = "stand-in did not start: %s: %s" % (type(e).__name__, e)
    if kube_skipped:
        common.log("detect: no Node figures: " + kube_skipped)
    try:
        with test_tmpfs(DiskEvent.size_mib) as mnt:
            for event in (MemoryEvent(), DiskEvent(mnt), PidEvent()):
                trials = []
                for i in range(opts["trials"]):
                    if not _wait_settled(event):
                        trials.append({"skipped": "signal did not settle back before the trial"})
                        continue
                    t = trial(event, kube)
                    if "skipped" in t:
                        text = "skipped (%s)" % t["skipped"]
                    elif not t["detected"]:
                        text = "NOT DETECTED within %ds" % TIMEOUT_S
                    else:
                        text = "%.0f ms after the event (%s)" % (t["event_latency_s"] * 1e3,
                                                                 t["woken_by"])
                        if kube is not None:
                            text += ("; on the Node %.0f ms" % (t["node_event_latency_s"] * 1e3)
                                     if t.get("node_detected") else "; NOT on the Node")
                    common.log("detect: %s trial %d/%d: %s" % (event.name, i + 1,
                                                               opts["trials"], text))
                    trials.append(t)
                out[event.name] = _summary(trials, kube_skipped)
    finally:
        if kube is not None:
            kube.close()
    out["oom_kill"] = oom_trials(opts["trials"])
    return out

