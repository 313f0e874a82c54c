"""The systemd unit: `systemd-analyze verify`, the sandbox's exposure score from
`systemd-analyze security --offline=true`, the notification protocol the unit's Type=notify
and WatchdogSec= rely on (spoken to a socket the test owns), and the agent started under the
unit's [Service] restrictions, which must leave it fully working.

systemd is not PID 1 on the machines these tests run on (a container's init here, CI's
runner), so no transient unit can be started: UnitSandbox applies the unit's settings the way
systemd does, read from systemd/nodehealth.service itself (nothing is copied by hand):
- CapabilityBoundingSet=, NoNewPrivileges=, AmbientCapabilities=: setpriv (root's permitted
  set is then the bounding set, as under systemd);
- SystemCallFilter= (systemd's own group lists from `systemd-analyze syscall-filter`, @default
  implied, the lines merged in order as systemd merges them), SystemCallErrorNumber=,
  SystemCallArchitectures=native, the calls that ProtectClock=, ProtectKernelModules=,
  ProtectKernelLogs=, PrivateDevices= and ProtectHostname= deny, RestrictNamespaces=,
  RestrictAddressFamilies= and MemoryDenyWriteExecute=: seccomp filters loaded with
  libseccomp before exec, stacked as systemd stacks them;
- ProtectSystem=strict, ProtectHome=, PrivateTmp=, PrivateDevices=, ProtectKernelTunables=,
  ProtectControlGroups=, ProtectKernelModules=, ProtectKernelLogs=, ProtectProc=,
  PrivateMounts=, ProtectHostname=, PrivateIPC=: a new mount, UTS and IPC namespace with the
  same read-only, inaccessible and private mounts;
- MemoryMax=, CPUQuota=: a nodehealth-test-* memory and cpu cgroup (v1 here) with the same
  limits, removed afterwards;
- Type=notify, WatchdogSec=: NOTIFY_SOCKET and WATCHDOG_USEC, the socket the test's own.
Not emulated: LockPersonality=, RestrictRealtime= and RestrictSUIDSGID= (the agent makes
none of those calls), KeyringMode=, RemoveIPC=, UMask=, DevicePolicy= beyond the private
/dev. On a machine where systemd is PID 1 the same settings would be one `systemd-run`."""
import ctypes
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

from harness import (Agent, BIN, FIXTURES, ROOT, SANITIZED, http_get, need, need_binary,
                     need_root, wait_until)

UNIT = os.path.join(ROOT, "systemd", "nodehealth.service")
# systemd's scale: 0 (locked down) .. 10 (exposed); the README explains every point above 0.
EXPOSURE_BUDGET = 3.2
# What the agent keeps after start (agent/sandbox/sandbox.cpp): CAP_DAC_READ_SEARCH (2) and
# CAP_SYS_PTRACE (19).
KEPT_CAPS = (1 << 2) | (1 << 19)
# The seccomp helper's interpreter: Debian's, outside /root and /home (ProtectHome= hides them).
PYTHON = "/usr/bin/python3"
PROBES = ["oom", "fork", "biolatency", "reclaim", "drops"]
# MemoryMax= for the SANITIZE=1 build under UnitSandbox.
SANITIZED_MEMORY_MAX = "1G"


def unit_for_test(d):
    with open(UNIT) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/bin/nodehealth run" in unit
    path = os.path.join(d, "nodehealth.service")
    with open(path, "w") as f:
        f.write(unit.replace("/usr/local/bin/nodehealth", BIN))  # the unit names the installed path
    return path


def service_settings(text):
    """The [Service] section's (key, value) pairs in order (keys may repeat)."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            k, _, v = line.partition("=")
            out.append((k.strip(), v.strip()))
    return out


def last(settings, key, default=""):
    vals = [v for k, v in settings if k == key]
    return vals[-1] if vals else default


def yes(settings, key):
    return last(settings, key).lower() in ("yes", "true", "1", "on", "strict", "full",
                                            "invisible", "ptraceable")


def syscall_groups():
    """systemd's syscall groups as this systemd defines them: {"@name": [members]}."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True,
                         text=True, check=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
        elif not line.strip():
            current = None
    return groups


def expand(names, groups, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            out |= expand(groups[n], groups, seen)
        else:
            out.add(n)
    return out


def allowed_syscalls(settings, groups):
    """The allow list systemd builds from SystemCallFilter= lines: the first (not inverted)
    starts from @default, later lines add, `~` lines remove; then the calls other settings deny."""
    allow = None
    for k, v in settings:
        if k != "SystemCallFilter":
            continue
        invert = v.startswith("~")
        names = v.lstrip("~").split()
        if allow is None:
            assert not invert, "the unit's first SystemCallFilter= is a deny list"
            allow = expand(["@default"], groups)
        allow = allow - expand(names, groups) if invert else allow | expand(names, groups)
    assert allow, "the unit has no SystemCallFilter="
    for key, denied in (("ProtectClock", ["@clock"]), ("ProtectKernelModules", ["@module"]),
                        ("ProtectKernelLogs", ["syslog"]), ("PrivateDevices", ["@raw-io"]),
                        ("ProtectHostname", ["sethostname", "setdomainname"])):
        if yes(settings, key):
            allow -= expand(denied, groups)
    return sorted(allow)


NAMESPACE_FLAGS = {"cgroup": 0x02000000, "ipc": 0x08000000, "net": 0x40000000,
                   "mnt": 0x00020000, "pid": 0x20000000, "user": 0x10000000,
                   "uts": 0x04000000, "time": 0x00000080}
AF_MAX = 46


def filter_spec(settings, groups):
    """What the seccomp helper loads, from the unit's settings."""
    err = last(settings, "SystemCallErrorNumber", "EPERM")
    spec = {"allow": allowed_syscalls(settings, groups), "errno": getattr(errno, err)}
    ns = last(settings, "RestrictNamespaces", "no")
    if ns not in ("no", "false"):
        allowed = [] if ns in ("yes", "true") else ns.split()
        spec["namespaces"] = [NAMESPACE_FLAGS[n] for n in allowed]
    fams = last(settings, "RestrictAddressFamilies")
    if fams:
        assert not fams.startswith("~")
        spec["families"] = [int(getattr(socket, f)) for f in fams.split()]
    spec["mdwe"] = yes(settings, "MemoryDenyWriteExecute")
    return spec


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64),
                ("b", ctypes.c_uint64)]


def seccomp_exec(spec_path, argv):
    """Loads the unit's seccomp filters, stacked as systemd loads them, then execs argv.
    Runs in the child (after setpriv set no_new_privs)."""
    with open(spec_path) as f:
        spec = json.load(f)
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ALLOW = 0x7fff0000
    EQ, GE, MASKED_EQ = 4, 5, 7

    def ERRNO(e):
        return 0x00050000 | (e & 0xffff)

    def nr(name):
        return lib.seccomp_syscall_resolve_name(name.encode())

    def rule(ctx, action, name, *cmps):
        n = nr(name)
        if n < 0:
            return  # not on this architecture
        arr = (_ArgCmp * len(cmps))(*[_ArgCmp(*c) for c in cmps]) if cmps else None
        rc = lib.seccomp_rule_add_array(ctx, action, n, len(cmps), arr)
        if rc != 0:
            raise OSError(-rc, "seccomp rule for " + name)

    def load(ctx):
        rc = lib.seccomp_load(ctx)
        if rc != 0:
            raise OSError(-rc, "seccomp_load")

    filters = []
    if "namespaces" in spec:  # RestrictNamespaces=
        ctx = lib.seccomp_init(ALLOW)
        for flag in NAMESPACE_FLAGS.values():
            if flag in spec["namespaces"]:
                continue
            rule(ctx, ERRNO(errno.EPERM), "unshare", (0, MASKED_EQ, flag, flag))
            rule(ctx, ERRNO(errno.EPERM), "clone", (0, MASKED_EQ, flag, flag))
            rule(ctx, ERRNO(errno.EPERM), "setns", (1, EQ, flag, 0))
        rule(ctx, ERRNO(errno.EPERM), "setns", (1, EQ, 0, 0))
        rule(ctx, ERRNO(errno.ENOSYS), "clone3")
        filters.append(ctx)
    if "families" in spec:  # RestrictAddressFamilies=
        ctx = lib.seccomp_init(ALLOW)
        for fam in range(AF_MAX):
            if fam not in spec["families"]:
                rule(ctx, ERRNO(errno.EAFNOSUPPORT), "socket", (0, EQ, fam, 0))
        rule(ctx, ERRNO(errno.EAFNOSUPPORT), "socket", (0, GE, AF_MAX, 0))
        filters.append(ctx)
    if spec["mdwe"]:  # MemoryDenyWriteExecute=
        ctx = lib.seccomp_init(ALLOW)
        rule(ctx, ERRNO(errno.EPERM), "mmap", (2, MASKED_EQ, 0x6, 0x6))  # PROT_WRITE|PROT_EXEC
        rule(ctx, ERRNO(errno.EPERM), "mprotect", (2, MASKED_EQ, 0x4, 0x4))
        rule(ctx, ERRNO(errno.EPERM), "pkey_mprotect", (2, MASKED_EQ, 0x4, 0x4))
        rule(ctx, ERRNO(errno.EPERM), "shmat", (2, MASKED_EQ, 0o100000, 0o100000))
        filters.append(ctx)
    ctx = lib.seccomp_init(ERRNO(spec["errno"]))  # SystemCallFilter=: the allow list, last
    for name in spec["allow"]:
        rule(ctx, ALLOW, name)
    filters.append(ctx)
    for ctx in filters:
        load(ctx)
    os.execv(argv[0], argv)


# The mount namespace of the unit, set up by a shell as root before setpriv drops privileges.
# $1: a directory of the test's (inaccessible nodes), then the settings as words.
MOUNTS = r"""
set -eu
t=$1; shift
settings=" $* "
on() { case "$settings" in *" $1 "*) return 0;; esac; return 1; }
mknod "$t/inaccessible-file" c 0 0; chmod 000 "$t/inaccessible-file"
mkdir -m 000 "$t/inaccessible-dir"
hide() { [ -e "$1" ] || return 0
         if [ -d "$1" ]; then mount --bind "$t/inaccessible-dir" "$1"
         else mount --bind "$t/inaccessible-file" "$1"; fi
         mount -o remount,bind,ro "$1"; }
ro() { [ -e "$1" ] || return 0; mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; }
mounts() { awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo; }
# ProtectProc=invisible: a /proc instance of its own with hidepid.
if on ProtectProc=invisible; then mount -t proc -o nosuid,nodev,noexec,hidepid=invisible proc /proc; fi
# ProtectSystem=strict: every mount read-only but /proc, /sys and /dev (handled below).
if on ProtectSystem=strict; then
  for m in $(awk '{ print $5 }' /proc/self/mountinfo | sort -u); do
    # (/tmp and /var/tmp are replaced below; a mount point removed since is not reachable.)
    case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp/*|/var/tmp/*|*\*) ;;
      *) if [ -e "$m" ]; then mount -o remount,bind,ro "$m"; fi ;; esac
  done
fi
# ProtectKernelTunables= (and ProtectControlGroups=: /sys/fs/cgroup is under /sys).
if on ProtectKernelTunables=yes; then
  for m in $(mounts /sys | sort -u); do mount -o remount,bind,ro "$m"; done
  for p in /proc/sys /proc/sysrq-trigger /proc/irq /proc/bus /proc/fs /proc/acpi /proc/asound            /proc/latency_stats /proc/timer_list /proc/timer_stats /proc/scsi /proc/mtrr; do ro "$p"; done
fi
if on ProtectControlGroups=yes; then
  for m in $(mounts /sys/fs/cgroup | sort -u); do mount -o remount,bind,ro "$m"; done
fi
if on ProtectKernelModules=yes; then hide /usr/lib/modules; hide /lib/modules; fi
if on ProtectKernelLogs=yes; then hide /proc/kmsg; hide /dev/kmsg; fi
if on ProtectHome=yes; then hide /home; hide /root; hide /run/user; fi
if on PrivateTmp=yes; then
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
fi
# PrivateDevices=: a /dev of its own with the pseudo devices only.
if on PrivateDevices=yes; then
  mount -t tmpfs -o mode=755,nosuid,noexec tmpfs /dev
  mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
  mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
  mkdir /dev/shm /dev/pts; mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
  ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin
  ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
  mount -o remount,ro /dev
fi
"""


class UnitSandbox:
    """The agent started as the unit would start it (see the module's docstring), with the
    unit's ExecStart= arguments and a test config and port. A context manager."""

    def __init__(self, settings, config, extra_args=()):
        self.settings = settings
        self.config = config
        self.extra_args = list(extra_args)
        self.proc = None

    def __enter__(self):
        tag = "nodehealth-test-systemd-%d" % os.getpid()
        # /run: visible inside the unit's namespace (PrivateTmp= hides /tmp, ProtectHome= /root).
        self.dir = tempfile.mkdtemp(prefix=tag + "-", dir="/run")
        self.cgroups = []
        mem_max = last(self.settings, "MemoryMax")
        if SANITIZED and mem_max:
            # AddressSanitizer's shadow memory, quarantine and redzones: several times the
            # shipped binary's footprint (the shipped one is held to MemoryMax= as it is).
            mem_max = SANITIZED_MEMORY_MAX
        self.mem_max = mem_max
        quota = last(self.settings, "CPUQuota")
        mem = os.path.join("/sys/fs/cgroup/memory", tag)
        cpu = os.path.join("/sys/fs/cgroup/cpu", tag)
        for path in (mem, cpu):
            os.mkdir(path)
            self.cgroups.append(path)
        self.mem_cgroup = mem
        if mem_max:
            m = re.fullmatch(r"(\d+)([KMG]?)", mem_max)
            with open(os.path.join(mem, "memory.limit_in_bytes"), "w") as f:
                f.write(str(int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]))
        if quota:
            with open(os.path.join(cpu, "cpu.cfs_period_us")) as f:
                period = int(f.read())
            with open(os.path.join(cpu, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(period * int(quota.rstrip("%")) // 100))
        spec = os.path.join(self.dir, "seccomp.json")
        with open(spec, "w") as f:
            json.dump(filter_spec(self.settings, syscall_groups()), f)
        caps = last(self.settings, "CapabilityBoundingSet").split()
        bounding = ",".join(["-all"] + ["+" + c.lower()[len("cap_"):] for c in caps])
        exec_start = last(self.settings, "ExecStart").split()
        assert exec_start[0] == "/usr/local/bin/nodehealth", exec_start
        args = exec_start[1:]
        args[args.index("--config") + 1] = self.reachable(self.config)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify_path = os.path.join(self.dir, "notify.sock")
        self.notify.bind(notify_path)
        self.notify.settimeout(60)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        if SANITIZED:
            # LeakSanitizer's exit-time tracer ptraces the process, which the unit's
            # SystemCallFilter= (~@debug) denies; leaks are checked in every other test.
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                         "detect_leaks=0"]))
        watchdog = last(self.settings, "WatchdogSec")
        if watchdog:
            env["WATCHDOG_USEC"] = str(int(watchdog.rstrip("s")) * 1000000)
        words = ["%s=%s" % kv for kv in self.settings if " " not in kv[1]]
        # The seccomp step below runs this file again (which imports the harness beside it).
        here = os.path.dirname(os.path.abspath(__file__))
        self.reachable(os.path.join(here, "harness.py"))
        runner = self.reachable(os.path.abspath(__file__))
        script = ("echo $$ > %s/cgroup.procs; echo $$ > %s/cgroup.procs\n" % (mem, cpu) + MOUNTS
                  + '\nexec setpriv --bounding-set "%s" --inh-caps=-all --ambient-caps=-all '
                  '%s -- "%s" "%s" --seccomp-exec "%s" -- %s\n' % (
                      bounding, "--no-new-privs" if yes(self.settings, "NoNewPrivileges") else "",
                      PYTHON, runner, spec,
                      " ".join('"%s"' % a for a in [self.reachable(BIN), *args,
                                                    *self.extra_args])))
        ns = ["--mount", "--propagation", "private"]
        if yes(self.settings, "ProtectHostname"):
            ns.append("--uts")
        if yes(self.settings, "PrivateIPC"):
            ns.append("--ipc")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(["unshare", *ns, "sh", "-c", script, "sh", self.dir, *words],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=lambda: os.umask(0o077))
        return self

    def reachable(self, path):
        """path as the unit's namespace reaches it. PrivateTmp= gives the unit an empty /tmp
        and /var/tmp, so a file there (a checkout cloned into /tmp, its binary) is copied into
        this sandbox's directory in /run first, at the same path below it."""
        real = os.path.realpath(path)
        if not real.startswith(("/tmp/", "/var/tmp/")):
            return path
        dest = os.path.join(self.dir, "reach", real.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(real, dest)
        return dest

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def port(self):
        if self.proc.poll() is not None:
            raise AssertionError("the agent exited with %s:\n%s" % (self.proc.returncode,
                                                                    self.logs()))
        m = re.search(r"nodehealth started: .* port=(\d+)", self.logs())
        return m and int(m.group(1))

    def proc_status(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __exit__(self, *exc):
        if self.proc:
            self.stop()
        self.log.close()
        self.notify.close()
        for path in self.cgroups:
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except OSError:
                    subprocess.run(["sleep", "0.1"])
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def feature_lines(metrics):
    """The features probes' answers in a scrape."""
    return sorted(l for l in metrics.splitlines()
                  if l.startswith(("nodehealth_kernel_feature{", "nodehealth_sysctl_supported{")))


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
            print("  exposure %s" % m.group(1))
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


class AgentUnderTheUnitTest(unittest.TestCase):
    """The agent started under the unit's [Service] restrictions (UnitSandbox; systemd is not
    PID 1 here, see the module's docstring) with the config `make install` installs."""

    CONFIG = os.path.join(ROOT, "deploy", "host", "config.yaml")

    def setUp(self):
        need_root()
        for b in ("setpriv", "unshare", "systemd-analyze", "mknod"):
            need_binary(b)
        need(os.path.isdir("/sys/fs/cgroup/memory") and os.path.isdir("/sys/fs/cgroup/cpu"),
             "no cgroup v1 memory and cpu controllers here for MemoryMax= and CPUQuota=")
        with open(UNIT) as f:
            self.settings = service_settings(f.read())

    def test_every_probe_up_sandbox_applied_healthz_ok(self):
        # The features probes' answers of an unconfined agent, to compare with.
        with Agent("--config", self.CONFIG) as plain:
            baseline = wait_until(lambda: feature_lines(plain.metrics()), 10,
                                  what="feature metrics")
        with UnitSandbox(self.settings, self.CONFIG, ["--listen-address", "127.0.0.1:0"]) as u:
            # Type=notify: READY=1 after the first sample (the start is slow under CPUQuota=).
            self.assertEqual(u.notify.recv(4096).decode().split("\n")[0], "READY=1", u.logs())
            port = wait_until(u.port, 30, what="the agent to listen")
            wait_until(lambda: http_get(port, "/healthz")[0] == 200, 30, what="/healthz 200")
            logs = u.logs()
            self.assertNotIn("critical", logs)
            self.assertNotIn("probe down", logs)
            self.assertNotIn("psi trigger unavailable", logs)
            self.assertRegex(logs, r"sandbox: seccomp=enforce rules=\d+ "
                                   r"capabilities=cap_dac_read_search,cap_sys_ptrace ")
            code, _, body = http_get(port, "/status")
            self.assertEqual(code, 200, body)
            status = json.loads(body)
            self.assertEqual([(p["name"], p["up"]) for p in status["probes"]],
                             [(p, True) for p in PROBES])
            self.assertEqual([s["name"] for s in status["sources"] if not s["up"]], [])
            code, _, metrics = http_get(port, "/metrics")
            self.assertEqual(code, 200)
            # No feature probe lost to the unit (network namespace, test mount, nft --version).
            self.assertEqual(feature_lines(metrics), baseline)
            st = u.proc_status()
            print("  under the unit: CapEff %s CapBnd %s NoNewPrivs %s Seccomp %s filters %s" % (
                st["CapEff"], st["CapBnd"], st["NoNewPrivs"], st["Seccomp"],
                st.get("Seccomp_filters")))
            for key in ("CapEff", "CapPrm", "CapBnd"):
                self.assertEqual(int(st[key], 16), KEPT_CAPS, key)
            self.assertEqual(int(st["CapInh"], 16), 0)
            self.assertEqual(int(st["CapAmb"], 16), 0)
            self.assertEqual(st["NoNewPrivs"], "1")
            self.assertEqual(st["Seccomp"], "2")
            # The unit's four filters (allow list, namespaces, address families, W^X) and the
            # agent's own.
            self.assertEqual(int(st["Seccomp_filters"]), 5)
            # The unit's mounts are the agent's: / read-only, a private /tmp, /proc hidepid.
            with open("/proc/%d/mountinfo" % u.proc.pid) as f:
                mounts = {l.split()[4]: l for l in f}
            self.assertIn("ro", mounts["/"].split()[5].split(","))
            self.assertIn(" - tmpfs ", mounts["/tmp"])
            self.assertIn("hidepid=invisible", mounts["/proc"])
            # MemoryMax=: never reached.
            with open(os.path.join(u.mem_cgroup, "memory.failcnt")) as f:
                self.assertEqual(int(f.read()), 0, "the agent hit MemoryMax=")
            with open(os.path.join(u.mem_cgroup, "memory.max_usage_in_bytes")) as f:
                print("  peak memory in the unit's cgroup: %.1f MiB of %s" % (
                    int(f.read()) / 2**20, u.mem_max))
            self.assertEqual(u.stop(), 0, u.logs())
            while True:
                msg = u.notify.recv(4096).decode()
                if msg != "WATCHDOG=1":
                    break
            self.assertEqual(msg, "STOPPING=1")

    def test_the_emulation_catches_a_unit_the_agent_cannot_run_under(self):
        """Each of the unit's relaxations matters, and the emulation is not a no-op: without
        them the agent refuses to start, or starts with its probes down."""
        base = [(k, v) for k, v in self.settings]
        cases = [
            # The unit before this fix: no capability at all.
            ("an empty CapabilityBoundingSet=", [(k, "" if k == "CapabilityBoundingSet" else v)
                                                  for k, v in base], "exits"),
            ("no CAP_SETPCAP", [(k, v.replace(" CAP_SETPCAP", "") if k == "CapabilityBoundingSet"
                                 else v) for k, v in base], "exits"),
            ("without the added-back system calls",
             [(k, v) for k, v in base if not (k == "SystemCallFilter" and v.startswith("bpf "))],
             "exits"),
            # CAP_SYS_ADMIN stands for CAP_BPF and CAP_PERFMON too: without it no probe loads.
            ("no CAP_SYS_ADMIN", [(k, v.replace("CAP_SYS_ADMIN ", "")
                                   if k == "CapabilityBoundingSet" else v) for k, v in base],
             "probes down"),
        ]
        for what, settings, outcome in cases:
            with self.subTest(what):
                with UnitSandbox(settings, self.CONFIG, ["--listen-address", "127.0.0.1:0"]) as u:
                    if outcome == "exits":
                        u.proc.wait(60)
                        self.assertNotEqual(u.proc.returncode, 0, u.logs())
                        self.assertIn("startup failed", u.logs())
                    else:
                        wait_until(lambda: "sandbox: seccomp=" in u.logs(), 60,
                                   what="the agent to start")
                        self.assertEqual(u.logs().count("probe down"), len(PROBES), u.logs())


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--seccomp-exec" and sys.argv[3] == "--":
        seccomp_exec(sys.argv[2], sys.argv[4:])
    unittest.main()
