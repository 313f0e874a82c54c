"""The systemd unit passes `systemd-analyze verify` (with ExecStart pointed at
the built binary, since the unit names the installed path)."""
import os
import subprocess
import tempfile
import unittest

from harness import BIN, ROOT, need_binary


class SystemdUnitTest(unittest.TestCase):
    def test_unit_verifies(self):
        need_binary("systemd-analyze")
        with open(os.path.join(ROOT, "systemd", "nodehealth.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/local/bin/nodehealth run", unit)
        with tempfile.TemporaryDirectory(prefix="nodehealth-e2e-") as d:
            path = os.path.join(d, "nodehealth.service")
            with open(path, "w") as f:
                f.write(unit.replace("/usr/local/bin/nodehealth", BIN))
            r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("nodehealth.service", r.stderr)  # no warning about our unit


if __name__ == "__main__":
    unittest.main()
