"""Real memory pressure and real memory contention, as root, bounded and cleaned up:
- MemoryPressure turns True when a stress-ng allocation crosses a threshold set
  about 512 MiB below the current memory.available, and clears after it ends;
- MemoryContention (PSI) turns True while a 64 MiB memory-limited test cgroup
  thrashes on a file four times its size."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import nodecalc
from harness import Agent, need, need_binary, need_root, run_cli, wait_until

MiB = 1024 * 1024
THRASHER = r"""
import mmap, os, random, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # re-read inside our cgroup
m = mmap.mmap(fd, size, prot=mmap.PROT_READ)
pages, end = size // 4096, time.monotonic() + secs
while time.monotonic() < end:
    for _ in range(100):
        m[random.randrange(pages) * 4096]
"""


def memory_v1_root():
    _, v1 = nodecalc.cgroup_mounts("/proc")
    return v1


class MemoryPressureTest(unittest.TestCase):
    def setUp(self):
        need_root()
        need_binary("stress-ng")
        self.stress = None

    def tearDown(self):
        if self.stress and self.stress.poll() is None:
            self.stress.kill()
            self.stress.wait()

    def test_allocation_turns_memory_pressure_true_then_false(self):
        r = run_cli("status", "-o", "json")
        available = nodecalc.signal(json.loads(r.stdout), "memory.available")["available"]
        need(available > 2048 * MiB, "needs 2 GiB of available memory")
        threshold_mi = int(available // MiB) - 512
        config = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 200ms
evictionPressureTransitionPeriod: 2s
evictionHard:
  memory.available: %dMi
""" % threshold_mi
        with Agent(config=config) as agent:
            self.assertEqual(agent.condition("MemoryPressure")["status"], "False")
            # 1 GiB, touched and kept, for at most 60 s.
            self.stress = subprocess.Popen(
                ["stress-ng", "--vm", "1", "--vm-bytes", "1G", "--vm-keep", "--vm-populate",
                 "--timeout", "60s", "--quiet"], stdout=subprocess.DEVNULL)
            wait_until(lambda: agent.condition("MemoryPressure")["status"] == "True", 45,
                       what="MemoryPressure True")
            c = agent.condition("MemoryPressure")
            self.assertEqual(c["reason"], "KubeletHasInsufficientMemory")
            sig = agent.signal("memory.available")
            self.assertTrue(sig["thresholds"][0]["met"])
            self.stress.kill()
            self.stress.wait()
            wait_until(lambda: agent.condition("MemoryPressure")["status"] == "False", 30,
                       what="MemoryPressure False")
            self.assertIn("condition changed: MemoryPressure False -> True", agent.logs())


class MemoryContentionTest(unittest.TestCase):
    def setUp(self):
        need_root()
        need(os.path.isdir("/proc/pressure"), "kernel without PSI")
        self.v1 = memory_v1_root()
        need(self.v1 is not None, "no cgroup v1 memory controller (v2 nodes: see fixtures)")
        self.cgroup = os.path.join(self.v1, "nodehealth-test-psi-%d" % os.getpid())
        os.mkdir(self.cgroup)
        self.file = tempfile.NamedTemporaryFile(prefix="nodehealth-test-thrash-", dir="/var/tmp",
                                                delete=False)
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.file.close()
        os.unlink(self.file.name)
        os.rmdir(self.cgroup)

    def test_thrashing_cgroup_sets_memory_contention(self):
        with open(os.path.join(self.cgroup, "memory.limit_in_bytes"), "w") as f:
            f.write(str(64 * MiB))
        chunk = os.urandom(MiB)
        for _ in range(256):
            self.file.write(chunk)
        self.file.flush()
        os.fsync(self.file.fileno())
        config = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 500ms
contention:
  memoryStallPercent: 2
"""
        with Agent(config=config) as agent:
            self.assertEqual(agent.condition("MemoryContention")["status"], "False")
            procs = os.path.join(self.cgroup, "cgroup.procs")

            def enter_cgroup():
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))

            self.proc = subprocess.Popen([sys.executable, "-c", THRASHER, self.file.name, "90"],
                                         preexec_fn=enter_cgroup)
            c = wait_until(lambda: (lambda c: c if c["status"] == "True" else None)(
                agent.condition("MemoryContention")), 90, interval=0.5,
                what="MemoryContention True")
            self.assertEqual(c["reason"], "MemoryStallsHigh")
            self.assertIn("condition changed: MemoryContention False -> True", agent.logs())
            self.assertRegex(agent.metrics(),
                             r'nodehealth_psi_stall_ratio\{scope="node",resource="memory",'
                             r'kind="some",window="10s"\} 0\.[0-9]*[1-9]')


if __name__ == "__main__":
    unittest.main()
