"""The command line as a user meets it: help, errors, bad configuration."""
import json
import os
import re
import shutil
import tempfile
import unittest

from harness import FIXTURES, ROOT, Agent, need_root, run_cli, wait_until, write

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
    """deploy/host/config.yaml is what the README says it is: every configuration key with its
    default. Field by field against the built-in defaults in tests/unit/config_shipped_test.cpp;
    here through the binary (everything `status` and `run` show of the configuration) and
    against the README's configuration table."""

    SHIPPED = os.path.join(ROOT, "deploy", "host", "config.yaml")
    VOLATILE = {"sampledAt", "lastHeartbeatTime", "lastTransitionTime", "durationSeconds"}

    def normalized_status(self, *args):
        r = run_cli("status", "-o", "json", "--host-root", HYBRID, *args)
        self.assertEqual(r.returncode, 0, r.stderr)

        def strip(v):
            if isinstance(v, dict):
                # The fixture has no /var/lib/kubelet: nodefs and imagefs are the statfs of the
                # filesystem the checkout is on, whose free space moves.
                fs = str(v.get("signal", "")).startswith(("nodefs.", "imagefs."))
                return {k: strip(x) for k, x in v.items()
                        if k not in self.VOLATILE and not (fs and k == "available")}
            if isinstance(v, list):
                return [strip(x) for x in v]
            return v
        return strip(json.loads(r.stdout))

    def test_status_is_the_same_with_and_without_the_shipped_config(self):
        # The whole document: thresholds, every condition (with the contention percentages,
        # the forecast horizon and the checkpoint directory in their messages), the sources
        # (every one enabled), the filesystems, the network.
        with_file = self.normalized_status("--config", self.SHIPPED)
        without = self.normalized_status()
        self.assertEqual(with_file, without)
        self.assertIn("within 10m0s", json.dumps(with_file))  # forecast.horizon reached it

    def settings_lines(self, agent):
        """The start-up log lines that carry settings, without times, ports and counts."""
        # The sandbox line comes after the first sample, up to seconds after /healthz answers.
        wait_until(lambda: "info sandbox:" in agent.logs(), 20, what="the sandbox applied")
        out = set()
        for line in agent.logs().splitlines():
            line = re.sub(r"^\S+ ", "", line)  # the time
            if not re.match(r"info (nodehealth started|thresholds from|kubernetes:|probe up|"
                            r"psi triggers armed|sandbox:)", line):
                continue
            line = re.sub(r"port=\d+", "port=N", line)
            line = re.sub(r"threads=\d+ pending=\d+", "threads=N", line)
            out.add(line)
        return out

    def test_run_starts_with_the_same_settings_with_and_without_the_shipped_config(self):
        # Real roots: the probes load, the triggers arm and the sandbox closes as they would
        # on a node. The harness's --listen-address overrides listenAddress in both.
        need_root()
        with Agent("--config", self.SHIPPED) as a:
            with_file = self.settings_lines(a)
        with Agent() as a:
            without = self.settings_lines(a)
        self.assertEqual(with_file, without)
        text = "\n".join(sorted(with_file))
        self.assertIn("interval=1s", text)
        self.assertIn("psi triggers armed: some 200ms per 2s on memory and io", text)
        self.assertRegex(text, r"sandbox: seccomp=enforce rules=\d+ "
                               r"capabilities=cap_dac_read_search,cap_sys_ptrace")
        self.assertIn("kubernetes: off", text)

    def test_every_key_of_the_readme_table_is_in_the_shipped_config_and_back(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("\n## Configuration\n"):]
        section = section[:section.index("\n### ")]
        documented = set()
        for row in re.findall(r"^\| (`[^|]*`) \|", section, re.M):
            prefix = ""
            for key in re.findall(r"`([^`]+)`", row):
                if key.startswith("."):
                    key = prefix + key
                prefix = key.rsplit(".", 1)[0] if "." in key else ""
                documented.add(key)
        with open(self.SHIPPED) as f:
            shipped = f.read()
        # Keys as written, active or commented out ("# nodeName: ..."), nested by indentation
        # or in flow mappings ("oom: {enabled: true, window: 5m}").
        listed, stack = set(), []
        for line in shipped.splitlines():
            m = re.match(r"^( *)(?:# ?)?( *)([A-Za-z][\w.]*):(.*)$", line)
            if not m:
                continue
            depth = (len(m.group(1)) + len(m.group(2))) // 2
            stack = stack[:depth] + [m.group(3)]
            listed.add(".".join(stack))
            for sub in re.findall(r"[{,]\s*(\w+):", m.group(4)):
                listed.add(".".join(stack + [sub]))
        # The README's placeholders stand for every probe and every source.
        expanded = set()
        for key in documented:
            if "<name>" not in key:
                expanded.add(key)
                continue
            head, tail = key.split(".<name>.")
            names = {k.split(".")[1] for k in listed if k.startswith(head + ".") and
                     k.endswith("." + tail) and k.count(".") == 2}
            self.assertTrue(names, key)
            expanded |= {"%s.%s.%s" % (head, n, tail) for n in names}
        missing = sorted(k for k in expanded if k not in listed)
        self.assertEqual(missing, [], "in the README's table, not in deploy/host/config.yaml")
        # Every leaf the file lists is documented (a mapping's own name is not a key).
        parents = {k.rsplit(".", 1)[0] for k in listed if "." in k}
        leaves = {k for k in listed if k not in parents and not k.startswith(
            ("evictionHard.", "evictionSoft.", "evictionSoftGracePeriod.",
             "evictionMinimumReclaim.", "kubeReserved.", "systemReserved."))}
        undocumented = sorted(k for k in leaves if k not in expanded and k not in
                              ("apiVersion", "kind"))
        self.assertEqual(undocumented, [], "in deploy/host/config.yaml, not in the README")
        # The probes and sources of the file are the ones the README names.
        for head in ("probes", "sources"):
            row = re.search(r"^\| `%s\.<name>\.enabled` \|[^|]*\(([^)]*)\)" % head, section,
                            re.M)
            named = set(re.findall(r"`(\w+)`", row.group(1)))
            in_file = {k.split(".")[1] for k in listed
                       if k.startswith(head + ".") and k.endswith(".enabled") and
                       k.count(".") == 2}
            self.assertEqual(named, in_file, head)


class BadConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        self.addCleanup(shutil.rmtree, self.dir, True)

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
