"""Scale: how the agent's tick cost and scrape size grow with the node.

One agent (default configuration, 1 s interval) runs while we add test memory
cgroups (cgroup v1 memory hierarchy when mounted, else the v2 root), each holding
one sleeping process as a container would:
<memory root>/nodehealth-test-bench-<pid>/<n>, 0 -> 10 -> 100 -> 1000, and
then, with the cgroups removed, a few thousand sleeping processes. At each level,
after a tick to settle:

  agent CPU/s    CPU seconds per wall second over `window` seconds with no HTTP
                 traffic (schedstat, ns grain; 1 s slices give the noise);
  tick cost      then the sum of nodehealth_source_duration_seconds over the
                 sources, read from /metrics once per new sample (median of
                 `ticks` readings);
  scrape size    bytes and series of /metrics;
  checkpoint walk  (cgroups only) the one part of the agent whose work grows with
                 the containers: the walk of every memory cgroup and each of its
                 processes' smaps_rollup that the checkpoints source makes every
                 10 minutes, timed as `nodehealth checkpoint-cost --top 0 -o json`
                 (the same code: wall and CPU of the child, and the containers it
                 saw, which must include every test cgroup).

A least-squares line through the levels gives the cost per cgroup and per
process. Growth is "at most linear" when the increment from the middle to the
top level is no more than the line predicts (exponent k of the increment,
log(d_top / d_mid) / log(n_top / n_mid) <= 1.3), or when the increment is lost
in the noise of the baseline (then the cost does not grow measurably)."""
import contextlib
import json
import math
import os
import subprocess
import time

import common


def memory_cgroup_root():
    v2, v1 = common.nodecalc.cgroup_mounts("/proc")
    return v1 or v2


@contextlib.contextmanager
def test_cgroups():
    """Yields set_count(n): grows or shrinks the set of test cgroups to n."""
    root = memory_cgroup_root()
    if root is None:
        raise RuntimeError("no memory cgroup hierarchy mounted")
    parent = os.path.join(root, "nodehealth-test-bench-%d" % os.getpid())
    os.mkdir(parent)
    made = []

    procs = {}  # cgroup path -> its sleeping process

    def populate(path):
        p = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL)
        procs[path] = p
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(p.pid))

    def empty(path):
        p = procs.pop(path, None)
        if p is not None:
            p.kill()
            p.wait()

    def set_count(n):
        while len(made) < n:
            path = os.path.join(parent, str(len(made)))
            os.mkdir(path)
            made.append(path)
            populate(path)
        while len(made) > n:
            path = made.pop()
            empty(path)
            os.rmdir(path)

    try:
        yield set_count, parent
    finally:
        for path in list(procs):
            empty(path)
        while made:
            path = made.pop()
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        with contextlib.suppress(OSError):
            os.rmdir(parent)


@contextlib.contextmanager
def sleepers():
    """Yields set_count(n): grows or shrinks a set of `sleep 600` children to n."""
    procs = []

    def set_count(n):
        while len(procs) < n:
            procs.append(subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL))
        while len(procs) > n:
            p = procs.pop()
            p.kill()
            p.wait()

    try:
        yield set_count
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()


def _checkpoint_walk(expect):
    """Times the checkpoints source's walk (`nodehealth checkpoint-cost`, the same code) as a
    child: (wall seconds, CPU seconds, containers seen)."""
    t0 = time.monotonic()
    p = subprocess.Popen([common.BIN, "checkpoint-cost", "--top", "0", "-o", "json"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("checkpoint-cost exited %d" % p.returncode)
    seen = len(json.loads(out)["estimate"]["containers"])
    if seen < expect:
        raise RuntimeError("checkpoint-cost saw %d containers, want at least %d" % (seen, expect))
    return wall, ru.ru_utime + ru.ru_stime, seen


def _measure_level(agent, opts, walk_expect=None):
    """CPU first, over a window with no HTTP traffic at all (1 s slices for the
    spread); then tick costs read from /metrics, one reading per new sample."""
    pid, port = agent.proc.pid, agent.port
    time.sleep(opts["settle_s"])
    marks = [common.CpuMark(pid)]
    for _ in range(int(opts["window_s"])):
        time.sleep(1.0)
        marks.append(common.CpuMark(pid))
    wall, stat, sched = marks[-1].since(marks[0])
    slices = [b.since(a) for a, b in zip(marks, marks[1:])]
    cpu_slices = [sc / w for w, _, sc in slices]

    ticks, per_source, sizes, series = [], {}, [], []
    scraper = common.Scraper(port)
    last_stamp = None
    deadline = time.monotonic() + opts["ticks"] * 1.5 + 3
    while len(ticks) < opts["ticks"] and time.monotonic() < deadline:
        _, status, body = scraper.get()
        if status == 200:
            stamp = common.metric_values(body, "nodehealth_last_sample_timestamp_seconds")
            durations = common.metric_values(body, "nodehealth_source_duration_seconds")
            # One reading per tick. Even the first is of this level: settle_s +
            # window_s seconds have passed since the change, more than one tick.
            if durations and stamp != last_stamp:
                ticks.append(sum(durations.values()))
                for k, v in durations.items():
                    per_source.setdefault(k, []).append(v)
                last_stamp = stamp
            sizes.append(len(body))
            series.append(common.series_count(body))
        time.sleep(0.2)
    scraper.close()
    walk = {}
    if walk_expect is not None:
        runs = [_checkpoint_walk(walk_expect) for _ in range(opts.get("walks", 3))]
        walk = {"walk_s": common.median([r[0] for r in runs]),
                "walk_s_samples": [r[0] for r in runs],
                "walk_cpu_s": common.median([r[1] for r in runs]),
                "walk_containers": runs[-1][2]}
    return {**walk,
        "tick_cost_s": common.median(ticks) if ticks else float("nan"),
        "tick_cost_s_samples": ticks,
        "tick_cost_by_source_s": {k: common.median(v) for k, v in per_source.items()},
        "cpu_per_s": sched / wall,
        "cpu_per_s_samples": cpu_slices,
        "stat_cpu_per_s": stat / wall,
        "scrape_bytes": common.median(sizes) if sizes else None,
        "scrape_series": common.median(series) if series else None,
        "rss": common.memory(pid)["rss"],
    }


def _fit(levels, results, key):
    xs = levels
    ys = [r[key] for r in results]
    slope, intercept, r2 = common.least_squares(xs, ys)
    base = results[0].get(key + "_samples") or []
    spread = (max(base) - min(base)) if len(base) > 1 else 0.0
    noise = max(spread, abs(ys[0]) * 0.10)
    d_mid, d_top = ys[-2] - ys[0], ys[-1] - ys[0]
    n_mid, n_top = xs[-2] - xs[0], xs[-1] - xs[0]
    if d_top <= noise:
        exponent, linear, verdict = None, True, "flat within noise"
    elif d_mid <= noise:
        # Only the top level rises above the noise: a line through it predicts a
        # middle increment inside the noise too, which is what we see.
        exponent, linear, verdict = None, True, "grows; middle level within noise"
    else:
        exponent = math.log(d_top / d_mid) / math.log(n_top / n_mid) if n_mid > 0 else None
        linear = exponent is None or exponent <= 1.3
        verdict = "k=%.2f %s" % (exponent, "(at most linear)" if linear else "(SUPERLINEAR)") \
            if exponent is not None else "grows"
    return {"slope": slope, "intercept": intercept, "r2": r2, "noise": noise,
            "exponent": exponent, "linear": linear, "verdict": verdict}


def _sweep(agent, levels, set_count, opts, what, walk=False):
    results = []
    for n in levels:
        t0 = time.monotonic()
        set_count(n)
        made = time.monotonic() - t0
        r = _measure_level(agent, opts, walk_expect=n if walk else None)
        r["count"] = n
        r["setup_s"] = made
        common.log("scale: %5d %-9s tick %s, cpu %s/s, scrape %s%s" % (
            n, what, common.fmt_s(r["tick_cost_s"]), common.fmt_s(r["cpu_per_s"]),
            common.fmt_bytes(r["scrape_bytes"]),
            ", checkpoint walk %s (%d containers)" % (common.fmt_s(r["walk_s"]),
                                                       r["walk_containers"]) if walk else ""))
        results.append(r)
    set_count(0)
    out = {"levels": results,
           "tick_cost_fit": _fit(levels, results, "tick_cost_s"),
           "cpu_fit": _fit(levels, results, "cpu_per_s"),
           "bytes_fit": _fit(levels, results, "scrape_bytes")}
    if walk:
        out["walk_fit"] = _fit(levels, results, "walk_s")
    return out


def run(opts):
    """opts: cgroups (levels), processes (levels), settle_s, window_s (CPU), ticks."""
    out = {"options": dict(opts), "cgroup_root": memory_cgroup_root()}
    with common.nodehealth() as agent:
        time.sleep(opts.get("warmup_s", 3.0))  # past the start-up transients
        with test_cgroups() as (set_cgroups, parent):
            out["cgroup_parent"] = parent
            out["cgroups"] = _sweep(agent, opts["cgroups"], set_cgroups, opts, "cgroups",
                                    walk=True)
        with sleepers() as set_procs:
            out["processes"] = _sweep(agent, opts["processes"], set_procs, opts, "processes")
    return out
