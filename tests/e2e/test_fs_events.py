"""Filesystem events wake the agent, as root. With sampleInterval 1h (the longest allowed) the
timer takes no sample after the first for an hour, so a sample that follows is one a
filesystem event asked for (fanotify FAN_CLOSE_WRITE on nodefs/imagefs, agent/sources/
fs_watch.h). On a 64 MiB tmpfs test filesystem: a 60 MiB fallocate must turn DiskPressure
True within seconds; small files written and closed must not sample (they move the
filesystem by less than 1%); with filesystemEvents.enabled false nothing is armed and the
fill stays unseen. Bounded: one 64 MiB tmpfs, unmounted afterwards."""
import os
import time
import unittest

from harness import Agent, need_root, wait_until
from test_kubernetes import empty, fill, small_fs
from test_psi_wakeup import last_sample


def config(mnt, extra=""):
    return ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
            "sampleInterval: 1h\nlogLevel: debug\n"
            "filesystems:\n  nodefs: %s\n  imagefs: %s\n"
            # Probes and PSI triggers off: an OOM kill or a stall elsewhere would sample too.
            "probes:\n  enabled: false\npsiTriggers:\n  enabled: false\n%s" % (mnt, mnt, extra))


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


if __name__ == "__main__":
    unittest.main()
