"""`nodehealth status` on the fixture trees (hybrid, pure v2, pure v1, garbage):
signals agree with an independent calculation; failures degrade to Unknown."""
import json
import os
import re
import shutil
import unittest

import nodecalc
from harness import FIXTURES, Agent, need, run_cli


def prom_number(x):
    """A value as prometheus-cpp's text serializer writes it (integers without a point)."""
    return "%d" % x if float(x).is_integer() else repr(float(x))


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


class ProcSysRootTest(unittest.TestCase):
    """--proc-root and --sys-root (and the procRoot and sysRoot keys) on their own, without
    --host-root, through `status` and `run`: every value comes from the fixture, none from
    this machine (whose default route is eth0, not the fixture's ens5)."""

    V2 = os.path.join(FIXTURES, "cgroup-v2")

    def check_v2(self, doc):
        proc, sys_root = os.path.join(self.V2, "proc"), os.path.join(self.V2, "sys")
        mem = nodecalc.signal(doc, "memory.available")
        self.assertEqual((mem["available"], mem["capacity"]),
                         nodecalc.memory_available(proc, sys_root))
        alloc = nodecalc.signal(doc, "allocatableMemory.available")
        self.assertEqual((alloc["available"], alloc["capacity"]),
                         nodecalc.allocatable_available(proc, sys_root))
        pid = nodecalc.signal(doc, "pid.available")
        self.assertEqual((pid["available"], pid["capacity"]), nodecalc.pid_available(proc))
        self.assertEqual(doc["network"]["interface"], "ens5")
        up = {s["name"]: s["up"] for s in doc["sources"]}
        for src in ("meminfo", "cgroup_memory", "kubepods", "pids", "psi", "network"):
            self.assertTrue(up[src], (src, doc["sources"]))

    def test_status_with_proc_and_sys_roots(self):
        r = run_cli("status", "-o", "json", "--proc-root", os.path.join(self.V2, "proc"),
                    "--sys-root", os.path.join(self.V2, "sys"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_v2(json.loads(r.stdout))

    def test_status_with_proc_root_and_sys_root_keys(self):
        import tempfile
        from harness import write
        d = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "config.yaml")
        write(path, "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                    "procRoot: %s\nsysRoot: %s\n"
                    % (os.path.join(self.V2, "proc"), os.path.join(self.V2, "sys")))
        r = run_cli("status", "-o", "json", "--config", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_v2(json.loads(r.stdout))

    def test_status_with_proc_root_alone(self):
        # The cgroup-v1 fixture's /proc: its pids, its MemTotal and no default route, while
        # /sys stays this machine's.
        proc = os.path.join(FIXTURES, "cgroup-v1", "proc")
        r = run_cli("status", "-o", "json", "--proc-root", proc)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        pid = nodecalc.signal(doc, "pid.available")
        self.assertEqual((pid["available"], pid["capacity"]), nodecalc.pid_available(proc))
        self.assertEqual(nodecalc.signal(doc, "memory.available")["capacity"],
                         nodecalc.meminfo_total(proc))
        c = nodecalc.condition(doc, "DefaultRouteUnavailable")
        self.assertEqual((c["status"], c["reason"]), ("True", "NoDefaultRoute"))

    def test_status_with_sys_root_alone(self):
        # This machine's /proc (its mountinfo names the cgroup mounts) with the fixture's /sys,
        # captured on a machine of the same layout: the working set is the fixture's.
        sys_root = os.path.join(FIXTURES, "debian12-hybrid", "sys")
        v2, v1 = nodecalc.cgroup_mounts("/proc")
        need(v1 is not None and os.path.isdir(nodecalc.host(sys_root, v1)),
             "this machine's cgroup layout is not the debian12-hybrid fixture's")
        r = run_cli("status", "-o", "json", "--sys-root", sys_root)
        self.assertEqual(r.returncode, 0, r.stderr)
        mem = nodecalc.signal(json.loads(r.stdout), "memory.available")
        self.assertEqual((mem["available"], mem["capacity"]),
                         nodecalc.memory_available("/proc", sys_root))

    def test_run_with_proc_and_sys_roots(self):
        proc, sys_root = os.path.join(self.V2, "proc"), os.path.join(self.V2, "sys")
        pressure = {}
        for res in ("memory", "io"):
            with open(os.path.join(proc, "pressure", res)) as f:
                pressure[res] = f.read()
        config = ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                  "sampleInterval: 200ms\n")
        with Agent("--proc-root", proc, "--sys-root", sys_root, config=config) as agent:
            self.assertIn("proc=%s sys=%s root=/" % (proc, sys_root), agent.logs())
            self.check_v2(agent.status())
            m = agent.metrics()
            want = nodecalc.memory_available(proc, sys_root)[0]
            self.assertRegex(m, r'\nnodehealth_signal_available\{signal="memory.available"\} '
                                + re.escape(prom_number(want)) + r"\n")
            self.assertIn('nodehealth_network_default_route 1', m)
            self.assertIn('nodehealth_network_interface_carrier{interface="ens5"} 1', m)
            # PSI triggers are never written into a copy of /proc: the agent ticks instead.
            self.assertIn("is not on procfs", agent.logs())
        for res, text in pressure.items():
            with open(os.path.join(proc, "pressure", res)) as f:
                self.assertEqual(f.read(), text, res)


class RequiredFeaturesTest(unittest.TestCase):
    """requiredFeatures: KernelRequirementsMissing on the feature fixture trees (facts §5)."""

    def required(self, case):
        import tempfile
        from harness import write
        d = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        self.addCleanup(shutil.rmtree, d, True)
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
