"""PSI triggers wake the agent, as root: with sampleInterval 1h (the longest allowed) the
timer alone would take no sample after the first one for about an hour, so every later
sample is one a PSI trigger asked for. A memory-limited test cgroup (cgroup v1 memory
controller here) thrashing on a file four times its limit stalls on memory; the agent's
default trigger (some 200ms per 2s on /proc/pressure/memory) must then sample within
seconds. The refaults stall on memory and IO at once, so both of the agent's triggers fire
together and its log names the one it read first; the test arms a memory-only trigger of
its own with the same spec and checks that the agent's wake-ups coincide with it.
Bounded: a 64 MiB cgroup, a 256 MiB file, 30 s of thrashing, all removed."""
import datetime
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import Agent, need, need_root, wait_until
from test_pressure import THRASHER, memory_v1_root

MiB = 1024 * 1024


def wakeups(logs, since):
    """(unix time, resource) of each PSI-trigger wake-up logged at or after `since`. Memory and
    IO stalls usually cross their triggers together (a refault waits on both); the agent
    samples once for both (at most one extra sample per 100ms) and logs the first."""
    out = []
    for stamp, resource in re.findall(
            r"^(\S+)Z debug psi trigger: (\w+) stalls, sampling now$", logs, re.M):
        t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        if t >= since:
            out.append((t, resource))
    return out


class MemoryTrigger:
    """A PSI trigger of the test's own on /proc/pressure/memory: the times it fires."""

    def __init__(self, stall_us=200000, window_us=2000000):
        self.fd = os.open("/proc/pressure/memory", os.O_RDWR | os.O_NONBLOCK)
        os.write(self.fd, b"some %d %d\0" % (stall_us, window_us))
        self.times = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        p = select.poll()
        p.register(self.fd, select.POLLPRI)
        while not self.stop.is_set():
            for _, ev in p.poll(200):
                if ev & select.POLLPRI:
                    self.times.append(time.time())

    def close(self):
        self.stop.set()
        self.thread.join()
        os.close(self.fd)


def memory_stall_total(agent):
    m = re.search(r'^nodehealth_psi_stall_seconds_total\{scope="node",resource="memory",'
                  r'kind="some"\} (\S+)$', agent.metrics(), re.M)
    return float(m.group(1))


def last_sample(agent):
    m = re.search(r"^nodehealth_last_sample_timestamp_seconds (\S+)$", agent.metrics(), re.M)
    return float(m.group(1))


class PsiWakeupTest(unittest.TestCase):
    def setUp(self):
        need_root()
        need(os.path.isdir("/proc/pressure"), "kernel without PSI")
        self.v1 = memory_v1_root()
        need(self.v1 is not None, "no cgroup v1 memory controller")
        self.cgroup = os.path.join(self.v1, "nodehealth-test-psiwake-%d" % os.getpid())
        os.mkdir(self.cgroup)
        self.file = tempfile.NamedTemporaryFile(prefix="nodehealth-test-thrash-", dir="/var/tmp",
                                                delete=False)
        self.procs = []
        self.trigger = None

    def tearDown(self):
        if self.trigger:
            self.trigger.close()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.file.close()
        os.unlink(self.file.name)
        wait_until(lambda: not open(os.path.join(self.cgroup, "cgroup.procs")).read().strip(), 10,
                   what="the test cgroup to empty")
        os.rmdir(self.cgroup)

    def test_memory_stall_samples_long_before_the_tick(self):
        with open(os.path.join(self.cgroup, "memory.limit_in_bytes"), "w") as f:
            f.write(str(64 * MiB))
        chunk = os.urandom(MiB)
        for _ in range(256):
            self.file.write(chunk)
        self.file.flush()
        os.fsync(self.file.fileno())
        # Probes off: an OOM-kill event would wake the loop too. The trigger settings are the
        # defaults (psiTriggers.enabled true, stall 200ms, window 2s).
        config = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 1h
logLevel: debug
probes:
  enabled: false
"""
        with Agent(config=config) as agent:
            self.assertIn("psi triggers armed: some 200ms per 2s on memory and io", agent.logs())
            first = last_sample(agent)
            first_stall = memory_stall_total(agent)
            first_status = agent.status()["sampledAt"]
            # The triggers watch the whole node: other work may stall and wake the agent before
            # the test does. What counts is a wake-up after our stall began.
            background = len(wakeups(agent.logs(), 0))

            procs_file = os.path.join(self.cgroup, "cgroup.procs")

            def enter_cgroup():
                with open(procs_file, "w") as f:
                    f.write(str(os.getpid()))

            self.trigger = MemoryTrigger()
            started = time.time()
            for _ in range(2):
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-c", THRASHER, self.file.name, "30"],
                    preexec_fn=enter_cgroup))
            woken = wait_until(lambda: wakeups(agent.logs(), started), 20, interval=0.2,
                               what="a PSI trigger wake-up after the stall began")
            took = woken[0][0] - started
            # The woken sample is served: /metrics moved past the first sample to one taken at
            # the wake-up (the 1h timer would take the next in about 57 minutes).
            self.assertGreater(last_sample(agent), first)
            self.assertGreaterEqual(last_sample(agent), woken[0][0] - 0.5)
            # The stalls go on, and so do the wake-ups (at most one per 2s trigger window), and
            # the woken samples carry the memory stall: at least our 200ms trigger's worth.
            more = wait_until(lambda: (lambda w: w if len(w) >= 3 else None)(
                wakeups(agent.logs(), started)), 20, interval=0.2, what="three wake-ups")
            self.assertGreater(memory_stall_total(agent) - first_stall, 0.2)
            # /status too (whole seconds; three wake-ups are at least 4 s after the first sample).
            self.assertNotEqual(agent.status()["sampledAt"], first_status)
            # The wake-ups are ones the memory trigger asked for too: the test's own memory
            # trigger fired within 0.3 s of them (the PSI poller checks every trigger at once).
            # At least two, not all: other work on the node may add IO-only wake-ups.
            time.sleep(0.5)  # the test's poll thread catches up
            fired = list(self.trigger.times)
            matched = [t for t, _ in more if any(abs(t - f) < 0.3 for f in fired)]
            self.assertGreaterEqual(len(matched), 2, (more, fired))
            print("\npsi wake-up: first wake-up %.2f s after the stall began (sampleInterval "
                  "1h), %d wake-ups in %.0f s (%s), %d with the memory trigger, %d before it"
                  % (took, len(more), more[-1][0] - started,
                     ", ".join(sorted({r for _, r in more})), len(matched), background))


if __name__ == "__main__":
    unittest.main()
