"""A gross guard, not a benchmark (`make bench` measures): the idle agent on the
real node, with its PSI triggers armed, must not spin. A PSI trigger's fd always
polls readable, so watching it for EPOLLIN instead of EPOLLPRI alone once made
the loop spin at 100% of a core; this catches that class of bug."""
import os
import time
import unittest

from harness import Agent, need_root

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


class IdleTest(unittest.TestCase):
    def test_idle_agent_does_not_spin(self):
        need_root()  # PSI triggers are armed as root (procfs, CAP-less 2s windows)
        with Agent() as agent:
            self.assertIn("psi triggers armed", agent.logs())
            before = cpu_seconds(agent.proc.pid)
            time.sleep(5)
            used = cpu_seconds(agent.proc.pid) - before
        # 1 s ticks cost well under 1 ms each; 0.5 s over 5 s would be 10% of a core.
        self.assertLess(used, 0.5, "idle agent used %.2fs of CPU in 5s" % used)


if __name__ == "__main__":
    unittest.main()
