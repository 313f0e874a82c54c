"""The agent reads the kubelet's configuration file and drop-in directory, reports
the merged thresholds on /metrics, and follows edits without a restart (keeping
the old thresholds when an edit is invalid); `nodehealth status` pointed at the
kubelet's files shows the kubelet's thresholds and makes the kubelet's decisions."""
import json
import math
import os
import re
import shutil
import struct
import tempfile
import time
import unittest

import nodecalc
from harness import Agent, FIXTURES, run_cli, wait_until, write

KUBEADM = os.path.join(FIXTURES, "kubelet", "kubeadm")
UNITS = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "": 1}

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
        self.dir = temp_dir(self, "nodehealth-e2e-kubelet-")
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


def float32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def resolve(text, capacity):
    """A kubelet threshold ("500Mi", "10%") in the signal's unit, as the kubelet resolves it:
    the percentage a float32 (ParsePercentage: float32(value) / 100), times the capacity,
    truncated to a whole quantity."""
    if text.endswith("%"):
        return float(math.trunc(capacity * float32(float32(float(text[:-1])) / 100)))
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|)", text)
    return float(int(m.group(1)) * UNITS[m.group(2)])


def go_duration(text):
    """"2m" and "1m30s" as the agent prints durations ("2m0s", "1m30s")."""
    secs = sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in re.findall(r"(\d+)([hms])",
                                                                              text))
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    return ("%dh%dm%ds" % (h, m, s)) if h else ("%dm%ds" % (m, s)) if m else "%ds" % s


def temp_dir(test, prefix):
    """A fresh directory, removed when the test ends."""
    d = tempfile.mkdtemp(prefix=prefix)
    test.addCleanup(shutil.rmtree, d, True)
    return d


def agent_config(test, kubelet_file, kubelet_dir):
    d = temp_dir(test, "nodehealth-e2e-")
    path = os.path.join(d, "config.yaml")
    write(path, "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                "kubelet:\n  configFile: %s\n  configDir: %s\n" % (kubelet_file, kubelet_dir))
    return path


class StatusShowsKubeletThresholdsTest(unittest.TestCase):
    """`nodehealth status -o json` pointed at kubeadm's config.yaml and a drop-in directory
    (tests/fixtures/kubelet/kubeadm) shows every threshold of the kubelet's effective
    configuration (expected.json, worked out by hand from the kubelet's defaulting and
    merge rules), resolved against this node's capacities."""

    def check_kubeadm_thresholds(self, doc):
        with open(os.path.join(KUBEADM, "expected.json")) as f:
            want = json.load(f)
        hard, soft = want["evictionHard"], want["evictionSoft"]
        grace, reclaim = want["evictionSoftGracePeriod"], want["evictionMinimumReclaim"]
        # enforceNodeAllocatable [pods]: memory.available's hard threshold, with its minimum
        # reclaim, for the pods too (the kubelet's ParseThresholdConfig copies both).
        self.assertEqual(want["enforceNodeAllocatable"], ["pods"])
        hard = dict(hard, **{"allocatableMemory.available": hard["memory.available"]})
        reclaim = dict(reclaim, **{"allocatableMemory.available": reclaim["memory.available"]})
        checked = 0
        for sig in doc["signals"]:
            name, cap = sig["signal"], sig["capacity"]
            got = {t["type"]: t for t in sig["thresholds"]}
            expect = {k: v[name] for k, v in (("hard", hard), ("soft", soft)) if name in v}
            self.assertEqual(set(got), set(expect), name)
            for kind, text in expect.items():
                t = got[kind]
                self.assertEqual(t["configured"], text, (name, kind))
                if cap is None:  # allocatableMemory without a kubepods cgroup on this node
                    self.assertEqual(name, "allocatableMemory.available")
                    self.assertFalse(text.endswith("%"))  # a quantity resolves without one
                self.assertEqual(t["value"], resolve(text, cap), (name, kind, cap))
                if kind == "soft":
                    self.assertEqual(t["gracePeriod"], go_duration(grace[name]), name)
                if name in reclaim:
                    self.assertEqual(t["minimumReclaim"], resolve(reclaim[name], cap), name)
                else:
                    self.assertNotIn("minimumReclaim", t, name)
                checked += 1
        # 5 hard (the defaults merged in), allocatable's hard, 2 soft.
        self.assertEqual(checked, 8)

    def test_status_json_shows_the_kubelets_thresholds(self):
        cfg = agent_config(self, os.path.join(KUBEADM, "config.yaml"),
                           os.path.join(KUBEADM, "conf.d"))
        r = run_cli("status", "-o", "json", "--config", cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_kubeadm_thresholds(json.loads(r.stdout))
        # The table says the same in its Thresholds column.
        r = run_cli("status", "--config", cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\n  memory\.available\s+\S+\s+500Mi hard, 1Gi soft 1m30s\s")
        self.assertRegex(r.stdout, r"\n  nodefs\.available\s+\S+\s+\S+ \(10%\) hard, "
                                   r"\S+ \(15%\) soft 2m0s\s")

    def test_default_kubelet_paths_under_the_host_root(self):
        # No kubelet key in the agent's configuration: the kubeadm paths under --host-root
        # (/var/lib/kubelet/config.yaml, /etc/kubernetes/kubelet.conf.d) are found and read.
        root = temp_dir(self, "nodehealth-e2e-host-")
        os.makedirs(os.path.join(root, "var", "lib", "kubelet"))
        os.makedirs(os.path.join(root, "etc", "kubernetes"))
        shutil.copy(os.path.join(KUBEADM, "config.yaml"),
                    os.path.join(root, "var", "lib", "kubelet", "config.yaml"))
        shutil.copytree(os.path.join(KUBEADM, "conf.d"),
                        os.path.join(root, "etc", "kubernetes", "kubelet.conf.d"))
        r = run_cli("status", "-o", "json", "--host-root", root, "--proc-root", "/proc",
                    "--sys-root", "/sys")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_kubeadm_thresholds(json.loads(r.stdout))

    def kubelet_status(self, dropin):
        d = temp_dir(self, "nodehealth-e2e-kubelet-")
        main = os.path.join(d, "config.yaml")
        write(main, KUBELET)
        write(os.path.join(d, "conf.d", "50-test.conf"),
              "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" + dropin)
        r = run_cli("status", "-o", "json", "--config",
                    agent_config(self, main, os.path.join(d, "conf.d")))
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_status_decides_as_the_kubelet(self):
        # A hard threshold above this node's memory is met at once: MemoryPressure.
        doc = self.kubelet_status("evictionHard:\n  memory.available: 1Ti\n")
        mem = nodecalc.signal(doc, "memory.available")
        self.assertEqual(mem["thresholds"][0]["value"], 2 ** 40)
        self.assertTrue(mem["thresholds"][0]["met"])
        c = nodecalc.condition(doc, "MemoryPressure")
        self.assertEqual((c["status"], c["reason"]), ("True", "KubeletHasInsufficientMemory"))
        # The drop-in's evictionHard is merged key by key into the main file's: nodefs stays.
        self.assertEqual([t["configured"] for t in
                          nodecalc.signal(doc, "nodefs.available")["thresholds"]], ["10%"])

        # A soft threshold above it: met, not yet for its grace period. As in the kubelet, the
        # condition turns True at once; only eviction waits for the grace period.
        doc = self.kubelet_status("evictionSoft:\n  memory.available: 1Ti\n"
                                  "evictionSoftGracePeriod:\n  memory.available: 5m\n")
        soft = [t for t in nodecalc.signal(doc, "memory.available")["thresholds"]
                if t["type"] == "soft"][0]
        self.assertTrue(soft["met"])
        self.assertFalse(soft["gracePeriodMet"])
        self.assertEqual(soft["gracePeriod"], "5m0s")
        hard = [t for t in nodecalc.signal(doc, "memory.available")["thresholds"]
                if t["type"] == "hard"][0]
        self.assertEqual((hard["configured"], hard["met"]), ("200Mi", False))
        c = nodecalc.condition(doc, "MemoryPressure")
        self.assertEqual((c["status"], c["reason"]), ("True", "KubeletHasInsufficientMemory"))

    def test_status_refuses_invalid_kubelet_files_with_the_kubelets_error(self):
        d = temp_dir(self, "nodehealth-e2e-kubelet-")
        main = os.path.join(d, "config.yaml")
        shutil.copy(os.path.join(FIXTURES, "kubelet", "soft-without-grace", "config.yaml"), main)
        os.makedirs(os.path.join(d, "conf.d"))
        r = run_cli("status", "-o", "json", "--config",
                    agent_config(self, main, os.path.join(d, "conf.d")))
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("grace period must be specified for the soft eviction threshold", r.stderr)


if __name__ == "__main__":
    unittest.main()
