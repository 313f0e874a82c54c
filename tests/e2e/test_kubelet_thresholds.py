"""The agent reads the kubelet's configuration file and drop-in directory, reports
the merged thresholds on /metrics, and follows edits without a restart (keeping
the old thresholds when an edit is invalid)."""
import os
import re
import tempfile
import time
import unittest

from harness import Agent, FIXTURES, wait_until, write

HYBRID = os.path.join(FIXTURES, "debian12-hybrid")
KUBELET = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
evictionHard:
  memory.available: 200Mi
  nodefs.available: "10%"
evictionSoft:
  memory.available: 1Gi
evictionSoftGracePeriod:
  memory.available: 1m30s
evictionPressureTransitionPeriod: 30s
"""


def threshold(metrics, signal, kind):
    m = re.search(r'^nodehealth_signal_threshold\{signal="%s",type="%s"\} (\S+)$'
                  % (re.escape(signal), kind), metrics, re.M)
    return float(m.group(1)) if m else None


class KubeletThresholdsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-kubelet-")
        self.main = os.path.join(self.dir, "config.yaml")
        self.dropins = os.path.join(self.dir, "kubelet.conf.d")
        write(self.main, KUBELET)
        write(os.path.join(self.dropins, "20-memory.conf"),
              "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
              "evictionHard:\n  memory.available: 300Mi\n")
        self.config = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 200ms
kubelet:
  configFile: %s
  configDir: %s
""" % (self.main, self.dropins)

    def test_merged_thresholds_and_live_edits(self):
        with Agent(config=self.config) as agent:  # kubelet paths are host paths
            m = agent.metrics()
            self.assertEqual(threshold(m, "memory.available", "hard"), 300 * 1024 ** 2)  # drop-in
            self.assertEqual(threshold(m, "memory.available", "soft"), 1024 ** 3)
            self.assertIsNotNone(threshold(m, "nodefs.available", "hard"))
            # A partial evictionHard disables the other defaults, as in the kubelet.
            self.assertIsNone(threshold(m, "imagefs.available", "hard"))
            self.assertIn("thresholds from kubelet config", agent.logs())

            # Edit the drop-in: picked up without a restart.
            write(os.path.join(self.dropins, "20-memory.conf"),
                  "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                  "evictionHard:\n  memory.available: 400Mi\n")
            wait_until(lambda: threshold(agent.metrics(), "memory.available", "hard")
                       == 400 * 1024 ** 2, 10, what="the edited threshold on /metrics")
            self.assertRegex(agent.logs(), r"memory.available.*300Mi -> 400Mi")

            # A new drop-in in a subdirectory, sorted after 20-memory.conf.
            write(os.path.join(self.dropins, "30-sub", "10-nodefs.conf"),
                  "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                  "evictionHard:\n  nodefs.available: 1Gi\n")
            wait_until(lambda: threshold(agent.metrics(), "nodefs.available", "hard")
                       == 1024 ** 3, 10, what="the new drop-in's threshold")

            # An invalid edit: logged, the old thresholds stay.
            write(os.path.join(self.dropins, "40-bad.conf"),
                  "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                  "evictionHard:\n  memory.available: 2Gi\n"
                  "evictionSoft:\n  nodefs.available: 20%\n")  # no grace period
            wait_until(lambda: "grace period must be specified for the soft eviction threshold "
                               "nodefs.available" in agent.logs(), 10, what="the error in the log")
            time.sleep(0.5)
            m = agent.metrics()
            self.assertEqual(threshold(m, "memory.available", "soft"), 1024 ** 3)
            self.assertEqual(threshold(m, "memory.available", "hard"), 400 * 1024 ** 2)
            self.assertIn("keeping the previous thresholds", agent.logs())


if __name__ == "__main__":
    unittest.main()
