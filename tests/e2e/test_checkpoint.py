"""`nodehealth checkpoint-cost` on the real binary: predicted checkpoint archive size and dump time
per container (facts §6) on the fixture trees and on this node, the audit of the checkpoint
directory, --measure, and the exit codes."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

from harness import FIXTURES, Agent, need, need_root, run_cli, wait_until

CK = os.path.join(FIXTURES, "checkpoint")
MiB = 1 << 20
APP = "4d2a7c9e1b3f5a6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c"


def cost(*args, rc=0):
    r = run_cli("checkpoint-cost", *args, timeout=120)
    if r.returncode != rc:
        raise AssertionError("exit %d, want %d\nstdout:\n%s\nstderr:\n%s"
                             % (r.returncode, rc, r.stdout, r.stderr))
    return r


def cost_json(*args, rc=0):
    return json.loads(cost("-o", "json", *args, rc=rc).stdout)


def memory_hierarchy():
    """Mount point of the v1 memory controller, or of cgroup2 when it delegates memory."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    v2 = None
    for m in mounts:
        sep = m.index("-")
        fstype, options = m[sep + 1], m[sep + 3].split(",")
        if m[3] != "/":
            continue
        if fstype == "cgroup" and "memory" in options:
            return m[4]
        if fstype == "cgroup2":
            v2 = m[4]
    if v2:
        with open(os.path.join(v2, "cgroup.subtree_control")) as f:
            if "memory" in f.read().split():
                return v2
    return None


class UsageTest(unittest.TestCase):
    def test_help(self):
        r = cost("--help")
        self.assertTrue(r.stdout.startswith("Usage: nodehealth checkpoint-cost"))
        self.assertIn("--checkpoint-dir DIR", r.stdout)
        self.assertIn("--measure", r.stdout)

    def test_bad_usage_exits_2(self):
        for args in (["--bogus"], ["-o", "yaml"], ["--top", "many"], ["--checkpoint-dir", "rel"],
                     ["--measure=1"], ["extra"]):
            r = cost(*args, rc=2)
            self.assertEqual(r.stdout, "", args)
            self.assertTrue(r.stderr.startswith("nodehealth: "), args)

    def test_no_memory_hierarchy_exits_1(self):
        r = cost("--host-root", os.path.join(CK, "no-memory-controller"), rc=1)
        self.assertIn("has no memory controller", r.stderr)
        self.assertIn("Checkpoint directory:", r.stdout)  # the audit still runs


class FixtureTest(unittest.TestCase):
    """tests/fixtures/checkpoint/<case> (see each PROVENANCE)."""

    def test_kubernetes_systemd_v1(self):
        out = cost_json("--host-root", os.path.join(CK, "k8s-systemd-v1"))
        est = out["estimate"]
        self.assertTrue(est["kubernetes"])
        self.assertEqual(est["estimated"], 5)
        rows = {c["containerID"]: c for c in est["containers"]}
        app = rows[APP]
        self.assertEqual(app["podUID"], "5f3e9a1c-7b2d-4c1e-9f0a-3b8d6e2c1a47")
        self.assertEqual((app["namespace"], app["pod"], app["container"]),
                         ("shop", "web-7d9f8b6c5-x2x4q", "app"))
        self.assertEqual(app["processes"], 3)  # two in the scope, one in its nested init.scope
        self.assertEqual(app["anonymousBytes"], (47868 + 268 + 108) * 1024)
        self.assertEqual(app["shmemBytes"], 8192 * 1024)
        self.assertEqual(app["rootfsDiffBytes"], 10 * 512 + 1536 + 10240 + 1024)
        self.assertEqual(app["predictedBytes"], app["memoryBytes"] + app["rootfsDiffBytes"]
                         + app["logBytes"] + app["metadataBytes"])
        self.assertAlmostEqual(app["predictedSeconds"], app["predictedBytes"] * 7 / 1e9)
        worker = rows["c0ffee00d15ea5e0c0ffee00d15ea5e0c0ffee00d15ea5e0c0ffee00d15ea5e0"]
        self.assertEqual(worker["vanishedProcesses"], 1)
        self.assertIn("1 process exited during the walk (pid 203)", worker["problems"])
        self.assertEqual(worker["fileCowBytes"], 5580 * 1024)
        db = rows["deadbeef0123456789abcdefdeadbeef0123456789abcdefdeadbeef01234567"]
        self.assertEqual(db["source"], "memory.stat")
        self.assertTrue(db["estimate"])
        sizes = [c["predictedBytes"] for c in est["containers"]]
        self.assertEqual(sizes, sorted(sizes, reverse=True))
        self.assertEqual(est["totalPredictedBytes"], sum(sizes))

    def test_kubernetes_table(self):
        out = cost("--host-root", os.path.join(CK, "k8s-systemd-v1"), "--top", "2").stdout
        self.assertIn("(Kubernetes containers)", out)
        self.assertIn("... 3 more not shown (--top)", out)
        self.assertIn("Total:       ", out)
        self.assertIn("Space:       ", out)

    def test_cgroupfs_v2_crio(self):
        est = cost_json("--host-root", os.path.join(CK, "cgroupfs-v2"))["estimate"]
        self.assertEqual(est["hierarchy"], "cgroup v2 at /sys/fs/cgroup")
        self.assertEqual([c["runtime"] for c in est["containers"]], ["crio", ""])
        self.assertEqual([c["qosClass"] for c in est["containers"]], ["burstable", "guaranteed"])

    def test_plain_host(self):
        est = cost_json("--host-root", os.path.join(CK, "plain-host"))["estimate"]
        self.assertFalse(est["kubernetes"])
        self.assertEqual([c["cgroup"] for c in est["containers"]],
                         ["/user.slice/user-1000.slice/session-3.scope",
                          "/system.slice/nginx.service"])


class AuditTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-ckpt-")
        self.addCleanup(shutil.rmtree, self.dir)

    def archive(self, name, size, mode):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(b"\0" * size)
        os.chmod(path, mode)
        return path

    def test_the_agents_condition_names_the_exposed_archives(self):
        need_root()  # root-owned archives: only the mode exposes them
        os.chmod(self.dir, 0o700)
        self.archive("checkpoint-a.tar", 1024, 0o644)
        self.archive("checkpoint-b.tar", 1024, 0o600)
        self.archive("checkpoint-c.tar", 1024, 0o604)
        cfg = ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
               "checkpointDir: %s\nprobes:\n  enabled: false\n" % self.dir)
        with Agent(config=cfg) as agent:
            c = wait_until(lambda: (lambda c: c if c["status"] == "True" else None)(
                agent.condition("CheckpointArchivesExposed")), 30, interval=0.5,
                what="CheckpointArchivesExposed True")
        self.assertEqual(c["reason"], "CheckpointArchivesReadable")
        self.assertEqual(c["message"],
                         "2 checkpoint archive(s) in %s readable by users other than root: "
                         "checkpoint-a.tar (mode 0644), checkpoint-c.tar (mode 0604)" % self.dir)

    def test_findings_name_every_exposed_archive(self):
        os.chmod(self.dir, 0o755)
        exposed = self.archive("checkpoint-web-0_default-nginx-2026-11-25T10:11:12Z.tar", 2048,
                               0o644)
        fine = self.archive("checkpoint-db-0_prod-pg-2026-11-25T11:00:00+01:00.tar", 1024, 0o600)
        out = cost_json("--checkpoint-dir", self.dir)
        a = out["audit"]
        self.assertTrue(a["exists"])
        self.assertEqual(a["dirMode"], "0755")
        self.assertFalse(a["dirModeOK"])
        self.assertEqual(a["archiveCount"], 2)
        self.assertEqual(a["archiveBytes"], 3072)
        paths = {f["path"]: f for f in a["archives"]}
        self.assertEqual(paths[exposed]["namespace"], "default")
        self.assertEqual(paths[fine]["checkpointTime"], "2026-11-25T10:00:00Z")
        kinds = sorted((f["path"], f["kind"]) for f in a["findings"])
        expected = [(self.dir, "dir-mode"), (exposed, "mode")]
        if os.geteuid() != 0:  # files we own are not root's
            expected += [(exposed, "owner"), (fine, "owner")]
        self.assertEqual(kinds, sorted(expected))
        self.assertEqual(a["exposedArchives"], 1 if os.geteuid() == 0 else 2)
        table = cost("--checkpoint-dir", self.dir).stdout
        self.assertIn("WRONG (want root, 0700)", table)
        self.assertIn(exposed + ": mode 0644, want 0600: readable by group and others", table)

    def test_clean_directory(self):
        need_root()
        os.chmod(self.dir, 0o700)
        self.archive("checkpoint-web-0_default-nginx-2026-11-25T10:11:12Z.tar", 10, 0o600)
        a = cost_json("--checkpoint-dir", self.dir)["audit"]
        self.assertTrue(a["dirModeOK"])
        self.assertEqual(a["findings"], [])
        self.assertEqual(a["exposedArchives"], 0)


# Touches 48 MiB of anonymous and 8 MiB of MAP_SHARED anonymous memory once told to, then waits.
CHILD = r"""
import mmap, sys
sys.stdin.readline()
a = bytearray(48 << 20)
for i in range(0, len(a), 4096): a[i] = 1
s = mmap.mmap(-1, 8 << 20)
for i in range(0, len(s), 4096): s[i] = 1
print("ready", flush=True)
sys.stdin.readline()
"""


class RealNodeTest(unittest.TestCase):
    """This node: a test cgroup nodehealth-test-* under the memory controller, removed after."""

    def setUp(self):
        need_root()
        self.hierarchy = memory_hierarchy()
        need(self.hierarchy is not None, "no memory cgroup hierarchy")

    def test_whole_node(self):
        out = cost_json()
        est = out["estimate"]
        self.assertIn(self.hierarchy, est["hierarchy"])
        self.assertEqual(est["throughput"]["source"], "assumed")
        self.assertIsNotNone(est["availableBytes"])
        for c in est["containers"]:
            self.assertGreater(c["processes"], 0)
            self.assertGreaterEqual(c["predictedBytes"], c["memoryBytes"])
        self.assertEqual(out["audit"]["dir"], "/var/lib/kubelet/checkpoints")

    def test_cgroup_with_known_memory(self):
        name = "nodehealth-test-e2e-%d" % os.getpid()
        path = os.path.join(self.hierarchy, name)
        os.mkdir(path)
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)

        def cleanup():
            child.kill()
            child.wait()
            os.rmdir(path)
        self.addCleanup(cleanup)
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write("%d\n" % child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        self.assertEqual(child.stdout.readline().strip(), "ready")

        est = cost_json("--cgroup", "/" + name)["estimate"]
        self.assertFalse(est["kubernetes"])
        self.assertEqual(len(est["containers"]), 1)
        c = est["containers"][0]
        self.assertEqual(c["cgroup"], "/" + name)
        self.assertEqual(c["processes"], 1)
        self.assertEqual(c["source"], "smaps_rollup")
        # What it touched, plus the interpreter's own few MiB; shared memory on its own.
        self.assertGreaterEqual(c["anonymousBytes"], 48 * MiB)
        self.assertLess(c["anonymousBytes"], (48 + 32) * MiB)
        self.assertGreaterEqual(c["shmemBytes"], 8 * MiB)
        self.assertLess(c["shmemBytes"], 8 * MiB * 1.05)
        self.assertIsNone(c["rootfsDiffBytes"])  # "/" of a host process is no overlay
        with open("/proc/%d/smaps_rollup" % child.pid) as f:
            rollup = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f if l.endswith("kB\n")}
        self.assertEqual(c["anonymousBytes"], rollup["Anonymous"])
        self.assertEqual(c["shmemBytes"], rollup["Pss_Shmem"])

    def test_a_checkpoint_directory_too_small(self):
        """The checkpoint directory on a real 4 MiB tmpfs (mounted by the test, unmounted
        after): the 48 MiB + 8 MiB process of CHILD cannot fit, a sleep can."""
        need(shutil.which("mount") is not None, "no mount(8)")
        d = tempfile.mkdtemp(prefix="nodehealth-test-ckpt-space-")
        self.addCleanup(os.rmdir, d)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700",
                        "nodehealth-test-ckpt-space", d], check=True)
        self.addCleanup(subprocess.run, ["umount", d], check=True)
        parent = "nodehealth-test-space-%d" % os.getpid()
        big, small = (os.path.join(self.hierarchy, parent, n) for n in ("big", "small"))
        os.mkdir(os.path.join(self.hierarchy, parent))
        self.addCleanup(os.rmdir, os.path.join(self.hierarchy, parent))
        for p in (big, small):
            os.mkdir(p)
            self.addCleanup(os.rmdir, p)
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        sleeper = subprocess.Popen(["sleep", "300"])

        def stop():
            for p in (child, sleeper):
                p.kill()
                p.wait()
        self.addCleanup(stop)
        for pid, path in ((child.pid, big), (sleeper.pid, small)):
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write("%d\n" % pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        self.assertEqual(child.stdout.readline().strip(), "ready")

        est = cost_json("--cgroup", "/" + parent, "--checkpoint-dir", d)["estimate"]
        vfs = os.statvfs(d)
        free = vfs.f_bavail * vfs.f_frsize
        self.assertEqual(free, 4 * MiB)
        self.assertEqual(est["spacePath"], d)
        self.assertEqual(est["availableBytes"], free)
        rows = {c["cgroup"]: c for c in est["containers"]}
        self.assertEqual(sorted(rows), ["/%s/big" % parent, "/%s/small" % parent])
        b, s = rows["/%s/big" % parent], rows["/%s/small" % parent]
        self.assertGreater(b["predictedBytes"], 56 * MiB)
        self.assertFalse(b["fits"])
        self.assertLess(s["predictedBytes"], free)
        self.assertTrue(s["fits"])
        self.assertFalse(est["allFit"])
        table = cost("--cgroup", "/" + parent, "--checkpoint-dir", d).stdout
        self.assertRegex(table, r"\n  /%s/big +.* no\n" % parent)
        self.assertRegex(table, r"\n  /%s/small +.* yes\n" % parent)
        self.assertIn("4.0 MiB free on the filesystem of %s: NOT all fit" % d, table)

        # The agent's series for the same rows (its checkpoints source estimates the whole
        # node at start, the 20 largest: the 56+ MiB cgroup is among them).
        cfg = ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
               "checkpointDir: %s\nprobes:\n  enabled: false\n" % d)
        with Agent(config=cfg) as agent:
            def scraped():
                t = agent.metrics()
                return t if 'cgroup="/%s/big"' % parent in t else None
            text = wait_until(scraped, 60, interval=0.5, what="the big cgroup's series")
        series = {}
        for line in text.splitlines():
            m = re.match(r'(nodehealth_checkpoint_\w+)\{pod_uid="",container_id="",'
                         r'cgroup="/%s/(\w+)"\} (\S+)$' % re.escape(parent), line)
            if m:
                series[(m.group(1), m.group(2))] = float(m.group(3))
        self.assertEqual(series[("nodehealth_checkpoint_fits", "big")], 0)
        big_bytes = series[("nodehealth_checkpoint_predicted_bytes", "big")]
        self.assertGreater(big_bytes, 56 * MiB)
        self.assertAlmostEqual(series[("nodehealth_checkpoint_predicted_seconds", "big")],
                               big_bytes * 7 / 1e9)
        if ("nodehealth_checkpoint_fits", "small") in series:  # when among the 20 largest
            self.assertEqual(series[("nodehealth_checkpoint_fits", "small")], 1)

    def test_measure_writes_and_removes_its_test_file(self):
        d = tempfile.mkdtemp(prefix="nodehealth-e2e-measure-", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, d)
        target = os.path.join(d, "checkpoints")  # absent: its parent is measured
        est = cost_json("--measure", "--checkpoint-dir", target, "--top", "1")["estimate"]
        t = est["throughput"]
        self.assertEqual(t["source"], "measured")
        self.assertEqual(t["measuredBytes"], 64 * MiB)
        self.assertEqual(t["measuredPath"], d)
        self.assertGreater(t["measuredBytesPerSecond"], 0)
        self.assertEqual(t["bytesPerSecond"], min(1e9, t["measuredBytesPerSecond"]))
        self.assertEqual(os.listdir(d), [])  # nodehealth-test-* removed
        self.assertEqual(est["spacePath"], d)


if __name__ == "__main__":
    unittest.main()
