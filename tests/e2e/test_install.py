"""`make install` into a DESTDIR, with the default PREFIX=/usr/local, with PREFIX=/usr, and
with PREFIX=/opt/nodehealth SYSCONFDIR=/opt/nodehealth/etc UNITDIR=/usr/lib/systemd/system:
the binary, the unit and the default config land where the README ("Under systemd") says, with
their modes; the installed unit's ExecStart= names the binary installed under that PREFIX
(the unit is the repository's with only that line rewritten) and its --config the config
installed under that SYSCONFDIR; the installed binary runs with the installed config; a second install keeps a config
the administrator edited.

The binary is the one this test run uses ($(BUILD)/nodehealth, BUILD from the environment as
for every e2e file): `make -o` keeps make from rebuilding it (the install is under test, not the
build)."""
import filecmp
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import FIXTURES, ROOT, need, need_binary

DEFAULT_PREFIX = "/usr/local"  # the Makefile's default, and the path the repository's unit names
UNIT = "/etc/systemd/system/nodehealth.service"
CONFIG = "/etc/nodehealth/config.yaml"
# (make variables, where the binary, the unit and the config land)
LAYOUTS = (
    ({}, DEFAULT_PREFIX + "/bin/nodehealth", UNIT, CONFIG),
    ({"PREFIX": "/usr"}, "/usr/bin/nodehealth", UNIT, CONFIG),
    ({"PREFIX": "/opt/nodehealth", "SYSCONFDIR": "/opt/nodehealth/etc",
      "UNITDIR": "/usr/lib/systemd/system"}, "/opt/nodehealth/bin/nodehealth",
     "/usr/lib/systemd/system/nodehealth.service", "/opt/nodehealth/etc/nodehealth/config.yaml"),
)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class MakeInstallTest(unittest.TestCase):
    def setUp(self):
        need_binary("make")
        need_binary("install")
        self.build = os.environ.get("BUILD", "build")
        self.built = os.path.join(ROOT, self.build, "nodehealth")
        need(os.path.isfile(self.built), "no %s: build it first" % self.built)
        self.new_destdir()

    def new_destdir(self):
        self.destdir = tempfile.mkdtemp(prefix="nodehealth-e2e-install-")
        self.addCleanup(shutil.rmtree, self.destdir, True)

    def make_install(self, variables=None):
        """variables {}: no PREFIX= etc. at all, the Makefile's defaults as a user gets them."""
        args = ["make", "-C", ROOT, "-o", os.path.join(self.build, "nodehealth"), "install",
                "BUILD=" + self.build, "DESTDIR=" + self.destdir]
        args += ["%s=%s" % kv for kv in sorted((variables or {}).items())]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def under(self, path):
        return os.path.join(self.destdir, path.lstrip("/"))

    def test_install_lays_out_binary_unit_and_config(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("### Under systemd"):readme.index("### In a container")]
        # The README's promise, checked against what lands.
        self.assertIn("`%s/bin`" % DEFAULT_PREFIX, section)
        self.assertIn("`%s`" % UNIT, section)
        self.assertIn("`%s`" % CONFIG, section)
        self.assertIn("`PREFIX=/usr`", section)
        for name in ("SYSCONFDIR", "UNITDIR"):
            self.assertIn("`%s`" % name, section)
        for variables, binary, unit, config in LAYOUTS:
            with self.subTest(**variables):
                self.new_destdir()
                self.check_install(variables, binary, unit, config)

    def check_install(self, variables, binary, unit, config):
        self.make_install(variables)
        self.assertTrue(filecmp.cmp(self.under(binary), self.built, shallow=False))
        self.assertEqual(mode(self.under(binary)), 0o755)
        self.assertEqual(mode(self.under(unit)), 0o644)
        self.assertTrue(filecmp.cmp(self.under(config), os.path.join(ROOT, "deploy", "host",
                                                                     "config.yaml"),
                                    shallow=False))
        self.assertEqual(mode(self.under(config)), 0o644)
        installed = sorted(os.path.relpath(os.path.join(d, f), self.destdir)
                           for d, _, files in os.walk(self.destdir) for f in files)
        self.assertEqual(installed, sorted(p.lstrip("/") for p in (binary, unit, config)))

        # The installed unit is the repository's with ExecStart= naming these paths: the same
        # lines but that one (and with the defaults, the same bytes).
        with open(self.under(unit)) as f:
            text = f.read()
        with open(os.path.join(ROOT, "systemd", "nodehealth.service")) as f:
            repo = f.read()
        differ = [(a, b) for a, b in zip(repo.splitlines(), text.splitlines()) if a != b]
        self.assertEqual(len(repo.splitlines()), len(text.splitlines()))
        if not variables:
            self.assertEqual(text, repo)
        else:
            self.assertEqual(len(differ), 1, differ)
            self.assertTrue(differ[0][1].startswith("ExecStart="), differ)
        (exec_start,) = re.findall(r"^ExecStart=(.*)$", text, re.M)
        argv = exec_start.split()
        self.assertEqual(argv[0], binary)
        self.assertTrue(os.access(self.under(argv[0]), os.X_OK), argv[0] + " not installed")
        self.assertEqual(argv[1], "run")
        self.assertEqual(argv[argv.index("--config") + 1], config)

        # ... and that pair works: the installed binary reads the installed config.
        r = subprocess.run([self.under(argv[0]), "status", "--config",
                            self.under(argv[argv.index("--config") + 1]),
                            "--host-root", os.path.join(FIXTURES, "debian12-hybrid")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("MemoryPressure", r.stdout)

    def test_reinstall_keeps_an_edited_config(self):
        self.make_install()
        config = self.under("/etc/nodehealth/config.yaml")
        with open(config, "a") as f:
            f.write("# edited by the administrator\nsampleInterval: 5s\n")
        with open(config) as f:
            edited = f.read()
        out = self.make_install()
        self.assertIn("keeping existing %s/etc/nodehealth/config.yaml" % self.destdir, out)
        with open(config) as f:
            self.assertEqual(f.read(), edited)
        # The binary and the unit are replaced.
        self.assertTrue(filecmp.cmp(self.under(DEFAULT_PREFIX + "/bin/nodehealth"), self.built,
                                    shallow=False))


if __name__ == "__main__":
    unittest.main()
