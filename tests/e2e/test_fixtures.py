"""`nodehealth status` on the fixture trees (hybrid, pure v2, pure v1, garbage):
signals agree with an independent calculation; failures degrade to Unknown."""
import json
import os
import unittest

import nodecalc
from harness import FIXTURES, run_cli


def status(case, *extra):
    root = os.path.join(FIXTURES, case)
    r = run_cli("status", "-o", "json", "--host-root", root, *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), root


class FixtureStatusTest(unittest.TestCase):
    def check_signals(self, case):
        doc, root = status(case)
        proc, sys_root = os.path.join(root, "proc"), os.path.join(root, "sys")
        mem = nodecalc.signal(doc, "memory.available")
        self.assertEqual((mem["available"], mem["capacity"]),
                         nodecalc.memory_available(proc, sys_root))
        alloc = nodecalc.signal(doc, "allocatableMemory.available")
        want = nodecalc.allocatable_available(proc, sys_root)
        self.assertEqual((alloc["available"], alloc["capacity"]), want or (None, None))
        pid = nodecalc.signal(doc, "pid.available")
        self.assertEqual((pid["available"], pid["capacity"]), nodecalc.pid_available(proc))
        self.assertEqual(mem["thresholds"][0]["value"], 100 * 1024 * 1024)  # kubelet default
        up = {s["name"]: s["up"] for s in doc["sources"]}
        for src in ("meminfo", "cgroup_memory", "kubepods", "pids", "psi", "network"):
            self.assertTrue(up[src], (case, src, doc["sources"]))
        return doc

    def test_debian12_hybrid_uses_v1_memory(self):
        doc = self.check_signals("debian12-hybrid")
        self.assertEqual(nodecalc.condition(doc, "DefaultRouteUnavailable")["status"], "False")
        self.assertEqual(doc["network"]["interface"], "eth0")

    def test_cgroup_v2_uses_root_memory_stat(self):
        doc = self.check_signals("cgroup-v2")
        self.assertEqual(doc["network"]["interface"], "ens5")
        self.assertIsNotNone(nodecalc.signal(doc, "allocatableMemory.available")["available"])
        # Pod-level PSI from kubepods.slice: the kubepods contention conditions appear.
        self.assertEqual(nodecalc.condition(doc, "KubepodsMemoryContention")["status"], "False")

    def test_cgroup_v1_without_psi_and_without_default_route(self):
        doc = self.check_signals("cgroup-v1")
        c = nodecalc.condition(doc, "DefaultRouteUnavailable")
        self.assertEqual((c["status"], c["reason"]), ("True", "NoDefaultRoute"))

    def test_garbage_degrades_to_unknown_and_names_the_file(self):
        doc, root = status("garbage")
        down = {s["name"]: s.get("error", "") for s in doc["sources"] if not s["up"]}
        self.assertIn("meminfo", down)
        self.assertIn(os.path.join(root, "proc", "meminfo"), down["meminfo"])
        self.assertIn("pids", down)
        mem = nodecalc.condition(doc, "MemoryPressure")
        self.assertEqual(mem["status"], "Unknown")
        self.assertIn("source meminfo is down", mem["message"])

    def test_table_looks_like_kubectl_describe_node(self):
        root = os.path.join(FIXTURES, "debian12-hybrid")
        r = run_cli("status", "--host-root", root, "--node-name", "worker-1")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "Node: worker-1")
        self.assertEqual(lines[1], "Conditions:")
        self.assertRegex(lines[2], r"^  Type\s+Status\s+LastHeartbeatTime\s+LastTransitionTime\s+"
                                   r"Reason\s+Message$")
        self.assertRegex(r.stdout, r"\n  MemoryPressure\s+False\s+\w{3}, \d\d \w{3} \d{4} "
                                   r"\d\d:\d\d:\d\d \+0000\s+.*KubeletHasSufficientMemory\s+"
                                   r"kubelet has sufficient memory available\n")
        self.assertIn("Signals:", lines)
        self.assertRegex(r.stdout, r"\n  memory\.available\s+\S+\s+100Mi hard\s+\S+\s+-\s+no\n")
        self.assertIn("Sources:", lines)

    def test_json_conditions_are_node_conditions(self):
        doc, _ = status("debian12-hybrid")
        keys = {"type", "status", "lastHeartbeatTime", "lastTransitionTime", "reason", "message"}
        types = [c["type"] for c in doc["conditions"]]
        self.assertEqual(types, ["MemoryPressure", "DiskPressure", "PIDPressure",
                                 "DefaultRouteUnavailable", "MemoryContention", "DiskContention",
                                 "MemoryEvictionImminent", "DiskEvictionImminent",
                                 "PIDEvictionImminent", "CheckpointArchivesExposed"])
        for c in doc["conditions"]:
            self.assertEqual(set(c), keys)
            self.assertIn(c["status"], ("True", "False", "Unknown"))
            self.assertRegex(c["lastTransitionTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class RequiredFeaturesTest(unittest.TestCase):
    """requiredFeatures: KernelRequirementsMissing on the feature fixture trees (facts §5)."""

    def required(self, case):
        import tempfile
        from harness import write
        d = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        path = os.path.join(d, "config.yaml")
        write(path, "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                    "requiredFeatures: [cgroup_v2, psi]\n")
        doc, _ = status(os.path.join("features", case), "--config", path)
        return nodecalc.condition(doc, "KernelRequirementsMissing")

    def test_cgroup_v2_node_meets_the_requirements(self):
        c = self.required("ubuntu-5.15")
        self.assertEqual((c["status"], c["reason"]), ("False", "RequiredFeaturesPresent"))

    def test_cgroup_v1_node_misses_cgroup_v2(self):
        c = self.required("el8-4.18")
        self.assertEqual((c["status"], c["reason"]), ("True", "RequiredFeatureMissing"))
        self.assertEqual(c["message"], "required but not supported here: cgroup_v2")


if __name__ == "__main__":
    unittest.main()
