"""The sandbox of `nodehealth run` (agent/sandbox): after start every thread of the agent holds
only the capabilities the steady state needs, no_new_privs is set and the seccomp allowlist is
installed (Seccomp: 2); a system call outside the list kills the process with SIGSYS (enforce)
or is only logged (log); `off` and dropCapabilities: false leave the process as it started.
The agent runs on the real host here, as root, with its eBPF probes loaded, so the sandbox is
proved against the whole steady state (probes, ring buffers, PSI triggers, statfs worker,
civetweb workers)."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Agent, http_get, need, need_root, run_cli, wait_until, write

CAP_DAC_READ_SEARCH = 2
CAP_SYS_PTRACE = 19
KEPT = (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_SYS_PTRACE)
BASE = "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\nsampleInterval: 200ms\n"


def task_status(pid):
    """{tid: {key: value}} of every thread's /proc/<pid>/task/<tid>/status."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                out[int(tid)] = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except FileNotFoundError:  # a thread that just ended
            pass
    return out


def own_caps():
    """The effective set this test runs with (what the agent starts with)."""
    with open("/proc/self/status") as f:
        return int(dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)["CapEff"], 16)


class ForbiddenSyscall:
    """NODEHEALTH_TEST_FORBIDDEN_SYSCALL=N for the agents started inside."""

    def __init__(self, ticks):
        self.ticks = str(ticks)

    def __enter__(self):
        os.environ["NODEHEALTH_TEST_FORBIDDEN_SYSCALL"] = self.ticks

    def __exit__(self, *exc):
        os.environ.pop("NODEHEALTH_TEST_FORBIDDEN_SYSCALL", None)
        return False


class SandboxTest(unittest.TestCase):
    def setUp(self):
        need_root()

    def test_every_thread_is_reduced_and_filtered_and_the_agent_still_works(self):
        with Agent(config=BASE) as a:
            # A few ticks of the steady state (sources, probes, scrapes) under the filter.
            for _ in range(10):
                self.assertEqual(http_get(a.port, "/metrics")[0], 200)
                time.sleep(0.2)
            self.assertIsNone(a.proc.poll(), a.logs())
            self.assertRegex(a.logs(), r"sandbox: seccomp=enforce rules=\d+ "
                                       r"capabilities=cap_dac_read_search,cap_sys_ptrace")
            tasks = task_status(a.proc.pid)
            # civetweb workers and the statfs worker at least.
            self.assertGreater(len(tasks), 3, tasks.keys())
            for tid, st in tasks.items():
                where = "tid %d (%s)" % (tid, st.get("Name"))
                for key in ("CapEff", "CapPrm", "CapBnd"):
                    self.assertEqual(int(st[key], 16), KEPT, where + " " + key)
                self.assertEqual(int(st["CapInh"], 16), 0, where)
                self.assertEqual(int(st["CapAmb"], 16), 0, where)
                self.assertEqual(st["Seccomp"], "2", where)
                self.assertEqual(st["NoNewPrivs"], "1", where)
            # The steady state works under it: every source that is up on this host stays up,
            # the probes run.
            status = a.status()
            down = {s["name"]: s.get("error") for s in status["sources"] if not s["up"]}
            self.assertEqual(down, {}, down)
            m = a.metrics()
            self.assertRegex(m, r'nodehealth_probe_up\{probe="fork"\} 1')
            self.assertIsNone(a.proc.poll(), a.logs())

    def test_process_metrics_are_read_under_the_filter(self):
        # The process_* families read /proc/self at scrape time, after the sandbox is in place:
        # every one is there, with the figures /proc/<pid> shows from outside.
        with Agent(config=BASE) as a:
            wait_until(lambda: "sandbox: seccomp=enforce" in a.logs(), 30, interval=0.2,
                       what="the sandbox applied")
            m = a.metrics()
            self.assertIsNone(a.proc.poll(), a.logs())
            values = dict(re.findall(r"^(process_\w+) (\S+)$", m, re.M))
            self.assertEqual(sorted(values), sorted([
                "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                "process_virtual_memory_bytes", "process_resident_memory_bytes",
                "process_start_time_seconds"]), m)
            self.assertNotIn("process metrics: cannot read", a.logs())
            pid = a.proc.pid
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/stat") as f:
                btime = int(next(l.split()[1] for l in f if l.startswith("btime ")))
            hz = os.sysconf("SC_CLK_TCK")
            self.assertAlmostEqual(float(values["process_start_time_seconds"]),
                                   btime + int(fields[19]) / hz, places=2)
            # CPU only grows: at most what /proc shows a moment later.
            self.assertLessEqual(float(values["process_cpu_seconds_total"]),
                                 (int(fields[11]) + int(fields[12])) / hz)
            self.assertGreater(float(values["process_cpu_seconds_total"]), 0)
            with open("/proc/%d/limits" % pid) as f:
                soft = next(l for l in f if l.startswith("Max open files")).split()[3]
            self.assertEqual(values["process_max_fds"], soft)
            with open("/proc/%d/status" % pid) as f:
                rss_kb = int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
            rss = float(values["process_resident_memory_bytes"])
            self.assertLess(abs(rss - rss_kb * 1024), 4 << 20, (rss, rss_kb))
            self.assertGreater(float(values["process_virtual_memory_bytes"]), rss)
            # While the agent counts, the scrape holds three descriptors more than at rest: the
            # client's connection at the gate, the gate's to civetweb, and civetweb's end.
            fds = len(os.listdir("/proc/%d/fd" % pid))
            self.assertLessEqual(abs(int(values["process_open_fds"]) - fds), 4, (values, fds))
            self.assertIsNone(a.proc.poll(), a.logs())

    def test_a_forbidden_syscall_kills_the_agent_with_sigsys(self):
        with ForbiddenSyscall(3), Agent(config=BASE, expect_exit=-signal.SIGSYS) as a:
            rc = a.proc.wait(20)
            self.assertEqual(rc, -signal.SIGSYS, a.logs())
            logs = a.logs()
            self.assertIn("making a forbidden system call", logs)
            self.assertNotIn("forbidden system call returned", logs)

    def test_log_mode_logs_and_does_not_kill(self):
        with ForbiddenSyscall(3), Agent(config=BASE + "sandbox:\n  seccomp: log\n") as a:
            wait_until(lambda: "forbidden system call returned" in a.logs(), 20,
                       what="the forbidden call to return")
            self.assertRegex(a.logs(), r"forbidden system call returned rc=-1 errno=\d+")
            self.assertIsNone(a.proc.poll(), a.logs())
            self.assertEqual(http_get(a.port, "/healthz")[0], 200)
            st = task_status(a.proc.pid)[a.proc.pid]
            self.assertEqual(st["Seccomp"], "2")
            # The kernel's audit record of the call (type 1326, syscall 165 = mount on x86_64),
            # when this kernel's log is readable.
            dmesg = subprocess.run(["dmesg"], capture_output=True, text=True)
            need(dmesg.returncode == 0, "dmesg unreadable")
            pat = re.compile(r"type=1326 .* pid=%d .* syscall=165 " % a.proc.pid)
            wait_until(lambda: pat.search(subprocess.run(["dmesg"], capture_output=True,
                                                         text=True).stdout), 5,
                       what="the audit record of the logged mount(2)")

    def test_off_keeps_the_process_as_it_started(self):
        cfg = BASE + "sandbox:\n  seccomp: off\n  dropCapabilities: false\n"
        with Agent(config=cfg) as a:
            self.assertIn("sandbox: seccomp=off rules=0 capabilities=all kept", a.logs())
            st = task_status(a.proc.pid)[a.proc.pid]
            self.assertEqual(st["Seccomp"], "0")
            self.assertEqual(int(st["CapEff"], 16), own_caps())

    def test_capabilities_only_without_seccomp(self):
        cfg = BASE + "sandbox:\n  seccomp: off\n"
        with ForbiddenSyscall(2), Agent(config=cfg) as a:
            wait_until(lambda: "forbidden system call returned" in a.logs(), 20,
                       what="the forbidden call to return")
            # Without CAP_SYS_ADMIN the mount fails with EPERM: the capability is really gone.
            self.assertIn("forbidden system call returned rc=-1 errno=1", a.logs())
            for st in task_status(a.proc.pid).values():
                self.assertEqual(st["Seccomp"], "0")
                self.assertEqual(int(st["CapEff"], 16), KEPT)
                self.assertEqual(st["NoNewPrivs"], "1")

    def test_bad_sandbox_config_is_an_error_with_file_and_line(self):
        d = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "config.yaml")
        write(path, BASE + "sandbox:\n  seccomp: strict\n  dropCaps: true\n")
        r = run_cli("run", "--config", path, "--listen-address", "127.0.0.1:0", timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("sandbox.seccomp", r.stderr)
        self.assertIn("must be enforce, log or off", r.stderr)
        self.assertIn("sandbox.dropCaps", r.stderr)
        self.assertRegex(r.stderr, r"config\.yaml:\d+")


if __name__ == "__main__":
    unittest.main()
