"""The eBPF probes on this real kernel, as root (CI runs these; a skip fails there):
- a process in its own 32 MiB memory cgroup allocates past its limit and is OOM-killed:
  the oom probe reports that kill with its pid and cgroup path, RecentOOMKills turns True;
- 500 forks in a test cgroup count at least 500 in that cgroup's fork counter;
- direct I/O to a loop device raises that device's latency histogram by the requests;
- both of these again with the classic-tracepoint programs a kernel without BTF raw
  tracepoints gets (NODEHEALTH_TEST_NO_TP_BTF=1), checking which programs were loaded;
- UDP packets dropped on purpose inside a network namespace of the test's own (an nftables
  drop rule; a port without a socket) count under their drop reasons;
- a probe whose tracepoint is missing (simulated by name) is down alone and reported;
- a task writing page cache in a 32 MiB cgroup stalls in memcg reclaim, each stall counted;
- with bpf.statsEnabled each program's own run time and count are exported;
- every live scrape with probe families passes `promtool check metrics`."""
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import nodecalc
from harness import Agent, agent_with_headroom, need, need_binary, need_root, wait_until

ALLOCATE = "b = []\nwhile True:\n    b.append(bytearray(1 << 20))\n"


def metric(text, name, **labels):
    """The value of one sample of `name` with exactly these labels (None if absent)."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^([a-z_:]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted(p for p in (m.group(2) or "").split(",") if p))
        if got == want:
            return float(m.group(3))
    return None


def assert_promtool_clean(test, text):
    """`promtool check metrics` on a live scrape with the probes' families in it."""
    need_binary("promtool")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)


@contextlib.contextmanager
def memory_cgroup(tag, limit=None):
    _, v1 = nodecalc.cgroup_mounts("/proc")
    need(v1 is not None, "no cgroup v1 memory controller here")
    name = "nodehealth-test-%s-%d" % (tag, os.getpid())
    path = os.path.join(v1, name)
    os.mkdir(path)
    try:
        if limit:
            with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
                f.write(str(limit))
        yield "/" + name, path
    finally:
        # Leftover tasks (none expected) would keep the directory busy: wait for them.
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except OSError:
                subprocess.run(["sleep", "0.1"])


@contextlib.contextmanager
def override_env(name, value):
    """An agent started inside this block sees the test override `name`=`value`."""
    os.environ[name] = value
    try:
        yield
    finally:
        del os.environ[name]


def tp_btf(enabled):
    """An agent started inside this block loads its BTF raw tracepoint programs (enabled),
    or the classic-tracepoint fallbacks (not enabled), whatever the kernel offers."""
    return contextlib.nullcontext() if enabled else override_env("NODEHEALTH_TEST_NO_TP_BTF", "1")


def loaded_programs(text, probe):
    return set(re.findall(r'nodehealth_probe_program_runs_total\{probe="%s",program="(\w+)"\}'
                          % probe, text))


STATS = "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\nbpf:\n  statsEnabled: true\n"


def in_cgroup(path):
    def enter():
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    return enter


class ProbeTest(unittest.TestCase):
    def setUp(self):
        need_root()
        need(os.path.exists("/sys/kernel/btf/vmlinux"), "kernel without BTF")

    def test_every_probe_loads(self):
        with Agent() as agent:
            m = agent.metrics()
            for p in ("oom", "fork", "biolatency", "reclaim", "drops"):
                self.assertEqual(metric(m, "nodehealth_probe_up", probe=p), 1, agent.logs())
            self.assertEqual([p["name"] for p in agent.status()["probes"] if p["up"]],
                             ["oom", "fork", "biolatency", "reclaim", "drops"])
            for c in ("RecentOOMKills", "ForkStorm", "SlowDisk", "PacketDrops"):
                self.assertEqual(agent.condition(c)["status"], "False")

    def test_oom_kill_reported_with_pid_and_cgroup(self):
        with memory_cgroup("oom", limit=32 << 20) as (cgroup, path), Agent() as agent:
            proc = subprocess.Popen([sys.executable, "-c", ALLOCATE], preexec_fn=in_cgroup(path),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                proc.wait(30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            self.assertEqual(proc.returncode, -9, "the allocation was not OOM-killed")
            wait_until(lambda: metric(agent.metrics(), "nodehealth_oom_kills_cgroup_total",
                                      cgroup=cgroup, pod_uid="", container_id="") == 1, 10,
                       what="the kill counted under " + cgroup)
            c = agent.condition("RecentOOMKills")
            self.assertEqual(c["status"], "True")
            self.assertIn("last: pid %d (python3) in cgroup %s" % (proc.pid, cgroup), c["message"])
            self.assertRegex(agent.logs(), r"oom kill: pid=%d comm=python3 cgroup=%s " %
                             (proc.pid, re.escape(cgroup)))
            # ... and in the agent's recent events, with the condition's change.
            events = agent.status()["events"]
            self.assertIn({"kind": "OOMKill", "reason": "OOMKilled",
                           "message": "pid %d (python3) in %s" % (proc.pid, cgroup)},
                          [{k: e[k] for k in ("kind", "reason", "message")} for e in events])
            self.assertIn(("RecentOOMKills", "False", "True"),
                          [(e.get("type"), e.get("from"), e.get("to")) for e in events])
            self.assertGreaterEqual(metric(agent.metrics(), "nodehealth_oom_kills_total"), 1)
            assert_promtool_clean(self, agent.metrics())  # per-cgroup OOM labels included

    def test_memcg_reclaim_stalls_of_a_cgroup_at_its_limit(self):
        # Page cache written by a task in a 32 MiB cgroup: past the limit, every charge
        # that fails reclaims the cgroup's own (clean) pages first: no OOM kill, and
        # each of those reclaims is one stall on the memcg tracepoints.
        d = tempfile.mkdtemp(prefix="nodehealth-test-reclaim-", dir="/var/tmp")
        write = ("import os\nfd = os.open(%r, os.O_WRONLY | os.O_CREAT)\nchunk = b'x' * (1 << 20)\n"
                 "for i in range(96):\n    os.write(fd, chunk)\n"
                 "    if i %% 8 == 7: os.fsync(fd)\nos.close(fd)\n" % os.path.join(d, "cache"))
        try:
            with memory_cgroup("reclaim", limit=32 << 20) as (cgroup, path), Agent() as agent:
                def stalls():
                    return metric(agent.metrics(), "nodehealth_memcg_reclaim_stalls_total")
                before = wait_until(lambda: stalls() is not None and [stalls()], 10,
                                    what="the memcg reclaim counter")[0]
                failcnt = os.path.join(path, "memory.failcnt")
                with open(failcnt) as f:
                    self.assertEqual(int(f.read()), 0)
                r = subprocess.run([sys.executable, "-c", write], preexec_fn=in_cgroup(path),
                                   timeout=120)
                self.assertEqual(r.returncode, 0, "the writer was killed")
                with open(failcnt) as f:
                    failed = int(f.read())
                self.assertGreater(failed, 0, "the cgroup never hit its limit")
                # Each failed charge of the cgroup reclaimed once (more stalls may come from
                # other cgroups of the node, never fewer).
                wait_until(lambda: stalls() >= before + failed, 10,
                           what="%d memcg reclaim stalls" % failed)
                m = agent.metrics()
                count = metric(m, "nodehealth_memcg_reclaim_stall_seconds_count")
                self.assertEqual(count, metric(m, "nodehealth_memcg_reclaim_stalls_total"))
                self.assertGreater(metric(m, "nodehealth_memcg_reclaim_stall_seconds_sum"), 0)
                self.assertEqual(metric(m, "nodehealth_memcg_reclaim_stall_seconds_bucket",
                                        le="+Inf"), count)
                self.assertEqual(metric(m, "nodehealth_probe_events_lost_total", probe="reclaim"),
                                 0)
                assert_promtool_clean(self, m)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_500_forks_counted_in_their_cgroup(self):
        self._forks_counted(True, {"process_fork_btf", "process_exit_btf"})

    def test_500_forks_counted_by_the_classic_tracepoints(self):
        self._forks_counted(False, {"process_fork", "process_exit"})

    def _forks_counted(self, btf, programs):
        with memory_cgroup("fork") as (cgroup, path), tp_btf(btf), Agent(config=STATS) as agent:
            self.assertEqual(loaded_programs(agent.metrics(), "fork"), programs)
            r = subprocess.run(["sh", "-c", "i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done"],
                               preexec_fn=in_cgroup(path), timeout=60)
            self.assertEqual(r.returncode, 0)
            forks = wait_until(
                lambda: (metric(agent.metrics(), "nodehealth_process_forks_total", cgroup=cgroup)
                         or 0) >= 500 and
                metric(agent.metrics(), "nodehealth_process_forks_total", cgroup=cgroup), 10,
                what="500 forks under " + cgroup)
            self.assertLess(forks, 600)  # 500 /bin/true, and a few of the shell's own
            exits = metric(agent.metrics(), "nodehealth_process_exits_total", cgroup=cgroup)
            self.assertGreaterEqual(exits, 500)

    def test_a_fork_burst_toward_the_pid_threshold_samples_at_once(self):
        self._pid_burst(True)

    def test_a_fork_burst_wakes_the_classic_tracepoint_programs_too(self):
        self._pid_burst(False)

    def _pid_burst(self, btf):
        """sampleInterval 1h: after the first sample only an event samples, so PIDPressure
        turning True within seconds of 400 new processes is the fork probe's wake-up (its
        marks set from the PID headroom, 200 to 300 tasks here as the agent sees it). PSI
        triggers and filesystem events are off, so nothing else can wake the loop."""
        def config(threshold):
            return ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                    "sampleInterval: 1h\nlogLevel: debug\n"
                    "psiTriggers: {enabled: false}\nfilesystemEvents: {enabled: false}\n"
                    "evictionHard:\n  memory.available: 100Mi\n  pid.available: \"%d\"\n"
                    % threshold)
        procs = []
        try:
            with tp_btf(btf), agent_with_headroom(
                    config, "pid.available", lambda: nodecalc.pid_available("/proc")[0],
                    margin=200, slack=100) as agent:
                self.assertEqual(agent.condition("PIDPressure")["status"], "False")
                started = time.monotonic()
                for _ in range(400):
                    procs.append(subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL))
                try:
                    wait_until(lambda: agent.condition("PIDPressure")["status"] == "True", 10,
                               interval=0.02, what="PIDPressure True after 400 processes")
                except AssertionError as e:
                    raise AssertionError("%s; headroom now %s; agent log:\n%s" % (
                        e, agent.headroom("pid.available"), agent.logs()[-3000:]))
                self.assertLess(time.monotonic() - started, 10)
                self.assertIn("probe event: fork, sampling now", agent.logs())
                self.assertIn("condition changed: PIDPressure False -> True", agent.logs())
        finally:
            for p in procs:
                p.kill()
            for p in procs:
                p.wait()

    def test_direct_io_to_a_loop_device_fills_its_histogram(self):
        self._loop_device_histogram(True, {"rq_complete_btf"})

    def test_direct_io_histogram_by_the_classic_tracepoints(self):
        self._loop_device_histogram(False, {"rq_issue", "rq_complete"})

    def _loop_device_histogram(self, btf, programs):
        need_binary("losetup")
        d = tempfile.mkdtemp(prefix="nodehealth-test-loop-")
        backing = os.path.join(d, "disk.img")
        with open(backing, "wb") as f:
            f.truncate(16 << 20)
        dev = subprocess.run(["losetup", "--find", "--show", backing], capture_output=True,
                             text=True, check=True).stdout.strip()
        name = os.path.basename(dev)
        try:
            with tp_btf(btf), Agent(config=STATS) as agent:
                self.assertEqual(loaded_programs(agent.metrics(), "biolatency"), programs)

                def count():
                    return metric(agent.metrics(), "nodehealth_block_io_latency_seconds_count",
                                  device=name) or 0
                before = count()
                subprocess.run(["dd", "if=/dev/zero", "of=" + dev, "bs=4096", "count=200",
                                "oflag=direct"], check=True, capture_output=True)
                wait_until(lambda: count() >= before + 200, 10, what="200 requests on " + name)
                self.assertLessEqual(count(), before + 210)
                inf = metric(agent.metrics(), "nodehealth_block_io_latency_seconds_bucket",
                             device=name, le="+Inf")
                self.assertEqual(inf, count())
                # every request timed: none without the kernel's timestamps
                self.assertEqual(metric(agent.metrics(), "nodehealth_probe_events_lost_total",
                                        probe="biolatency"), 0)
                # 4 KiB direct writes to a loop file in page cache: microseconds, not seconds
                total = metric(agent.metrics(), "nodehealth_block_io_latency_seconds_sum",
                               device=name)
                self.assertGreater(total, 0)
                self.assertLess(total / count(), 0.5)
                assert_promtool_clean(self, agent.metrics())  # histograms included
        finally:
            subprocess.run(["losetup", "-d", dev])
            os.unlink(backing)
            os.rmdir(d)

    def test_drops_in_own_netns_counted_by_reason(self):
        need_binary("ip")
        need_binary("nft")
        ns = "nodehealth-test-drops-%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], check=True, text=True,
                           input="table inet nodehealth_test {\n chain input {\n"
                                 "  type filter hook input priority 0;\n  udp dport 9999 drop\n"
                                 " }\n}\n")
            send = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    "for _ in range(300): s.sendto(b'x', ('127.0.0.1', %d))\n")
            with Agent() as agent:
                def drops(reason):
                    return metric(agent.metrics(), "nodehealth_packet_drops_total",
                                  reason=reason) or 0
                before = {r: drops(r) for r in ("netfilter_drop", "no_socket")}
                for port in (9999, 9998):
                    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", send % port],
                                   check=True)
                wait_until(lambda: drops("netfilter_drop") >= before["netfilter_drop"] + 300, 10,
                           what="300 netfilter drops")
                wait_until(lambda: drops("no_socket") >= before["no_socket"] + 300, 10,
                           what="300 no-socket drops")
        finally:
            subprocess.run(["ip", "netns", "delete", ns])

    def test_missing_tracepoint_degrades_alone(self):
        with override_env("NODEHEALTH_TEST_MISSING_TRACEPOINTS", "sched/sched_process_fork"):
            agent_cm = Agent()
            agent = agent_cm.__enter__()
        try:
            m = agent.metrics()
            self.assertEqual(metric(m, "nodehealth_probe_up", probe="fork"), 0)
            for p in ("oom", "biolatency", "reclaim", "drops"):
                self.assertEqual(metric(m, "nodehealth_probe_up", probe=p), 1)
            fork = [p for p in agent.status()["probes"] if p["name"] == "fork"][0]
            self.assertEqual(fork["error"],
                             "tracepoint sched/sched_process_fork does not exist on this kernel")
            self.assertEqual(agent.condition("ForkStorm")["status"], "Unknown")
            self.assertIn("probe down: tracepoint sched/sched_process_fork does not exist",
                          agent.logs())
            self.assertIsNone(metric(m, "nodehealth_process_forks_node_total"))
        finally:
            agent_cm.__exit__(None, None, None)

    def test_biolatency_needs_the_issue_tracepoint_only_for_its_classic_programs(self):
        def hide():
            return override_env("NODEHEALTH_TEST_MISSING_TRACEPOINTS", "block/block_rq_issue")

        # With BTF raw tracepoints one completion program times the requests: still up.
        with hide(), Agent(config=STATS) as agent:
            self.assertEqual(metric(agent.metrics(), "nodehealth_probe_up", probe="biolatency"), 1)
            self.assertEqual(loaded_programs(agent.metrics(), "biolatency"), {"rq_complete_btf"})
        # The classic pair cannot run without it: down, saying why.
        with hide(), tp_btf(False), Agent() as agent:
            self.assertEqual(metric(agent.metrics(), "nodehealth_probe_up", probe="biolatency"), 0)
            bio = [p for p in agent.status()["probes"] if p["name"] == "biolatency"][0]
            self.assertEqual(bio["error"], "tracepoint block/block_rq_issue does not exist on "
                                           "this kernel (the classic programs need it)")

    def test_reclaim_without_memcg_tracepoints_falls_back_to_direct_only(self):
        with override_env("NODEHEALTH_TEST_MISSING_TRACEPOINTS", "vmscan/mm_vmscan_memcg_reclaim_end"):
            agent_cm = Agent()
            agent = agent_cm.__enter__()
        try:
            m = agent.metrics()
            self.assertEqual(metric(m, "nodehealth_probe_up", probe="reclaim"), 1)
            self.assertIsNotNone(metric(m, "nodehealth_direct_reclaim_stalls_total"))
            self.assertNotIn("nodehealth_memcg_reclaim", m)
            programs = set(re.findall(r'nodehealth_probe_program_runs_total\{probe="reclaim",'
                                      r'program="(\w+)"\}', m))
            self.assertEqual(programs, {"reclaim_begin", "reclaim_end"})
        finally:
            agent_cm.__exit__(None, None, None)
        with Agent() as agent:  # and with them, all four programs
            programs = set(re.findall(r'nodehealth_probe_program_runs_total\{probe="reclaim",'
                                      r'program="(\w+)"\}', agent.metrics()))
            self.assertEqual(programs, {"reclaim_begin", "reclaim_end", "memcg_reclaim_begin",
                                        "memcg_reclaim_end"})

    def test_external_btf_file(self):
        # bpf.btfPath (libbpf's btf_custom_path) for kernels without /sys/kernel/btf/vmlinux:
        # a copy of this kernel's BTF loads every probe; an unreadable file takes every probe
        # down with the reason, and the agent goes on.
        d = tempfile.mkdtemp(prefix="nodehealth-test-btf-")
        try:
            good, bad = os.path.join(d, "vmlinux.btf"), os.path.join(d, "garbage.btf")
            shutil.copyfile("/sys/kernel/btf/vmlinux", good)
            with open(bad, "wb") as f:
                f.write(b"not BTF at all\n" * 64)
            cfg = "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\nbpf:\n  btfPath: %s\n"
            with Agent(config=cfg % good) as agent:
                m = agent.metrics()
                for p in ("oom", "fork", "biolatency", "reclaim", "drops"):
                    self.assertEqual(metric(m, "nodehealth_probe_up", probe=p), 1, agent.logs())
            with Agent(config=cfg % bad) as agent:
                m = agent.metrics()
                for p in ("oom", "fork", "biolatency", "reclaim", "drops"):
                    self.assertEqual(metric(m, "nodehealth_probe_up", probe=p), 0)
                errors = {p["name"]: p["error"] for p in agent.status()["probes"]}
                self.assertEqual(set(errors.values()),
                                 {"cannot read the BTF file %s (bpf.btfPath)" % bad})
                self.assertEqual(agent.condition("RecentOOMKills")["status"], "Unknown")
                self.assertEqual(agent.condition("MemoryPressure")["status"], "False")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_probes_off_by_config(self):
        with Agent(config="apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                          "probes:\n  enabled: false\n") as agent:
            self.assertNotIn("nodehealth_probe_up", agent.metrics())
            self.assertNotIn("probes", agent.status())
        with Agent(config="apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                          "probes:\n  drops: {enabled: false}\n") as agent:
            m = agent.metrics()
            self.assertIsNone(metric(m, "nodehealth_probe_up", probe="drops"))
            self.assertEqual(metric(m, "nodehealth_probe_up", probe="oom"), 1)

    def test_stats_enabled_exports_program_cost(self):
        with Agent(config="apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                          "bpf:\n  statsEnabled: true\n") as agent:
            subprocess.run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done"])

            # The BTF raw tracepoint program where the kernel has it, else the classic one.
            loaded = re.findall(r'nodehealth_probe_program_runs_total\{probe="fork",'
                                r'program="(process_fork(?:_btf)?)"\}', agent.metrics())
            self.assertEqual(len(loaded), 1, agent.metrics())

            def runs():
                return metric(agent.metrics(), "nodehealth_probe_program_runs_total",
                              probe="fork", program=loaded[0]) or 0
            wait_until(lambda: runs() >= 10, 10, what="fork program runs counted")
            self.assertGreater(metric(agent.metrics(), "nodehealth_probe_program_run_seconds_total",
                                      probe="fork", program=loaded[0]), 0)


if __name__ == "__main__":
    unittest.main()
