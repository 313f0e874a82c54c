"""Golden end-to-end test: the real binary on each fixture tree, /metrics scraped,
normalised (values that depend on time are masked) and diffed against
tests/golden/<case>.metrics. UPDATE_GOLDEN=1 rewrites the files.
`promtool check metrics` lints every scrape.

The fixture trees hold no filesystem, so each runs from a copy whose /var/lib/kubelet (the
nodefs, and the imagefs with it: no runtime root in the trees) is a fresh tmpfs of a fixed size
and inode count (root): its statfs answers are the same on every machine, and the nodefs and
imagefs signals are diffed like every other value."""
import difflib
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import Agent, FIXTURES, ROOT, need_binary, need_root

GOLDEN = os.path.join(ROOT, "tests", "golden")
CONFIG = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 100ms
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1Ki
  nodefs.inodesFree: "1"
  imagefs.available: 1Ki
  imagefs.inodesFree: "1"
  pid.available: "1000"
"""
# Metric lines whose values vary run to run (time, the agent's own process).
VOLATILE = [
    re.compile(r'^process_'),  # the agent's own process: memory, CPU, descriptors, start time
    re.compile(r'^nodehealth_source_duration_seconds\{'),
    re.compile(r'^nodehealth_last_sample_timestamp_seconds '),
    re.compile(r'^nodehealth_condition_last_transition_timestamp_seconds\{'),
]
# The nodefs of every case: 64 MiB and 1000 inodes (the root directory takes one).
NODEFS_TMPFS = "size=64m,nr_inodes=1000,mode=0755"


def normalise(text):
    out = []
    for line in text.splitlines():
        line = re.sub(r'^(nodehealth_build_info)\{.*\}', r'\1{commit="<commit>",version="<version>"}',
                      line)
        if any(p.search(line) for p in VOLATILE):
            line = line.rsplit(" ", 1)[0] + " <volatile>"
        out.append(line)
    return "\n".join(out) + "\n"


class GoldenMetricsTest(unittest.TestCase):
    def check(self, case):
        need_binary("promtool")
        need_root()  # the tmpfs nodefs
        root = tempfile.mkdtemp(prefix="nodehealth-test-golden-")
        tree = os.path.join(root, case)
        shutil.copytree(os.path.join(FIXTURES, case), tree, symlinks=True)
        nodefs = os.path.join(tree, "var", "lib", "kubelet")
        os.makedirs(nodefs, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", NODEFS_TMPFS, "nodehealth-test", nodefs],
                       check=True)
        try:
            with Agent("--host-root", tree, config=CONFIG) as agent:
                raw = agent.metrics()
        finally:
            subprocess.run(["umount", nodefs], check=True)
            shutil.rmtree(root)
        lint = subprocess.run(["promtool", "check", "metrics"], input=raw, capture_output=True,
                              text=True)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        got = normalise(raw)
        path = os.path.join(GOLDEN, case + ".metrics")
        if os.environ.get("UPDATE_GOLDEN") == "1":
            os.makedirs(GOLDEN, exist_ok=True)
            with open(path, "w") as f:
                f.write(got)
        with open(path) as f:
            want = f.read()
        if got != want:
            diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                                path, "scraped"))
            self.fail("metrics differ from %s (UPDATE_GOLDEN=1 to accept):\n%s" % (path, diff))

    def test_debian12_hybrid(self):
        self.check("debian12-hybrid")

    def test_cgroup_v2(self):
        self.check("cgroup-v2")

    def test_cgroup_v1(self):
        self.check("cgroup-v1")

    def test_garbage(self):
        self.check("garbage")


if __name__ == "__main__":
    unittest.main()
