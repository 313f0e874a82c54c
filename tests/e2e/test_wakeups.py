"""Kernel events wake the agent, as root. With sampleInterval 1h (the longest allowed) the
timer takes no sample after the first for an hour, so a sample that follows is one an event
asked for. (The fork probe's wake-ups for PID pressure are tested in test_probes.)

Filesystem events (fanotify FAN_CLOSE_WRITE on nodefs/imagefs, agent/sources/fs_watch.h), on
a 64 MiB tmpfs test filesystem: a 60 MiB fallocate must turn DiskPressure True within
seconds; small files written and closed must not sample (they move the filesystem by less
than 1%); with filesystemEvents.enabled false nothing is armed and the fill stays unseen.

Memory threshold events (cgroup v1's memory.usage_in_bytes notification, agent/sources/
memcg_threshold.h): with memory.available's threshold 256 MiB below its value, a 1 GiB
allocation must turn MemoryPressure True within seconds.

Bounded: one 64 MiB tmpfs, unmounted afterwards; one python3 holding at most 1 GiB for at most
30 s."""
import json
import os
import subprocess
import sys
import time
import unittest

import nodecalc
from harness import Agent, agent_with_headroom, need, need_root, run_cli, wait_until
from test_kubernetes import empty, fill, small_fs
from test_pressure import memory_v1_root
from test_psi_wakeup import last_sample

MiB = 1024 * 1024
# 8 MiB written every 20 ms up to 1 GiB, then held; at most 30 s in all.
GROW = """
import time
held, start = [], time.monotonic()
while len(held) < 128:
    held.append(bytearray(b"\\x01") * (8 << 20))
    time.sleep(0.02)
time.sleep(max(0.0, 30 - (time.monotonic() - start)))
"""


# Probes and PSI triggers off: an OOM kill or a stall elsewhere would sample too.
QUIET = ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
         "sampleInterval: 1h\nlogLevel: debug\n"
         "probes:\n  enabled: false\npsiTriggers:\n  enabled: false\n")


def config(mnt, extra=""):
    return QUIET + "filesystems:\n  nodefs: %s\n  imagefs: %s\n%s" % (mnt, mnt, extra)


class FilesystemEventsTest(unittest.TestCase):
    def setUp(self):
        need_root()

    def test_a_large_write_samples_at_once_small_files_do_not(self):
        with small_fs() as mnt, Agent(config=config(mnt)) as agent:
            self.assertIn("filesystem events armed: nodefs %s (tmpfs)" % mnt, agent.logs())
            self.assertEqual(agent.condition("DiskPressure")["status"], "False")
            first = last_sample(agent)
            # Twenty 4 KiB files, each written and closed: events, but no 1% move.
            for i in range(20):
                with open(os.path.join(mnt, "small-%d" % i), "wb") as f:
                    f.write(b"x" * 4096)
            time.sleep(0.5)  # several of the queue's 100 ms reads
            self.assertEqual(last_sample(agent), first)
            self.assertNotIn("filesystem event: disk usage moved", agent.logs())
            started = time.monotonic()
            fill(mnt)
            wait_until(lambda: agent.condition("DiskPressure")["status"] == "True", 5,
                       interval=0.01, what="DiskPressure True after the fill")
            took = time.monotonic() - started
            self.assertIn("filesystem event: disk usage moved, sampling now", agent.logs())
            self.assertIn("condition changed: DiskPressure False -> True", agent.logs())
            self.assertLess(took, 2.0)  # the timer's next sample is an hour away
            empty(mnt)

    def test_off_when_disabled(self):
        with small_fs() as mnt, \
                Agent(config=config(mnt, "filesystemEvents:\n  enabled: false\n")) as agent:
            self.assertNotIn("filesystem events armed", agent.logs())
            first = last_sample(agent)
            fill(mnt)
            time.sleep(1.0)
            self.assertEqual(last_sample(agent), first)
            self.assertEqual(agent.condition("DiskPressure")["status"], "False")
            empty(mnt)


class MemoryThresholdEventsTest(unittest.TestCase):
    def setUp(self):
        need_root()
        need(memory_v1_root() is not None,
             "no cgroup v1 memory controller (cgroup v2 has no usage notification)")
        self.stress = None

    def tearDown(self):
        if self.stress and self.stress.poll() is None:
            self.stress.kill()
            self.stress.wait()

    def test_an_allocation_past_the_threshold_samples_at_once(self):
        def reading():
            r = run_cli("status", "-o", "json")
            return nodecalc.signal(json.loads(r.stdout), "memory.available")["available"]

        need(reading() > 2048 * MiB, "needs 2 GiB of available memory")
        extra = "filesystemEvents:\n  enabled: false\nevictionHard:\n  memory.available: %dMi\n"

        # 256 MiB above the threshold as the agent sees it (up to 512 MiB if the node drifts).
        with agent_with_headroom(lambda t: QUIET + extra % (int(t) // MiB), "memory.available",
                                 reading, margin=256 * MiB, slack=256 * MiB) as agent:
            self.assertRegex(agent.logs(), r"memory threshold events armed on \S+memory\.usage_in_bytes at \d+ MiB")
            self.assertEqual(agent.condition("MemoryPressure")["status"], "False")
            started = time.monotonic()
            # 1 GiB against a 256 MiB margin, so the root cgroup's usage still crosses the level
            # when the kernel meets part of it by reclaiming page cache (which lowers
            # memory.available without raising usage: the notification cannot see that). It
            # grows over about 2.5 s, so the charges go on past the kernel's periodic flush of
            # the cgroup statistics that the root's usage is read from.
            self.stress = subprocess.Popen([sys.executable, "-c", GROW])
            try:
                wait_until(lambda: agent.condition("MemoryPressure")["status"] == "True", 20,
                           interval=0.02, what="MemoryPressure True after 1 GiB")
            except AssertionError:
                with open(os.path.join(memory_v1_root(), "memory.usage_in_bytes")) as f:
                    usage = int(f.read())
                raise AssertionError("root usage now %d MiB, headroom %d MiB; agent log:\n%s" % (
                    usage >> 20, agent.headroom("memory.available") // MiB, agent.logs()[-3000:]))
            self.assertLess(time.monotonic() - started, 20)  # the timer is an hour away
            self.assertIn("memory threshold event: usage crossed", agent.logs())
            self.assertIn("condition changed: MemoryPressure False -> True", agent.logs())

    def test_off_when_disabled(self):
        with Agent(config=QUIET + "memoryThresholdEvents:\n  enabled: false\n") as agent:
            self.assertNotIn("memory threshold events armed", agent.logs())


if __name__ == "__main__":
    unittest.main()
