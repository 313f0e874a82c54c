"""The systemd unit: `systemd-analyze verify`, the sandbox's exposure score from
`systemd-analyze security --offline=true`, and the notification protocol the
unit's Type=notify and WatchdogSec= rely on, spoken to a socket the test owns."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import BIN, FIXTURES, ROOT, need_binary

EXPOSURE_BUDGET = 2.0  # systemd's scale: 0 (locked down) .. 10 (exposed)


def unit_for_test(d):
    with open(os.path.join(ROOT, "systemd", "nodehealth.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/bin/nodehealth run" in unit
    path = os.path.join(d, "nodehealth.service")
    with open(path, "w") as f:
        f.write(unit.replace("/usr/local/bin/nodehealth", BIN))  # the unit names the installed path
    return path


class SystemdUnitTest(unittest.TestCase):
    def test_unit_verifies(self):
        need_binary("systemd-analyze")
        with tempfile.TemporaryDirectory(prefix="nodehealth-e2e-") as d:
            r = subprocess.run(["systemd-analyze", "verify", unit_for_test(d)],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("nodehealth.service", r.stderr)  # no warning about our unit

    def test_exposure_score_within_budget(self):
        need_binary("systemd-analyze")
        with tempfile.TemporaryDirectory(prefix="nodehealth-e2e-") as d:
            r = subprocess.run(["systemd-analyze", "security", "--offline=true", unit_for_test(d)],
                               capture_output=True, text=True)
            m = re.search(r"Overall exposure level for nodehealth\.service: ([0-9.]+)", r.stdout)
            self.assertIsNotNone(m, r.stdout + r.stderr)
            self.assertLessEqual(float(m.group(1)), EXPOSURE_BUDGET, r.stdout)


class NotifyProtocolTest(unittest.TestCase):
    def test_ready_watchdog_and_stopping(self):
        with tempfile.TemporaryDirectory(prefix="nodehealth-e2e-") as d:
            path = os.path.join(d, "notify.sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            sock.settimeout(20)
            env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="3000000")
            proc = subprocess.Popen([BIN, "run", "--listen-address", "127.0.0.1:0",
                                     "--host-root", os.path.join(FIXTURES, "debian12-hybrid")],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                first = sock.recv(4096).decode()
                self.assertEqual(first.split("\n")[0], "READY=1")
                # Keepalives at least every half watchdog interval (1.5 s), from the 1 s ticks.
                got = [sock.recv(4096).decode() for _ in range(2)]
                self.assertEqual(got, ["WATCHDOG=1", "WATCHDOG=1"])
                proc.send_signal(signal.SIGTERM)
                while True:
                    msg = sock.recv(4096).decode()
                    if msg != "WATCHDOG=1":
                        break
                self.assertEqual(msg, "STOPPING=1")
                self.assertEqual(proc.wait(10), 0)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                sock.close()


if __name__ == "__main__":
    unittest.main()
