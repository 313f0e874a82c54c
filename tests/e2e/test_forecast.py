"""The eviction forecast on a real decline, as root: a 256 MiB tmpfs configured as nodefs
and imagefs is filled with fallocate in steady steps, so nodefs.available falls towards
its 10% hard threshold. DiskEvictionImminent turns True, /metrics shows a finite positive
nodehealth_signal_seconds_until_threshold for nodefs.available (with a negative trend),
and both clear once the files are removed. Bounded: at most 160 MiB of a private tmpfs,
unmounted at the end."""
import math
import os
import re
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Agent, need_root, wait_until

MiB = 1024 * 1024
SIZE_MIB = 256
STEP_MIB = 1        # every STEP_SECONDS: 2 MiB/s
STEP_SECONDS = 0.5
MAX_FILL_MIB = 160  # 96 MiB short of the filesystem, 70 MiB above the threshold


def series(metrics, name, signal):
    m = re.search(r'^%s\{signal="%s"\} (\S+)$' % (name, re.escape(signal)), metrics, re.M)
    return float(m.group(1)) if m else None


class ForecastTest(unittest.TestCase):
    def setUp(self):
        need_root()
        self.dir = tempfile.mkdtemp(prefix="nodehealth-test-forecast-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % SIZE_MIB, "nodehealth-test",
                        self.dir], check=True)
        self.stop = threading.Event()
        self.filler = None

    def tearDown(self):
        self.stop.set()
        if self.filler:
            self.filler.join(30)
        subprocess.run(["umount", "-l", self.dir], check=False)
        os.rmdir(self.dir)

    def fill(self):
        """fallocate STEP_MIB more every STEP_SECONDS, up to MAX_FILL_MIB."""
        filled = 0
        while not self.stop.is_set() and filled + STEP_MIB <= MAX_FILL_MIB:
            path = os.path.join(self.dir, "fill-%04d" % (filled // STEP_MIB))
            subprocess.run(["fallocate", "-l", "%dM" % STEP_MIB, path], check=True)
            filled += STEP_MIB
            self.stop.wait(STEP_SECONDS)

    def test_steady_fill_forecasts_then_clears(self):
        # horizon 10m: the decline reaches the threshold in about a minute, well inside it.
        # window 1m: the shortest history the configuration allows.
        config = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 200ms
psiTriggers:
  enabled: false
forecast:
  horizon: 10m
  window: 1m
evictionHard:
  nodefs.available: "10%%"
filesystems:
  nodefs: %s
  imagefs: %s
""" % (self.dir, self.dir)
        with Agent(config=config) as agent:
            self.assertEqual(agent.condition("DiskEvictionImminent")["status"], "False")
            self.assertIsNone(series(agent.metrics(), "nodehealth_signal_seconds_until_threshold",
                                     "nodefs.available"))
            started = time.monotonic()
            self.filler = threading.Thread(target=self.fill)
            self.filler.start()

            c = wait_until(lambda: (lambda c: c if c["status"] == "True" else None)(
                agent.condition("DiskEvictionImminent")), 60, interval=0.5,
                what="DiskEvictionImminent True")
            took = time.monotonic() - started
            self.assertEqual(c["reason"], "EvictionThresholdForecast", c)
            self.assertIn("nodefs.available is forecast to fall below its hard threshold",
                          c["message"])
            m = agent.metrics()
            until = series(m, "nodehealth_signal_seconds_until_threshold", "nodefs.available")
            trend = series(m, "nodehealth_signal_trend_per_second", "nodefs.available")
            self.assertIsNotNone(until, m)
            self.assertTrue(math.isfinite(until) and 0 < until <= 600, until)
            # The fill rate is 2 MiB/s; fallocate's own time and the 5 s buckets blur it a little.
            self.assertIsNotNone(trend)
            self.assertTrue(-3 * MiB < trend < -1 * MiB, trend)
            # The same forecast in /status.
            nodefs = agent.signal("nodefs.available")
            self.assertGreater(nodefs["secondsUntilThreshold"], 0)
            self.assertIn("condition changed: DiskEvictionImminent False -> True", agent.logs())
            # The filesystem never came near the threshold: this is a forecast, not pressure.
            self.assertEqual(agent.condition("DiskPressure")["status"], "False")
            print("\nforecast: DiskEvictionImminent True %.1f s after the fill started, "
                  "forecast %.0f s, trend %.2f MiB/s" % (took, until, trend / MiB))

            self.stop.set()
            self.filler.join(30)
            for name in os.listdir(self.dir):
                os.unlink(os.path.join(self.dir, name))
            wait_until(lambda: agent.condition("DiskEvictionImminent")["status"] == "False", 60,
                       interval=0.5, what="DiskEvictionImminent False after cleanup")
            # The condition clears once the forecast is beyond 1.5 x horizon or gone; the
            # forecast itself goes once the step up outweighs the decline in the window (at the
            # latest when the decline has left the 1m window).
            wait_until(lambda: series(agent.metrics(), "nodehealth_signal_seconds_until_threshold",
                                      "nodefs.available") is None, 70, interval=0.5,
                       what="no nodefs.available forecast after cleanup")
            self.assertEqual(agent.condition("DiskEvictionImminent")["status"], "False")
            self.assertIn("condition changed: DiskEvictionImminent True -> False", agent.logs())


if __name__ == "__main__":
    unittest.main()
