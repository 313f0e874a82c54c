"""The command line as a user meets it: help, errors, bad configuration."""
import json
import os
import tempfile
import unittest

from harness import FIXTURES, run_cli, write

HYBRID = os.path.join(FIXTURES, "debian12-hybrid")


class HelpTest(unittest.TestCase):
    def test_every_subcommand_has_help(self):
        for cmd in ("run", "status"):
            r = run_cli(cmd, "--help")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Usage: nodehealth " + cmd, r.stdout)
            for flag in ("--config", "--config-dir", "--host-root", "--proc-root", "--sys-root"):
                self.assertIn(flag, r.stdout, cmd)
        self.assertIn("--listen-address", run_cli("run", "--help").stdout)
        self.assertIn("-o, --output", run_cli("status", "--help").stdout)
        r = run_cli("help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Commands:", r.stdout)

    def test_version(self):
        r = run_cli("version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^nodehealth \d+\.\d+\.\d+ \(commit \S+\)")

    def test_unknown_command_and_flag(self):
        r = run_cli("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown command "frobnicate"', r.stderr)
        r = run_cli("status", "--no-such-flag", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown flag --no-such-flag", r.stderr)
        r = run_cli("status", "-o", "yaml")
        self.assertEqual(r.returncode, 2)
        self.assertIn("want table or json", r.stderr)
        r = run_cli("run", "--config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--config needs a value", r.stderr)


class ShippedConfigTest(unittest.TestCase):
    def test_example_config_is_valid_and_matches_the_defaults(self):
        from harness import ROOT
        path = os.path.join(ROOT, "deploy", "host", "config.yaml")
        with_file = run_cli("status", "-o", "json", "--config", path, "--host-root", HYBRID)
        without = run_cli("status", "-o", "json", "--host-root", HYBRID)
        self.assertEqual(with_file.returncode, 0, with_file.stderr)
        thresholds = lambda r: [(s["signal"], s["thresholds"]) for s in json.loads(r.stdout)["signals"]]
        self.assertEqual(thresholds(with_file), thresholds(without))


class BadConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-")

    def _config(self, body, name="config.yaml"):
        path = os.path.join(self.dir, name)
        write(path, "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n" + body)
        return path

    def test_refuses_to_start_naming_file_line_and_key(self):
        path = self._config("listenAddress: 127.0.0.1:0\nsampleInterval: 5ms\n")
        for cmd in ("run", "status"):
            r = run_cli(cmd, "--config", path, "--host-root", HYBRID)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(path + ":4", r.stderr)
            self.assertIn("sampleInterval", r.stderr)

    def test_unknown_key(self):
        path = self._config("listenAdress: 127.0.0.1:0\n")
        r = run_cli("run", "--config", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn(path + ":3", r.stderr)
        self.assertIn("listenAdress", r.stderr)

    def test_error_in_drop_in_names_the_drop_in(self):
        main = self._config("sampleInterval: 1s\n")
        drop = os.path.join(self.dir, "conf.d", "20-bad.conf")
        write(drop, "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                    "evictionHard:\n  memory.available: lots\n")
        r = run_cli("status", "--config", main, "--config-dir", os.path.dirname(drop),
                    "--host-root", HYBRID)
        self.assertEqual(r.returncode, 2)
        self.assertIn(drop + ":4", r.stderr)
        self.assertIn("memory.available", r.stderr)

    def test_drop_in_overrides_main_file(self):
        main = self._config("evictionHard:\n  memory.available: 100Mi\n")
        drop = os.path.join(self.dir, "conf.d", "10-mem.conf")
        write(drop, "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                    "evictionHard:\n  memory.available: 1Gi\n")
        r = run_cli("status", "-o", "json", "--config", main, "--config-dir",
                    os.path.dirname(drop), "--host-root", HYBRID)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        mem = [s for s in doc["signals"] if s["signal"] == "memory.available"][0]
        self.assertEqual(mem["thresholds"][0]["value"], 1024 ** 3)


if __name__ == "__main__":
    unittest.main()
