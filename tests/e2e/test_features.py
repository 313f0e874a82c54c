"""`nodehealth features` on the real binary (facts §5 and §7): on this real kernel, checked
against independent calculations (mountinfo, `stat -f`, a raw mount_setattr call through ctypes,
`unshare --net`), as root for the network-namespace and test-mount probes; on the fixture trees
through --host-root; and on bad input (odd versions, missing files, permission errors), which is
reported and never fatal. Everything created is named nodehealth-test-* and removed."""
import ctypes
import errno
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import FIXTURES, Agent, need, need_binary, need_root, run_cli, BIN

FEATURES = os.path.join(FIXTURES, "features")
NET_SAFE = ["ip_local_port_range", "tcp_syncookies", "ping_group_range",
            "ip_unprivileged_port_start", "ip_local_reserved_ports", "tcp_keepalive_time",
            "tcp_keepalive_intvl", "tcp_keepalive_probes", "tcp_fin_timeout",
            "tcp_notsent_lowat", "tcp_rmem", "tcp_wmem", "tcp_slow_start_after_idle"]
FEATURE_NAMES = ["nftables", "cgroup_v2", "root_cpu_stat", "cgroup_freezer",
                 "recursive_read_only_mounts", "user_namespaces", "tmpfs_noswap", "psi",
                 "ipvs_conn_reuse_mode", "memory_qos"]


def kube_version(osrelease):
    """facts §5, independently: leading dotted numbers, at least two components."""
    m = re.match(r"v?([0-9]+(?:\.[0-9]+)*)", osrelease.strip())
    if not m or "." not in m.group(1):
        return None
    return tuple(int(x) for x in m.group(1).split("."))


def at_least(v, minimum):
    n = max(len(v), len(minimum))
    return tuple(v) + (0,) * (n - len(v)) >= tuple(minimum) + (0,) * (n - len(minimum))


def mounts():
    path = "/proc/1/mountinfo" if os.access("/proc/1/mountinfo", os.R_OK) else "/proc/self/mountinfo"
    out = []
    with open(path) as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields = left.split()
            fstype, _source, opts = right.split()[:3]
            out.append({"mountpoint": fields[4], "fstype": fstype, "super": opts.split(",")})
    return out


def cgroup_layout(ms):
    at = [m for m in ms if m["mountpoint"] == "/sys/fs/cgroup"]
    v2 = [m for m in ms if m["fstype"] == "cgroup2" and m["mountpoint"].startswith("/sys/fs/cgroup")]
    v1 = [m for m in ms if m["fstype"] == "cgroup" and m["mountpoint"].startswith("/sys/fs/cgroup/")]
    if at and at[-1]["fstype"] == "cgroup2":
        return "unified", "/sys/fs/cgroup"
    if v2 and v1:
        return "hybrid", v2[-1]["mountpoint"]
    if v1:
        return "legacy", ""
    if v2:
        return "unified", v2[-1]["mountpoint"]
    return "unknown", ""


def statfs_magic(path):
    r = subprocess.run(["stat", "-f", "-c", "%t", path], capture_output=True, text=True,
                       check=True)
    return int(r.stdout.strip(), 16)


# facts §5, written out: the version rule of each feature and the safe sysctls' minimum kernels.
FEATURE_MIN = {"nftables": (5, 13), "root_cpu_stat": (5, 8), "cgroup_freezer": (5, 2),
               "recursive_read_only_mounts": (5, 12), "user_namespaces": (6, 5),
               "tmpfs_noswap": (6, 4), "psi": (4, 20), "ipvs_conn_reuse_mode": (4, 1),
               "memory_qos": (5, 9)}
SYSCTL_MIN = {"kernel.shm_rmid_forced": None, "net.ipv4.ip_local_port_range": None,
              "net.ipv4.tcp_syncookies": None, "net.ipv4.ping_group_range": None,
              "net.ipv4.ip_unprivileged_port_start": None,
              "net.ipv4.ip_local_reserved_ports": (3, 16),
              "net.ipv4.tcp_keepalive_time": (4, 5), "net.ipv4.tcp_keepalive_intvl": (4, 5),
              "net.ipv4.tcp_keepalive_probes": (4, 5), "net.ipv4.tcp_fin_timeout": (4, 6),
              "net.ipv4.tcp_notsent_lowat": (4, 6), "net.ipv4.tcp_rmem": (4, 15),
              "net.ipv4.tcp_wmem": (4, 15), "net.ipv4.tcp_slow_start_after_idle": (4, 15)}
# The probes that see an interface, not what the version rule stands for (a yes from them does
# not overrule the version).
NOT_DECISIVE = ("nftables", "user_namespaces", "memory_qos")
NFT_PATHS = ("/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft", "/usr/local/sbin/nft")


def osrelease():
    with open("/proc/sys/kernel/osrelease") as f:
        return f.read().strip()


def kernel_config():
    """This kernel's build configuration, decompressed here with Python's gzip (or the
    distribution's /boot/config-<release>): {"CONFIG_X": "y"|"m"|"n"|value}; None when there is
    none."""
    text = None
    if os.path.exists("/proc/config.gz"):
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    elif os.path.exists("/boot/config-" + osrelease()):
        with open("/boot/config-" + osrelease()) as f:
            text = f.read()
    if text is None:
        return None
    cfg = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(CONFIG_\w+)=(.*)", line)
        if m:
            cfg[m.group(1)] = m.group(2).strip('"')
        m = re.fullmatch(r"# (CONFIG_\w+) is not set", line)
        if m:
            cfg[m.group(1)] = "n"
    return cfg


def nft_binary():
    return next((p for p in NFT_PATHS if os.access(p, os.X_OK)), None)


def nft_version(nft):
    """`nft --version` parsed here: (1, 0, 6); None when it fails or prints no version."""
    r = subprocess.run([nft, "--version"], capture_output=True, text=True, timeout=10)
    m = re.search(r"v([0-9]+(?:\.[0-9]+)+)", r.stdout)
    if r.returncode != 0 or not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


def nf_tables_in_kernel(cfg):
    """The kernel side of the nftables row, as facts §5 puts it: the module loaded, else the
    kernel config; None when neither tells."""
    if os.path.exists("/sys/module/nf_tables"):
        return True
    value = (cfg or {}).get("CONFIG_NF_TABLES")
    if value is None:
        return None
    return value != "n"


def v2_freezer(v2):
    """cgroup.freeze in a child of the cgroup2 mount (depth 1, then depth 2 under the first 16
    children of each): True / False (children, none with it) / None (no child cgroup)."""
    if not v2 or not os.path.isdir(v2):
        return None
    level1 = sorted(e.path for e in os.scandir(v2) if e.is_dir())[:256]
    if not level1:
        return None
    if any(os.path.exists(os.path.join(c, "cgroup.freeze")) for c in level1):
        return True
    for c in level1:
        for d in sorted(e.path for e in os.scandir(c) if e.is_dir())[:16]:
            if os.path.exists(os.path.join(d, "cgroup.freeze")):
                return True
    return False


def raw_mount_setattr():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(442), ctypes.c_int(-1), ctypes.c_char_p(b""),
                      ctypes.c_uint(0xFFFFFFFF), ctypes.c_void_p(0), ctypes.c_size_t(0))
    return rc, ctypes.get_errno()


def expected_probes():
    """Every row's direct probe on this kernel, computed here from the files, a raw system
    call and statfs, without the agent (facts §5's feature table)."""
    cfg = kernel_config()
    ms = mounts()
    layout, v2 = cgroup_layout(ms)
    out = {}
    kernel = nf_tables_in_kernel(cfg)
    nft = nft_binary()
    nft_ok = None
    if nft:
        v = nft_version(nft)
        nft_ok = None if v is None else at_least(v, (1, 0, 1))
    out["nftables"] = (False if kernel is False or nft_ok is False else
                       True if kernel else None)
    magic = statfs_magic("/sys/fs/cgroup")
    out["cgroup_v2"] = magic == 0x63677270
    out["root_cpu_stat"] = os.path.exists(os.path.join(v2, "cpu.stat")) if v2 else None
    if layout in ("hybrid", "legacy"):
        out["cgroup_freezer"] = any(m["fstype"] == "cgroup" and "freezer" in m["super"]
                                    for m in ms)
    elif layout == "unified":
        out["cgroup_freezer"] = v2_freezer(v2)
    else:
        out["cgroup_freezer"] = None
    rc, err = raw_mount_setattr()
    out["recursive_read_only_mounts"] = (True if rc == 0 else
                                         {errno.EINVAL: True, errno.EBADF: True,
                                          errno.ENOSYS: False}.get(err))
    if os.path.exists("/proc/sys/user/max_user_namespaces"):
        with open("/proc/sys/user/max_user_namespaces") as f:
            out["user_namespaces"] = int(f.read()) > 0
    else:
        out["user_namespaces"] = False if (cfg or {}).get("CONFIG_USER_NS") == "n" else None
    with open("/proc/filesystems") as f:
        tmpfs = "\ttmpfs\n" in f.read()
    noswap = any(m["fstype"] == "tmpfs" and "noswap" in m["super"] for m in ms)
    out["tmpfs_noswap"] = False if not tmpfs else True if noswap else None
    pressure = [os.path.exists("/proc/pressure/" + r) for r in ("cpu", "memory", "io")]
    out["psi"] = (all(os.access("/proc/pressure/" + r, os.R_OK)
                      for r in ("cpu", "memory", "io")) if all(pressure) else
                  False if not any(pressure) else None)
    if os.path.exists("/proc/sys/net/ipv4/vs/conn_reuse_mode"):
        out["ipvs_conn_reuse_mode"] = True
    elif (cfg or {}).get("CONFIG_IP_VS") == "n" or os.path.exists("/sys/module/ip_vs"):
        out["ipvs_conn_reuse_mode"] = False
    else:
        out["ipvs_conn_reuse_mode"] = None
    if layout in ("hybrid", "legacy"):
        out["memory_qos"] = False
    elif layout == "unified" and v2:
        with open(os.path.join(v2, "cgroup.controllers")) as f:
            out["memory_qos"] = "memory" in f.read().split()
    else:
        out["memory_qos"] = None
    return out


def expected_disagreement(name, version, probe, layout):
    """The flag the agent must raise on a row, from the version verdict and the probe."""
    if name == "cgroup_freezer" and layout in ("hybrid", "legacy") and version is False and probe:
        return ("version says no, probe says yes: the rule is for the cgroup v2 freezer, the v1 "
                "controller needs no 5.2")
    if version is None or probe is None or version == probe:
        return ""
    if version:
        return "version says yes, probe says no"
    if name not in NOT_DECISIVE:
        return "backported: version says no, probe says yes"
    return ("version says no, probe says yes (the probe sees the interface, not what the "
            "version rule stands for)")


def features_json(*args, **kw):
    r = run_cli("features", "-o", "json", *args, **kw)
    if r.returncode not in (0, 1):
        raise AssertionError("exit %d: %s" % (r.returncode, r.stderr))
    return r, json.loads(r.stdout)


def by_name(doc, key="features"):
    return {f["name"]: f for f in doc[key]}


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def run_as_nobody(*args):
    """The binary as uid/gid 65534, from a world-readable copy (the checkout may sit in a
    directory only root can enter)."""
    d = tempfile.mkdtemp(prefix="nodehealth-test-bin-")
    try:
        os.chmod(d, 0o755)
        copy = os.path.join(d, "nodehealth")
        shutil.copy(BIN, copy)
        os.chmod(copy, 0o755)
        return subprocess.run([copy, *args], capture_output=True, text=True, timeout=30,
                              preexec_fn=as_nobody)
    finally:
        shutil.rmtree(d, ignore_errors=True)


class RealKernelTest(unittest.TestCase):
    """This machine's kernel, compared with independent calculations."""

    @classmethod
    def setUpClass(cls):
        cls.r, cls.doc = features_json()
        cls.f = by_name(cls.doc)

    def test_exit_code_and_no_warnings(self):
        self.assertEqual(self.r.returncode, 0, self.r.stderr)
        self.assertEqual(self.r.stderr, "")
        self.assertEqual(self.doc["warnings"], [])
        self.assertEqual([f["name"] for f in self.doc["features"]], FEATURE_NAMES)

    def test_kernel_version_as_kubernetes_parses_it(self):
        with open("/proc/sys/kernel/osrelease") as f:
            release = f.read().strip()
        self.assertEqual(self.doc["kernel"]["release"], release)
        self.assertEqual(self.doc["kernel"]["runningRelease"], os.uname().release)
        want = kube_version(release)
        self.assertIsNotNone(want)
        self.assertEqual(self.doc["kernel"]["version"], ".".join(map(str, want)))
        self.assertTrue(self.doc["liveProbes"], self.doc["liveProbesNote"])

    def test_version_verdicts_follow_facts_5(self):
        v = kube_version(osrelease())  # parsed here, not the agent's "version"
        for name, minimum in FEATURE_MIN.items():
            self.assertEqual(self.f[name]["versionSupported"], at_least(v, minimum), name)
        self.assertIsNone(self.f["cgroup_v2"]["versionSupported"])

    def test_every_row_probe_verdict_and_disagreement_flag(self):
        """Each row's probe against the independent calculation, and from that and the
        version rule, the row's verdict and its disagreement flag."""
        v = kube_version(osrelease())
        layout, _ = cgroup_layout(mounts())
        probes = expected_probes()
        self.assertEqual(sorted(probes), sorted(FEATURE_NAMES))
        for name in FEATURE_NAMES:
            row = self.f[name]
            version = at_least(v, FEATURE_MIN[name]) if name in FEATURE_MIN else None
            probe = probes[name]
            with self.subTest(feature=name, detail=row["detail"]):
                self.assertEqual(row["probeSupported"], probe)
                self.assertEqual(row["probeDecisive"], name not in NOT_DECISIVE)
                self.assertEqual(row["disagreement"],
                                 expected_disagreement(name, version, probe, layout))
                if probe is None:
                    supported = version
                elif name in NOT_DECISIVE and probe:
                    supported = True if version is None else version
                else:
                    supported = probe
                self.assertEqual(row["supported"], supported)
        # The table shows each flag on its row.
        r = run_cli("features")
        for name in FEATURE_NAMES:
            if self.f[name]["disagreement"]:
                self.assertRegex(r.stdout, r"\n  %s +\S+ +\S+ +\[%s\]\n"
                                 % (name, re.escape(self.f[name]["disagreement"])))

    def test_cgroup_layout_and_statfs_magic(self):
        layout, v2 = cgroup_layout(mounts())
        self.assertEqual(self.doc["cgroupLayout"], layout)
        self.assertEqual(self.doc["cgroup2Mount"], v2)
        magic = statfs_magic("/sys/fs/cgroup")
        self.assertEqual(self.f["cgroup_v2"]["probeSupported"], magic == 0x63677270)
        if layout == "hybrid":  # this machine: v1 controllers plus cgroup2 at .../unified
            self.assertIn("hybrid layout", self.f["cgroup_v2"]["detail"])
            self.assertFalse(self.f["memory_qos"]["probeSupported"])
        if v2:
            self.assertEqual(self.f["root_cpu_stat"]["probeSupported"],
                             os.path.exists(os.path.join(v2, "cpu.stat")))

    def test_freezer(self):
        layout, v2 = cgroup_layout(mounts())
        row = self.f["cgroup_freezer"]
        probe = row["probeSupported"]
        v2_answer = v2_freezer(v2)
        v2_note = {True: "cgroup.freeze present in a child cgroup (cgroup v2 freezer)",
                   False: "no cgroup.freeze in the child cgroups (no cgroup v2 freezer)",
                   None: "no child cgroup under the cgroup2 mount to look for cgroup.freeze"}
        if layout in ("hybrid", "legacy"):
            # runc freezes through the v1 freezer controller there.
            v1 = [m["mountpoint"] for m in mounts()
                  if m["fstype"] == "cgroup" and "freezer" in m["super"]]
            self.assertEqual(probe, bool(v1))
            if v1:
                self.assertIn("v1 freezer controller mounted at %s (runc uses it on a %s layout)"
                              % (v1[-1], layout), row["detail"])
            else:
                self.assertIn("no v1 freezer controller mounted", row["detail"])
            if v2:  # hybrid: the cgroup2 side is reported too
                self.assertIn(v2_note[v2_answer], row["detail"])
        elif layout == "unified":
            self.assertEqual(probe, v2_answer)
            self.assertEqual(row["detail"], v2_note[v2_answer])
        else:
            self.assertIsNone(probe)
            self.assertEqual(row["detail"], "no cgroup mounts")

    def test_psi_present(self):
        readable = all(os.access("/proc/pressure/" + r, os.R_OK) for r in ("cpu", "memory", "io"))
        self.assertEqual(self.f["psi"]["probeSupported"], readable)
        need(readable, "kernel without PSI")
        with open("/proc/cmdline") as f:
            cmdline = f.read().split()
        if "psi=1" in cmdline and "CONFIG_PSI_DEFAULT_DISABLED=y" in self.f["psi"]["detail"]:
            self.assertIn("enabled by psi=1", self.f["psi"]["detail"])

    def test_mount_setattr_against_a_raw_syscall(self):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        rc = libc.syscall(ctypes.c_long(442), ctypes.c_int(-1), ctypes.c_char_p(b""),
                          ctypes.c_uint(0xFFFFFFFF), ctypes.c_void_p(0), ctypes.c_size_t(0))
        err = ctypes.get_errno()
        self.assertEqual(rc, -1)
        want = {errno.EINVAL: True, errno.ENOSYS: False}.get(err)
        self.assertEqual(self.f["recursive_read_only_mounts"]["probeSupported"], want)

    def test_user_namespaces(self):
        with open("/proc/sys/user/max_user_namespaces") as f:
            n = int(f.read())
        self.assertEqual(self.f["user_namespaces"]["probeSupported"], n > 0)

    def test_ipvs_against_the_kernel_config(self):
        """conn_reuse_mode present: yes; else the kernel config decompressed here decides a
        no (CONFIG_IP_VS not set), an ip_vs module loaded without the sysctl is a no, and an
        unloaded module is unknown ("not loaded"), not no."""
        row = self.f["ipvs_conn_reuse_mode"]
        cfg = kernel_config()
        ip_vs = (cfg or {}).get("CONFIG_IP_VS")
        if os.path.exists("/proc/sys/net/ipv4/vs/conn_reuse_mode"):
            self.assertIs(row["probeSupported"], True)
            self.assertIn("net.ipv4.vs.conn_reuse_mode present", row["detail"])
        elif ip_vs == "n":
            self.assertIs(row["probeSupported"], False)
            self.assertIn("kernel built without IPVS (CONFIG_IP_VS is not set)", row["detail"])
        elif os.path.exists("/sys/module/ip_vs"):
            self.assertIs(row["probeSupported"], False)
            self.assertIn("ip_vs loaded but no net.ipv4.vs.conn_reuse_mode", row["detail"])
        else:
            self.assertIsNone(row["probeSupported"])
            self.assertTrue(row["detail"].startswith("not loaded"), row["detail"])
            if ip_vs is not None:
                self.assertIn("CONFIG_IP_VS=" + ip_vs, row["detail"])
        if cfg is not None:
            self.assertIn(self.doc["kernelConfig"], ("/proc/config.gz",
                                                     "/boot/config-" + osrelease()))

    def test_nftables_probe(self):
        """The probe from the kernel side (module or config, decompressed here) and the nft
        binary's own --version (>= 1.0.1); as root, a throwaway network namespace shows the
        kernel side too: `nft list tables` works there only with nf_tables in the kernel."""
        row = self.f["nftables"]
        kernel = nf_tables_in_kernel(kernel_config())
        nft = nft_binary()
        v = nft_version(nft) if nft else None
        nft_ok = None if v is None else at_least(v, (1, 0, 1))
        want = False if kernel is False or nft_ok is False else True if kernel else None
        self.assertEqual(row["probeSupported"], want, row["detail"])
        if nft and os.geteuid() == 0 and shutil.which("unshare") and kernel is not None:
            listed = subprocess.run(["unshare", "--net", nft, "list", "tables"],
                                    capture_output=True, timeout=10).returncode == 0
            self.assertEqual(listed, kernel, "nft list tables in a new network namespace")
        self.assertIn("kube-proxy checks the kernel version", row["detail"])
        self.assertIn("nft --version", row["detail"])

    def test_nft_version_when_the_binary_exists(self):
        nft = next((p for p in ("/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft",
                                "/usr/local/sbin/nft") if os.access(p, os.X_OK)), None)
        detail = self.f["nftables"]["detail"]
        if nft is None:
            self.assertIn("nft: not found", detail)
        else:
            out = subprocess.run([nft, "--version"], capture_output=True, text=True).stdout
            m = re.search(r"v([0-9]+(?:\.[0-9]+)+)", out)
            self.assertIn("nft " + m.group(1), detail)

    def test_safe_sysctls_kernel_ok_from_the_table(self):
        """kernelOk of every safe sysctl from facts §5's minimum kernels and osrelease parsed
        here; supported is kernelOk and present."""
        v = kube_version(osrelease())
        s = by_name(self.doc, "sysctls")
        self.assertEqual(sorted(s), sorted(SYSCTL_MIN))
        for name, minimum in SYSCTL_MIN.items():
            row = s[name]
            with self.subTest(sysctl=name):
                want = minimum is None or at_least(v, minimum)
                self.assertEqual(row["kernelOk"], want)
                self.assertEqual(row["minKernel"],
                                 None if minimum is None else "%d.%d" % minimum)
                path = "/proc/sys/" + name.replace(".", "/")
                self.assertEqual(row["presentOnHost"], os.path.exists(path))
                present = row["present"] if row["present"] is not None else os.path.exists(path)
                self.assertEqual(row["supported"], want and present)

    def test_safe_sysctls_in_a_new_network_namespace(self):
        need_root()
        need_binary("unshare")
        s = by_name(self.doc, "sysctls")
        self.assertEqual(len(s), 14)
        for name in NET_SAFE:
            path = "/proc/sys/net/ipv4/" + name
            there = subprocess.run(["unshare", "--net", "test", "-e", path]).returncode == 0
            row = s["net.ipv4." + name]
            self.assertEqual(row["present"], there, row)
            self.assertEqual(row["namespace"], "net")
        self.assertEqual(s["kernel.shm_rmid_forced"]["namespace"], "ipc")
        self.assertEqual(s["kernel.shm_rmid_forced"]["present"],
                         os.path.exists("/proc/sys/kernel/shm_rmid_forced"))
        self.assertEqual(self.doc["sysctlNote"], "")

    def test_without_root_the_namespace_check_is_unknown(self):
        need_root()  # to drop to nobody
        r = run_as_nobody("features", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["sysctlNote"], "net.*: unknown (needs CAP_SYS_ADMIN)")
        for row in doc["sysctls"]:
            if row["namespace"] == "net":
                self.assertIsNone(row["present"], row)
                self.assertIn("unknown (needs CAP_SYS_ADMIN)", row["detail"])

    def test_table_sections(self):
        r = run_cli("features")
        self.assertEqual(r.returncode, 0, r.stderr)
        for section in ("Kernel\n", "\nFeatures\n", "\nSafe sysctls\n", "\nDevice plugins\n"):
            self.assertIn(section, r.stdout)
        self.assertIn("FEATURE                     VERSION  PROBE", r.stdout)
        self.assertIn("cgroups:      " + self.doc["cgroupLayout"], r.stdout)


def mount_points():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f if len(line.split()) > 4}


class TestMountTest(unittest.TestCase):
    def test_probe_mounts_leaves_nothing_behind(self):
        need_root()
        need_binary("unshare")
        # Compare against this machine's state before the run: other tests (or an
        # interrupted earlier run) may own mounts of their own; only new ones count.
        before = set(os.listdir("/tmp"))
        mounts_before = mount_points()
        r, doc = features_json("--probe-mounts")
        after = set(os.listdir("/tmp"))
        self.assertEqual([d for d in after - before if d.startswith("nodehealth-test-noswap")], [])
        self.assertEqual(mount_points() - mounts_before, set())
        # Independently: the same test mount with util-linux, in its own mount namespace.
        d = tempfile.mkdtemp(prefix="nodehealth-test-noswap-e2e-")
        try:
            ok = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t",
                                 "tmpfs", "-o", "noswap,size=64k", "nodehealth-test", d],
                                capture_output=True).returncode == 0
        finally:
            os.rmdir(d)
        self.assertEqual(by_name(doc)["tmpfs_noswap"]["probeSupported"], ok)


class FixtureTest(unittest.TestCase):
    """The fixture trees through --host-root (live probes off: they are not this kernel)."""

    def test_ubuntu_5_15(self):
        r, doc = features_json("--host-root", os.path.join(FEATURES, "ubuntu-5.15"),
                               "--live-probes", "off")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(doc["kernel"]["version"], "5.15.0")
        self.assertEqual(doc["cgroupLayout"], "unified")
        f = by_name(doc)
        got = {n: (f[n]["versionSupported"], f[n]["probeSupported"]) for n in FEATURE_NAMES}
        self.assertEqual(got, {
            "nftables": (True, True), "cgroup_v2": (None, True), "root_cpu_stat": (True, True),
            "cgroup_freezer": (True, True), "recursive_read_only_mounts": (True, None),
            "user_namespaces": (False, True), "tmpfs_noswap": (False, None),
            "psi": (True, True), "ipvs_conn_reuse_mode": (True, None), "memory_qos": (True, True)})
        self.assertIn("nft 1.0.2", f["nftables"]["detail"])
        self.assertTrue(f["ipvs_conn_reuse_mode"]["detail"].startswith("not loaded"))

    def test_el8_backported_psi_is_flagged(self):
        r = run_cli("features", "--host-root", os.path.join(FEATURES, "el8-4.18"),
                    "--live-probes", "off")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("[backported: version says no, probe says yes]", r.stdout)
        self.assertRegex(r.stdout, r"\n  psi +no +yes ")
        self.assertIn("cgroups:      legacy", r.stdout)
        self.assertIn("kubelet.sock:    present but not a socket", r.stdout)

    def test_auto_skips_live_probes_on_a_copy(self):
        # The real capture may carry this very kernel's release: its proc is still no procfs.
        r, doc = features_json("--host-root", os.path.join(FEATURES, "real-6.18-hybrid"))
        self.assertFalse(doc["liveProbes"])
        self.assertEqual(doc["cgroupLayout"], "hybrid")
        self.assertIsNone(by_name(doc)["recursive_read_only_mounts"]["probeSupported"])

    def test_require(self):
        r, doc = features_json("--host-root", os.path.join(FEATURES, "el8-4.18"),
                               "--live-probes", "off", "--require", "psi,cgroup_v2,memory_qos")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(doc["missing"], ["cgroup_v2", "memory_qos"])
        self.assertEqual(r.stderr, "nodehealth: required features missing: cgroup_v2, memory_qos\n")
        r = run_cli("features", "--host-root", os.path.join(FEATURES, "ubuntu-5.15"),
                    "--live-probes", "off", "--require", "cgroup_v2,memory_qos,psi")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_allowed_unsafe_sysctls(self):
        r, doc = features_json("--host-root", os.path.join(FEATURES, "ubuntu-5.15"),
                               "--live-probes", "off", "--allowed-unsafe-sysctls",
                               "net.core.somaxconn,kernel.msg*,kernel.hostname,vm.swappiness")
        got = {u["pattern"]: (u["accepted"], u["reason"]) for u in doc["allowedUnsafeSysctls"]}
        self.assertEqual(got["net.core.somaxconn"], (True, ""))
        self.assertEqual(got["kernel.msg*"], (True, ""))
        self.assertEqual(got["kernel.hostname"],
                         (False, 'the sysctls "kernel.hostname" are not known to be namespaced'))
        self.assertFalse(got["vm.swappiness"][0])


KUBELET = os.path.join(FIXTURES, "kubelet", "unsafe-sysctls")
KUBELET_ARGS = ("--kubelet-config", os.path.join(KUBELET, "config.yaml"),
                "--kubelet-config-dir", os.path.join(KUBELET, "conf.d"))


def in_new_netns(paths):
    """Which of the /proc/sys paths exist inside a new network namespace, by util-linux's
    unshare and the shell's test (independent of the agent's own child)."""
    script = "".join('test -e "%s" && echo 1 || echo 0\n' % p for p in paths)
    r = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True,
                       text=True, check=True)
    return [x == "1" for x in r.stdout.split()]


def files_under(d):
    return sorted(os.path.join(dp, f) for dp, _, fs in os.walk(d) for f in fs)


def expected_verdict(pattern):
    """facts §5, independently: the kubelet's check (namespacing rules), then the node: net.*
    sysctls in a new network namespace (unshare --net), ipc/uts/user ones present here."""
    name = pattern
    first = re.search(r"[./]", name)
    if first and first.group(0) == "/":
        name = name.translate(str.maketrans("./", "/."))
    stem = name.split("*", 1)[0]
    ipc = stem in ("kernel.sem", "kernel.shm", "kernel.msg", "kernel.shmall", "kernel.shmmax",
                   "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.msgmax", "kernel.msgmnb",
                   "kernel.msgmni") or stem.startswith("fs.mqueue.")
    net = stem.startswith("net.")
    if not (ipc or net or stem == "kernel.domainname" or stem.startswith("user.")):
        return "rejected", 0, []
    to_path = lambda n: "/proc/sys/" + n.translate(str.maketrans("./", "/."))  # noqa: E731
    if "*" not in pattern:
        here = os.path.exists(to_path(name))
        if not here:
            return "unsupported", 0, []
        if not net:
            return "namespaced", 1, []
        if in_new_netns([to_path(name)])[0]:
            return "namespaced", 1, []
        return "unsupported", 1, [name]
    d = to_path(stem.rsplit(".", 1)[0])
    names = [f[len("/proc/sys/"):].replace("/", ".") for f in files_under(d)]
    names = [n for n in names if n.startswith(stem)]
    if net:  # the host's own devices are left out, as the agent does
        names = [n for n in names if not re.match(
            r"net\.[^.]+\.(conf|neigh)\.(?!(all|default|lo)\.)", n)]
    if not names:
        return "unsupported", 0, []
    if not net:
        return "namespaced", len(names), []
    there = in_new_netns([to_path(n) for n in names])
    missing = [n for n, t in zip(names, there) if not t]
    verdict = ("namespaced" if not missing else
               "unsupported" if len(missing) == len(names) else "partial")
    return verdict, len(names), missing


class KubeletConfigTest(unittest.TestCase):
    """The kubelet's allowedUnsafeSysctls and failCgroupV1 from a kubelet config fixture
    (tests/fixtures/kubelet/unsafe-sysctls: a --config file and a --config-dir drop-in), on
    this real kernel, against the independent calculation above."""

    @classmethod
    def setUpClass(cls):
        need_root()
        need_binary("unshare")
        cls.r, cls.doc = features_json(*KUBELET_ARGS)
        cls.layout, _ = cgroup_layout(mounts())
        cls.on_v2 = statfs_magic("/sys/fs/cgroup") == 0x63677270

    def test_every_entry_against_the_node(self):
        self.assertEqual(self.r.returncode, 0, self.r.stderr)
        k = self.doc["kubelet"]
        self.assertTrue(k["found"])
        self.assertEqual(k["allowedUnsafeSysctlsOrigin"],
                         os.path.join(KUBELET, "conf.d", "10-sysctls.conf") + ":3")
        got = {u["pattern"]: u for u in self.doc["allowedUnsafeSysctls"]}
        self.assertEqual(list(got), ["net.core.somaxconn", "net.core.*",
                                     "net.core.netdev_max_backlog", "kernel.shm*", "fs.mqueue.*",
                                     "net.ipv4.tcp_syncookies", "kernel.hostname",
                                     "net/ipv4/conf/all/forwarding", "net.nodehealth_test.absent"])
        for pattern, u in got.items():
            verdict, covered, missing = expected_verdict(pattern)
            self.assertEqual(u["verdict"], verdict, u)
            if verdict != "rejected":
                self.assertEqual(u["covered"], covered, u)
            self.assertEqual(u["notNamespacedCount"], len(missing), u)
            self.assertEqual(u["notNamespaced"], missing[:20], u)
        self.assertEqual(got["kernel.hostname"]["reason"],
                         'the sysctls "kernel.hostname" are not known to be namespaced')
        self.assertTrue(self.doc["netSysctls"]["checked"], self.doc["netSysctls"])

    def test_fail_cgroup_v1_defaults_to_true_and_needs_cgroup_v2(self):
        k = self.doc["kubelet"]
        self.assertIs(k["failCgroupV1"], True)
        self.assertEqual(k["failCgroupV1Origin"], "")  # not set in either file: the default
        v1_problem = [p for p in k["problems"] if "failCgroupV1" in p]
        if self.on_v2:
            self.assertEqual(v1_problem, [])
        else:
            self.assertEqual(v1_problem, [
                "the kubelet's failCgroupV1 is true (not set: the default since Kubernetes 1.35) "
                "but this node has no cgroup v2 at /sys/fs/cgroup (%s layout): the kubelet "
                "refuses to start" % self.layout])

    def test_table(self):
        r = run_cli("features", *KUBELET_ARGS)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\nKubelet configuration\n", r.stdout)
        self.assertIn("\nAllowed unsafe sysctls (%s:3)\n"
                      % os.path.join(KUBELET, "conf.d", "10-sysctls.conf"), r.stdout)
        self.assertRegex(r.stdout, r"\n  kernel\.hostname +rejected +- +rejected +the sysctls")

    def test_the_agent_condition_and_metrics(self):
        """`run` with kubelet.configFile/configDir: KernelRequirementsMissing and the metrics."""
        cfg = ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
               "kubelet:\n  configFile: %s\n  configDir: %s\nprobes:\n  enabled: false\n"
               % (os.path.join(KUBELET, "config.yaml"), os.path.join(KUBELET, "conf.d")))
        with Agent(config=cfg) as agent:
            c = agent.condition("KernelRequirementsMissing")
            metrics = agent.metrics()
        want = [] if self.on_v2 else ["the kubelet's failCgroupV1 is true"]
        for pattern in [u["pattern"] for u in self.doc["allowedUnsafeSysctls"]]:
            verdict = expected_verdict(pattern)[0]
            if verdict in ("rejected", "unsupported"):
                want.append('allowedUnsafeSysctls entry "%s"' % pattern)
            self.assertIn('nodehealth_allowed_unsafe_sysctl{sysctl="%s",verdict="%s"} 1'
                          % (pattern, verdict), metrics)
        self.assertIn("nodehealth_kubelet_fail_cgroup_v1 1", metrics)
        # kernel.hostname is rejected on every kernel: the condition is True here.
        self.assertEqual(c["status"], "True", c)
        self.assertEqual(c["reason"],
                         "UnsafeSysctlNotNamespaced" if self.on_v2 else "KubeletRequiresCgroupV2")
        parts = c["message"].split("; ")
        self.assertEqual(len(parts), len(want), c["message"])
        for part, prefix in zip(parts, want):
            self.assertTrue(part.startswith(prefix), (part, prefix))

    def test_a_named_kubelet_file_that_is_missing_exits_2(self):
        r = run_cli("features", "--kubelet-config", os.path.join(KUBELET, "nope.yaml"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.yaml", r.stderr)


class TempTreeTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="nodehealth-test-features-")
        os.makedirs(os.path.join(self.root, "proc/sys/kernel"))

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def test_device_plugin_sockets(self):
        d = os.path.join(self.root, "var/lib/kubelet/device-plugins")
        os.makedirs(d)
        socks = []
        for name in ("kubelet.sock", "nvidia-gpu.sock", "rdma.sock"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(os.path.join(d, name))
            socks.append(s)
        self.write("var/lib/kubelet/device-plugins/kubelet_internal_checkpoint", "{}")
        try:
            r, doc = features_json("--host-root", self.root)
        finally:
            for s in socks:
                s.close()
        dp = doc["devicePlugins"]
        self.assertTrue(dp["registrationSocket"])
        self.assertEqual(dp["pluginSockets"], ["nvidia-gpu.sock", "rdma.sock"])
        self.assertTrue(dp["checkpoint"])
        self.assertEqual(dp["apiVersion"], "v1beta1")

    def test_odd_versions_are_reported_not_fatal(self):
        for odd in ("5-15-0\n", "6\n", "", "not a version\n"):
            self.write("proc/sys/kernel/osrelease", odd)
            r, doc = features_json("--host-root", self.root)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIsNone(doc["kernel"]["version"])
            self.assertNotEqual(doc["kernel"]["error"], "")
            self.assertTrue(all(f["versionSupported"] is None for f in doc["features"]))

    def test_missing_files_are_reported_not_fatal(self):
        r, doc = features_json("--host-root", self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(doc["cgroupLayout"], "unknown")
        self.assertTrue(any("osrelease" in w for w in doc["warnings"]), doc["warnings"])
        r = run_cli("features", "--host-root", self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\nWarnings\n", r.stdout)

    def test_permission_errors_are_reported_not_fatal(self):
        need_root()  # to make files only root can read, then read them as nobody
        self.write("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n")
        for res in ("cpu", "memory", "io"):
            self.write("proc/pressure/" + res, "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
        os.chmod(os.path.join(self.root, "proc/pressure"), 0o700)
        self.write("proc/sys/user/max_user_namespaces", "100\n")
        os.chmod(os.path.join(self.root, "proc/sys/user/max_user_namespaces"), 0o600)
        for dirpath, dirnames, _ in os.walk(self.root):
            for d in dirnames:
                if d != "pressure":
                    os.chmod(os.path.join(dirpath, d), 0o755)
        os.chmod(self.root, 0o755)
        r = run_as_nobody("features", "-o", "json", "--host-root", self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        f = by_name(doc)
        self.assertIsNone(f["psi"]["probeSupported"])
        self.assertIn("Permission denied", f["psi"]["detail"])
        self.assertIsNone(f["user_namespaces"]["probeSupported"])
        self.assertTrue(any("Permission denied" in w for w in doc["warnings"]), doc["warnings"])


class UsageTest(unittest.TestCase):
    def test_bad_usage_exits_2(self):
        for args in (["--bogus"], ["-o", "yaml"], ["--require", "warp_drive"],
                     ["--host-root", "/nonexistent-nodehealth"], ["--live-probes", "maybe"]):
            r = run_cli("features", *args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertTrue(r.stderr.startswith("nodehealth: "), r.stderr)

    def test_help(self):
        r = run_cli("features", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--allowed-unsafe-sysctls", r.stdout)
        self.assertIn("Exit codes: 0", r.stdout)


if __name__ == "__main__":
    unittest.main()
