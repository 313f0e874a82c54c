"""Real-node tests, as root, on this machine: the agent's numbers agree with an
independent calculation from /proc, and real pressure flips real conditions.
Everything created is named nodehealth-test-*, bounded in size and time, and
removed; only processes this test started are ended, by their id."""
import json
import os
import subprocess
import tempfile
import time
import unittest

import nodecalc
from harness import Agent, need, need_root, run_cli

MiB = 1024 * 1024


class RealNodeStatusTest(unittest.TestCase):
    def test_status_json_agrees_with_proc(self):
        need(os.path.isdir("/proc/pressure"), "kernel without PSI")
        before = nodecalc.memory_available("/proc", "/sys")
        r = run_cli("status", "-o", "json")
        after = nodecalc.memory_available("/proc", "/sys")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        mem = nodecalc.signal(doc, "memory.available")
        self.assertEqual(mem["capacity"], before[1])
        lo, hi = min(before[0], after[0]) - 64 * MiB, max(before[0], after[0]) + 64 * MiB
        self.assertTrue(lo <= mem["available"] <= hi, (mem, before, after))

        pid = nodecalc.signal(doc, "pid.available")
        want = nodecalc.pid_available("/proc")
        self.assertEqual(pid["capacity"], want[1])
        self.assertLess(abs(pid["available"] - want[0]), 100, (pid, want))

        st = os.statvfs("/")  # /var/lib/kubelet is absent here: nodefs falls back to /
        nodefs = nodecalc.signal(doc, "nodefs.available")
        self.assertEqual(nodefs["capacity"], st.f_blocks * st.f_frsize)
        self.assertLess(abs(nodefs["available"] - st.f_bavail * st.f_frsize), 256 * MiB)
        for src in doc["sources"]:
            self.assertTrue(src["up"], src)


class DiskPressureTest(unittest.TestCase):
    """A 64 MiB tmpfs configured as nodefs and imagefs is filled past the
    kubelet's default thresholds with fallocate, then emptied."""

    def setUp(self):
        need_root()
        self.dir = tempfile.mkdtemp(prefix="nodehealth-test-disk-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "nodehealth-test", self.dir],
                       check=True)

    def tearDown(self):
        subprocess.run(["umount", "-l", self.dir], check=False)
        os.rmdir(self.dir)

    def test_fallocate_turns_disk_pressure_true_then_false(self):
        config = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 200ms
evictionPressureTransitionPeriod: 3s
filesystems:
  nodefs: %s
  imagefs: %s
""" % (self.dir, self.dir)
        with Agent(config=config) as agent:
            self.assertEqual(agent.condition("DiskPressure")["status"], "False")
            nodefs = agent.signal("nodefs.available")
            self.assertEqual(nodefs["capacity"], 64 * MiB)
            filler = os.path.join(self.dir, "filler")
            subprocess.run(["fallocate", "-l", "60M", filler], check=True)
            c = None

            def pressure():
                nonlocal c
                c = agent.condition("DiskPressure")
                return c["status"] == "True"
            from harness import wait_until
            wait_until(pressure, 30, what="DiskPressure True")
            self.assertEqual(c["reason"], "KubeletHasDiskPressure")
            self.assertTrue(agent.signal("imagefs.available")["thresholds"][0]["met"])
            self.assertIn("condition changed: DiskPressure False -> True", agent.logs())

            os.unlink(filler)
            cleared_at = time.monotonic()
            wait_until(lambda: agent.condition("DiskPressure")["status"] == "False", 30,
                       what="DiskPressure False")
            # The kubelet's transition period (3s here) holds the condition True.
            self.assertGreaterEqual(time.monotonic() - cleared_at, 2.5)
            self.assertIn("condition changed: DiskPressure True -> False", agent.logs())


class PidPressureTest(unittest.TestCase):
    """A pid.available threshold just below the current value is crossed by
    starting a few hundred sleeping processes."""

    def setUp(self):
        need_root()
        self.children = []

    def tearDown(self):
        for p in self.children:
            if p.poll() is None:
                p.kill()
        for p in self.children:
            p.wait()

    def test_sleepers_turn_pid_pressure_true_then_false(self):
        r = run_cli("status", "-o", "json")
        available = nodecalc.signal(json.loads(r.stdout), "pid.available")["available"]
        threshold = int(available) - 150
        config = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 200ms
evictionPressureTransitionPeriod: 2s
evictionHard:
  memory.available: 100Mi
  pid.available: "%d"
""" % threshold
        with Agent(config=config) as agent:
            self.assertEqual(agent.condition("PIDPressure")["status"], "False")
            for _ in range(300):
                self.children.append(subprocess.Popen(["sleep", "120"]))
            from harness import wait_until
            wait_until(lambda: agent.condition("PIDPressure")["status"] == "True", 30,
                       what="PIDPressure True")
            self.assertEqual(agent.condition("PIDPressure")["reason"], "KubeletHasInsufficientPID")
            for p in self.children:
                p.kill()
            for p in self.children:
                p.wait()
            wait_until(lambda: agent.condition("PIDPressure")["status"] == "False", 30,
                       what="PIDPressure False")
            self.assertIn("condition changed: PIDPressure True -> False", agent.logs())


if __name__ == "__main__":
    unittest.main()
