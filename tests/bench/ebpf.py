"""eBPF cost, in one run: each probe program's own cost per event from bpf_prog_info
(the agent's bpf.statsEnabled turns on kernel.bpf_stats_enabled while it runs), and
the throughput of a fork-heavy and an I/O-heavy stress-ng workload with every probe
on versus off (the agent running with probes.enabled: false), alternating trials so
that drift on the machine hits both sides alike.

  fork  stress-ng --fork 1            (sched_process_fork / _exit on every task)
  io    stress-ng --hdd 1 --hdd-opts direct,wr-seq --hdd-bytes 16m in a temp dir
        (block_rq_complete on every request; block_rq_issue too with the classic pair)

The floor: the same workloads once more under build/bench/bench-bpf-floor, which loads
programs that do nothing on the same hooks (tests/bench/bpf/floor.bpf.c) with the same
statistics on. What an empty program measures is the cost of the statistics' own clock
reads and of the dispatch on this kernel and machine; each probe program's figure is
reported with the floor of its hook and the difference (its own work).

Slowdown = 1 - median(on) / median(off) of bogo-ops per second (real time)."""
import json
import os
import re
import subprocess
import tempfile

import common

CONFIG = "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n%s\n"
ON = CONFIG % "bpf:\n  statsEnabled: true"
OFF = CONFIG % "probes:\n  enabled: false"


def _bogo_ops_per_second(argv, seconds):
    with tempfile.TemporaryDirectory(prefix="nodehealth-test-bench-sng-") as d:
        out = os.path.join(d, "out.yaml")
        subprocess.run(["stress-ng", *argv, "--timeout", "%ds" % seconds, "--metrics-brief",
                        "--temp-path", d, "--yaml", out], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=seconds + 60)
        with open(out) as f:
            m = re.search(r"bogo-ops-per-second-real-time:\s*([0-9.]+)", f.read())
    return float(m.group(1)) if m else float("nan")


WORKLOADS = {
    "fork": ["--fork", "1"],
    "io": ["--hdd", "1", "--hdd-opts", "direct,wr-seq", "--hdd-bytes", "16m"],
}


def _floor(opts):
    """{program: ns per run} of the empty programs, over one run of each workload."""
    tool = os.path.join(os.environ.get("NODEHEALTH_BENCH_DIR", "build/bench"), "bench-bpf-floor")
    obj = os.path.join(os.path.dirname(tool), "floor.bpf.o")
    runs = {}  # program -> [ns total, runs]
    for w, argv in WORKLOADS.items():
        with tempfile.TemporaryDirectory(prefix="nodehealth-test-bench-floor-") as d:
            r = subprocess.run([tool, obj, "--", "stress-ng", *argv, "--timeout",
                                "%ds" % opts["seconds"], "--temp-path", d, "-q"],
                               capture_output=True, text=True, timeout=opts["seconds"] + 60)
        if r.returncode != 0:
            common.log("ebpf: floor not measured (%s): %s" % (w, r.stderr.strip()))
            return {}
        for prog, v in json.loads(r.stdout).items():
            t = runs.setdefault(prog, [0.0, 0])
            t[0] += v["ns_per_run"] * v["runs"]
            t[1] += v["runs"]
    return {prog: ns / n for prog, (ns, n) in runs.items() if n}


def _program_costs(metrics_text):
    """{(probe, program): (seconds, runs)} from the agent's /metrics."""
    out = {}
    for line in metrics_text.splitlines():
        m = re.match(r'^nodehealth_probe_program_(run_seconds|runs)_total\{probe="([^"]+)",'
                     r'program="([^"]+)"\} (\S+)$', line)
        if m:
            cur = out.setdefault((m.group(2), m.group(3)), [0.0, 0.0])
            cur[0 if m.group(1) == "run_seconds" else 1] = float(m.group(4))
    return out


def run(opts):
    """opts: trials, seconds."""
    res = {"options": dict(opts), "workloads": {}}
    samples = {w: {"on": [], "off": []} for w in WORKLOADS}
    totals = {}  # (probe, program) -> [seconds, runs] over every "on" run
    for trial in range(opts["trials"]):
        for side in (("off", "on") if trial % 2 == 0 else ("on", "off")):
            with common.nodehealth(config=ON if side == "on" else OFF) as agent:
                before = _program_costs(agent.metrics()) if side == "on" else {}
                for w, argv in WORKLOADS.items():
                    v = _bogo_ops_per_second(argv, opts["seconds"])
                    samples[w][side].append(v)
                    common.log("ebpf: trial %d %s probes %s: %.1f bogo ops/s" %
                               (trial + 1, w, side, v))
                if side == "on":
                    for key, (secs, runs) in _program_costs(agent.metrics()).items():
                        b = before.get(key, (0.0, 0.0))
                        t = totals.setdefault(key, [0.0, 0.0])
                        t[0] += secs - b[0]
                        t[1] += runs - b[1]
    for w in WORKLOADS:
        on, off = common.median(samples[w]["on"]), common.median(samples[w]["off"])
        res["workloads"][w] = {"on": samples[w]["on"], "off": samples[w]["off"],
                               "median_on": on, "median_off": off,
                               "slowdown": 1 - on / off if off else float("nan")}
    floor = _floor(opts)
    res["floor_ns_per_event"] = floor
    res["programs"] = {}
    for (probe, program), (secs, runs) in sorted(totals.items()):
        ns = secs * 1e9 / runs if runs else None
        f = floor.get(program)
        res["programs"]["%s/%s" % (probe, program)] = {
            "events": runs, "ns_per_event": ns, "floor_ns_per_event": f,
            "own_ns_per_event": ns - f if ns is not None and f is not None else None}
    return res
