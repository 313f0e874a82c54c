"""Debian's prometheus server, on loopback, scrapes the running agent; PromQL
returns the agent's condition series."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest
import urllib.parse

from harness import Agent, FIXTURES, http_get, need_binary, wait_until, write


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusScrapeTest(unittest.TestCase):
    def test_prometheus_scrapes_conditions(self):
        need_binary("prometheus")
        work = tempfile.mkdtemp(prefix="nodehealth-e2e-prom-")
        try:
            with Agent() as agent:
                port = free_port()
                cfg = os.path.join(work, "prometheus.yml")
                write(cfg, """global:
  scrape_interval: 1s
scrape_configs:
  - job_name: nodehealth
    static_configs:
      - targets: ["127.0.0.1:%d"]
""" % agent.port)
                prom = subprocess.Popen(
                    ["prometheus", "--config.file", cfg, "--storage.tsdb.path",
                     os.path.join(work, "data"), "--web.listen-address", "127.0.0.1:%d" % port],
                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prom.log"), "w"))
                try:
                    def query(q):
                        code, _, body = http_get(port, "/api/v1/query?query=" + urllib.parse.quote(q))
                        doc = json.loads(body)
                        return code == 200 and doc["status"] == "success" and doc["data"]["result"]

                    result = wait_until(lambda: query('nodehealth_condition{type="MemoryPressure"}'),
                                        60, interval=0.5, what="nodehealth_condition in Prometheus")
                    self.assertEqual(len(result), 3)  # True, False, Unknown
                    statuses = {r["metric"]["status"]: r["value"][1] for r in result}
                    self.assertEqual(sorted(statuses), ["False", "True", "Unknown"])
                    self.assertEqual(sum(float(v) for v in statuses.values()), 1.0)
                    up = wait_until(lambda: query('up{job="nodehealth"} == 1'), 30,
                                    what="scrape target up")
                    self.assertEqual(len(up), 1)
                    avail = query('nodehealth_signal_available{signal="memory.available"} > 0')
                    self.assertTrue(avail)
                finally:
                    prom.terminate()
                    prom.wait(20)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
