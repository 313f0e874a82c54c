"""Faults the agent must survive, each on the real binary with the sandbox on (the default):
a source file that turns into garbage, vanishes and comes back; a statfs that hangs (a FUSE
mount whose server never answers); SIGTERM (clean exit, BPF programs and links gone); SIGKILL
and restart; a fork flood. Each proves the agent keeps serving and recovers."""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from harness import FIXTURES, Agent, http_get, need, need_binary, need_root, wait_until

BASE = "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\nsampleInterval: 200ms\n"
NO_PROBES = "probes:\n  enabled: false\n"


def source_up(agent, name):
    m = re.search(r'^nodehealth_source_up\{source="%s"\} (\S+)$' % name, agent.metrics(), re.M)
    return None if m is None else float(m.group(1))


def scrape_ok(agent, timeout=2):
    code, _, body = http_get(agent.port, "/metrics", timeout=timeout)
    return code == 200 and "nodehealth_source_up" in body


def agent_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bpf_objects(kind, pid):
    """Ids of the BPF programs ("prog") or links ("link") pid holds open, from its fdinfo."""
    key = {"prog": "prog_id", "link": "link_id"}[kind]
    ids = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if "bpf" not in target:
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k == key:
                        ids.add(int(v))
        except (FileNotFoundError, ValueError):
            pass
    return ids


def all_bpf_ids(kind):
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True,
                         check=True).stdout
    return {o["id"] for o in json.loads(out or "[]")}


# A FUSE "server" that mounts and then never reads /dev/fuse: the kernel's INIT request is never
# answered, so every statfs of the mount blocks (killably) in the kernel, exactly as on a FUSE or
# NFS server that stopped. Killing this process closes /dev/fuse and aborts the connection.
FUSE_SERVER = textwrap.dedent("""
    import ctypes, os, sys, time
    target = sys.argv[1]
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = "fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
    if libc.mount(b"nodehealth-test", target.encode(), b"fuse", 6, opts.encode()) != 0:
        print("mount failed: %s" % os.strerror(ctypes.get_errno()), flush=True)
        sys.exit(1)
    print("mounted", flush=True)
    time.sleep(600)
""")


@contextlib.contextmanager
def hung_mount(target):
    p = subprocess.Popen([sys.executable, "-c", FUSE_SERVER, target], stdout=subprocess.PIPE,
                         text=True)
    try:
        line = p.stdout.readline().strip()
        assert line == "mounted", line
        os.kill(p.pid, signal.SIGSTOP)  # and the server stops, for good measure
        yield p
    finally:
        p.kill()  # closes /dev/fuse: the connection aborts, blocked calls return ENOTCONN
        p.wait()
        subprocess.run(["umount", "-l", target], capture_output=True)


class FaultTest(unittest.TestCase):
    def test_source_file_garbage_vanishes_and_comes_back(self):
        root = tempfile.mkdtemp(prefix="nodehealth-test-faults-")
        try:
            shutil.copytree(os.path.join(FIXTURES, "debian12-hybrid"), root, dirs_exist_ok=True)
            meminfo = os.path.join(root, "proc", "meminfo")
            with open(meminfo) as f:
                good = f.read()
            with open(os.path.join(FIXTURES, "garbage", "proc", "meminfo")) as f:
                garbage = f.read()
            with Agent("--host-root", root, config=BASE) as a:
                wait_until(lambda: source_up(a, "meminfo") == 1, 10, what="meminfo up")
                self.assertEqual(a.condition("MemoryPressure")["status"], "False")
                steps = [("garbage", garbage, 0, "Unknown"), ("vanished", None, 0, "Unknown"),
                         ("restored", good, 1, "False")]
                for what, text, up, status in steps:
                    if text is None:
                        os.unlink(meminfo)
                    else:
                        with open(meminfo + ".tmp", "w") as f:
                            f.write(text)
                        os.rename(meminfo + ".tmp", meminfo)
                    wait_until(lambda: source_up(a, "meminfo") == up, 10, what="meminfo " + what)
                    wait_until(lambda: a.condition("MemoryPressure")["status"] == status, 10,
                               what="MemoryPressure %s when %s" % (status, what))
                    self.assertTrue(scrape_ok(a), what)
                    self.assertEqual(source_up(a, "pids"), 1, what)  # the others carry on
                logs = a.logs()
                self.assertIn(meminfo, logs)  # the warning names the file
                self.assertIsNone(a.proc.poll(), logs)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_hung_statfs_fails_the_source_not_the_agent(self):
        need_root()
        need(os.path.exists("/dev/fuse"), "no /dev/fuse")
        fs = tempfile.mkdtemp(prefix="nodehealth-test-hung-")
        cfg = BASE + NO_PROBES + ("filesystems:\n  nodefs: %s\n  imagefs: %s\n"
                                  "  statfsTimeout: 300ms\n" % (fs, fs))
        try:
            with Agent(config=cfg) as a:
                wait_until(lambda: source_up(a, "filesystem") == 1, 10, what="filesystem up")
                with hung_mount(fs):
                    wait_until(lambda: source_up(a, "filesystem") == 0, 10,
                               what="filesystem down while statfs hangs")
                    wait_until(lambda: a.condition("DiskPressure")["status"] == "Unknown", 10,
                               what="DiskPressure Unknown")
                    # It keeps serving, fast, and the other sources keep sampling.
                    for _ in range(10):
                        t0 = time.monotonic()
                        self.assertTrue(scrape_ok(a, timeout=2))
                        self.assertLess(time.monotonic() - t0, 1.0)
                        time.sleep(0.1)
                    self.assertEqual(source_up(a, "meminfo"), 1)
                    err = [s for s in a.status()["sources"] if s["name"] == "filesystem"][0]
                    self.assertRegex(err.get("error", ""), r"timed out|still blocked")
                wait_until(lambda: source_up(a, "filesystem") == 1, 15,
                           what="filesystem up again after the server went away")
                wait_until(lambda: a.condition("DiskPressure")["status"] == "False", 10,
                           what="DiskPressure False again")
                self.assertIsNone(a.proc.poll(), a.logs())
        finally:
            subprocess.run(["umount", "-l", fs], capture_output=True)
            os.rmdir(fs)

    def test_sigterm_exits_cleanly_and_detaches_the_probes(self):
        need_root()
        need_binary("bpftool")
        a = Agent(config=BASE)
        with a:
            wait_until(lambda: re.search(r'nodehealth_probe_up\{probe="fork"\} 1', a.metrics()),
                       20, what="fork probe up")
            progs, links = bpf_objects("prog", a.proc.pid), bpf_objects("link", a.proc.pid)
            self.assertTrue(progs, "the agent holds no BPF programs")
            self.assertTrue(links, "the agent holds no BPF links")
            a.proc.send_signal(signal.SIGTERM)
            self.assertEqual(a.proc.wait(10), 0, a.logs())
        self.assertIn("nodehealth stopping: signal=Terminated", a.logs())
        self.assertEqual(progs & all_bpf_ids("prog"), set(), "programs left after exit")
        self.assertEqual(links & all_bpf_ids("link"), set(), "links left after exit")

    def test_sigkill_and_restart(self):
        need_root()
        need_binary("bpftool")
        work = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        first = Agent(config=BASE, workdir=work, expect_exit=-signal.SIGKILL)
        with first:
            wait_until(lambda: re.search(r'nodehealth_probe_up\{probe="fork"\} 1',
                                         first.metrics()), 20, what="fork probe up")
            links = bpf_objects("link", first.proc.pid)
            first.proc.send_signal(signal.SIGKILL)
            self.assertEqual(first.proc.wait(10), -signal.SIGKILL)
        # The kernel closed its fds: nothing of it stays attached.
        wait_until(lambda: not (links & all_bpf_ids("link")), 10, what="links of the killed agent gone")
        with Agent(config=BASE, workdir=work) as second:
            wait_until(lambda: re.search(r'nodehealth_probe_up\{probe="fork"\} 1',
                                         second.metrics()), 20, what="fork probe up again")
            wait_until(lambda: source_up(second, "meminfo") == 1, 10, what="sampling again")
            self.assertTrue(bpf_objects("link", second.proc.pid))
            self.assertIn("sandbox: seccomp=enforce", second.logs())
        shutil.rmtree(work, ignore_errors=True)

    def test_fork_flood_keeps_cpu_bounded_and_serving(self):
        need_root()
        need_binary("stress-ng")
        with Agent(config=BASE) as a:
            wait_until(lambda: re.search(r'nodehealth_probe_up\{probe="fork"\} 1', a.metrics()),
                       20, what="fork probe up")
            cpu0, t0 = agent_cpu_seconds(a.proc.pid), time.monotonic()
            flood = subprocess.Popen(["stress-ng", "--fork", "1", "--fork-ops", "20000",
                                      "--timeout", "90s", "--quiet"])
            worst = 0.0
            try:
                while flood.poll() is None:
                    s = time.monotonic()
                    self.assertTrue(scrape_ok(a, timeout=5))
                    worst = max(worst, time.monotonic() - s)
                    time.sleep(0.2)
            finally:
                if flood.poll() is None:
                    flood.kill()
                flood.wait()
            self.assertEqual(flood.returncode, 0)
            wall = time.monotonic() - t0
            share = (agent_cpu_seconds(a.proc.pid) - cpu0) / wall
            print("fork flood: %.1fs, agent cpu %.1f%% of a core, slowest scrape %.0f ms"
                  % (wall, share * 100, worst * 1000))
            self.assertLess(share, 0.25)
            self.assertLess(worst, 2.0)
            # The probe saw the flood (20000 forks and more).
            m = re.search(r'^nodehealth_process_forks_node_total (\S+)$', a.metrics(), re.M)
            self.assertIsNotNone(m, "no fork counter")
            print("fork flood: the fork probe counted %s forks" % m.group(1))
            self.assertGreater(float(m.group(1)), 20000)
            self.assertIsNone(a.proc.poll(), a.logs())


if __name__ == "__main__":
    unittest.main()
