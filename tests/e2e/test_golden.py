"""Golden end-to-end test: the real binary on each fixture tree, /metrics scraped,
normalised (values that depend on time or on this machine's disk are masked) and
diffed against tests/golden/<case>.metrics. UPDATE_GOLDEN=1 rewrites the files.
`promtool check metrics` lints every scrape."""
import difflib
import os
import re
import subprocess
import unittest

from harness import Agent, FIXTURES, ROOT, need_binary

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
# Metric lines whose values vary run to run (time) or machine to machine (the
# fixture's nodefs is the real filesystem holding the checkout).
VOLATILE = [
    re.compile(r'^exposer_'),  # prometheus-cpp's own scrape counters
    re.compile(r'^process_'),  # the agent's own process: memory, CPU, descriptors, start time
    re.compile(r'^nodehealth_source_duration_seconds\{'),
    re.compile(r'^nodehealth_last_sample_timestamp_seconds '),
    re.compile(r'^nodehealth_condition_last_transition_timestamp_seconds\{'),
    re.compile(r'^nodehealth_signal_\w+\{signal="(nodefs|imagefs)\.'),
]


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
        with Agent("--host-root", os.path.join(FIXTURES, case), config=CONFIG) as agent:
            raw = agent.metrics()
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
