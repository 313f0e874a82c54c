"""The HTTP endpoint: /, /status, /healthz, /metrics; methods and unknown paths."""
import json
import os
import socket
import unittest

from harness import Agent, FIXTURES, http_get

HYBRID = os.path.join(FIXTURES, "debian12-hybrid")


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent("--host-root", HYBRID, "--node-name", "fixture-node").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)

    def test_status_json(self):
        code, headers, body = http_get(self.agent.port, "/status")
        self.assertEqual(code, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["node"], "fixture-node")
        self.assertEqual(len(doc["conditions"]), 10)
        self.assertEqual({s["signal"] for s in doc["signals"]},
                         {"memory.available", "allocatableMemory.available", "nodefs.available",
                          "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree",
                          "pid.available"})

    def test_healthz_and_index(self):
        self.assertEqual(http_get(self.agent.port, "/healthz")[0:3:2], (200, "ok\n"))
        code, _, body = http_get(self.agent.port, "/")
        self.assertEqual(code, 200)
        for path in ("/metrics", "/status", "/healthz"):
            self.assertIn(path, body)

    def test_metrics_has_the_documented_families(self):
        body = self.agent.metrics()
        for name in ("nodehealth_signal_available{", "nodehealth_signal_capacity{",
                     "nodehealth_signal_threshold{", "nodehealth_condition{",
                     "nodehealth_psi_stall_seconds_total{", "nodehealth_psi_stall_ratio{",
                     "nodehealth_source_up{", "nodehealth_source_duration_seconds{",
                     "nodehealth_build_info{"):
            self.assertIn(name, body)
        self.assertIn('nodehealth_condition{type="MemoryPressure",status="False"} 1', body)
        self.assertIn('nodehealth_condition{type="MemoryPressure",status="True"} 0', body)

    def test_unknown_path_and_method(self):
        self.assertEqual(http_get(self.agent.port, "/nope")[0], 404)
        self.assertEqual(http_get(self.agent.port, "/../../etc/passwd")[0], 404)
        self.assertEqual(http_get(self.agent.port, "/status", method="POST")[0], 405)
        self.assertEqual(http_get(self.agent.port, "/metrics", method="DELETE")[0], 405)
        code, _, body = http_get(self.agent.port, "/status", method="HEAD")
        self.assertEqual((code, body), (200, ""))

    def test_garbage_request_does_not_hurt(self):
        with socket.create_connection(("127.0.0.1", self.agent.port), timeout=5) as s:
            s.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
            s.recv(1024)
        self.assertEqual(http_get(self.agent.port, "/healthz")[0], 200)

    def test_port_in_use_is_a_clear_error(self):
        from harness import run_cli
        r = run_cli("run", "--listen-address", "127.0.0.1:%d" % self.agent.port,
                    "--host-root", HYBRID, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d" % self.agent.port, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
