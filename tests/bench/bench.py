#!/usr/bin/env python3
"""make bench: nodehealth's cost and speed, side by side with Debian's
prometheus-node-exporter, in one run. Prints a table and writes
tests/artifacts/bench.json.

  python3 tests/bench/bench.py            full (~15 min: a 10 min footprint window)
  python3 tests/bench/bench.py --quick    under 2 minutes, for CI: exits 1 only on
                                          gross regressions (see report.guards)
  --duration S     the footprint window (default 600 s, quick 15 s)
  --sections a,b   run only some of: scrape, footprint, detect, scale, ebpf
  --out FILE       where the JSON goes
  --report FILE    print the table of an earlier run's JSON and exit

Runs as root (it mounts a tmpfs, makes memory cgroups, spawns stress-ng).
Timing targets are reported as pass/miss and never fail the run; the full
mode never fails on timing."""
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree  # noqa: E402

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import tempfile
import time
import traceback

import common
import detect
import ebpf
import footprint
import report
import scale
import scrape

FULL = {
    "scrape": {"sequential": 1000, "scrapers": 50, "each": 20, "idle_s": 5.0},
    "footprint": {"duration_s": 600.0, "settle_s": 2.0},
    "detect": {"trials": 5},
    "scale": {"cgroups": [0, 10, 100, 1000], "processes": [0, 1000, 2000, 3000],
              "settle_s": 1.2, "window_s": 10, "ticks": 8},
    "ebpf": {"trials": 3, "seconds": 10},
}
QUICK = {
    "scrape": {"sequential": 200, "scrapers": 50, "each": 4, "idle_s": 2.0},
    "footprint": {"duration_s": 15.0, "settle_s": 1.0},
    "detect": {"trials": 2},
    "scale": {"cgroups": [0, 10, 100, 1000], "processes": [0, 2000],
              "settle_s": 1.1, "window_s": 2, "ticks": 2, "warmup_s": 1.5},
    "ebpf": {"trials": 1, "seconds": 3},
}
SECTIONS = ("scrape", "footprint", "detect", "scale", "ebpf")
RUNNERS = {"scrape": scrape.run, "footprint": footprint.run, "detect": detect.run,
           "scale": scale.run, "ebpf": ebpf.run}


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds every context manager: cleanup runs


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _loadavg():
    with open("/proc/loadavg") as f:
        return f.read().strip()


def _meta(args):
    quick = args.quick
    if os.environ.get("MAKELEVEL"):
        command = "make bench" + (" QUICK=1" if quick else "")
        extra = [a for a in sys.argv[1:] if a != "--quick"]
        if extra:
            command += " BENCH_ARGS='%s'" % " ".join(extra)
    else:
        command = "python3 tests/bench/bench.py " + " ".join(sys.argv[1:])
    return {
        "mode": "quick" if quick else "full",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": common.nodecalc.meminfo_total("/proc"),
        "nodehealth_version": common.version_of([common.BIN, "version"]),
        "nodehealth_binary": getattr(common, "BUILT_BIN", common.BIN),
        "nodehealth_sha256": _sha256(common.BIN),
        "node_exporter_version": common.version_of([common.NODE_EXPORTER, "--version"]),
        "command": command.strip(),
        "loadavg_start": _loadavg(),
    }


def _clean(x):
    """Strict JSON: NaN and infinities become null."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _preflight():
    problems = []
    if os.geteuid() != 0:
        problems.append("needs root (tmpfs mount, memory cgroups, stress-ng)")
    if not os.access(common.BIN, os.X_OK):
        problems.append("%s is not built (make build)" % common.BIN)
    for tool in (common.NODE_EXPORTER, "stress-ng", "fallocate", "mount"):
        if not shutil.which(tool):
            problems.append("%s is not installed (scripts/install-deps.sh --bench)" % tool)
    return problems


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the CI mode: under 2 minutes")
    p.add_argument("--duration", type=float, help="footprint window in seconds")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help="comma-separated subset of " + ",".join(SECTIONS))
    p.add_argument("--out", default=os.path.join(common.ARTIFACTS, "bench.json"))
    p.add_argument("--report", metavar="JSON", help="print the table of an earlier run and exit")
    args = p.parse_args()
    if args.report:
        with open(args.report) as f:
            doc = json.load(f)
        text, _, _ = report.lines(doc["results"], doc["meta"])
        print("\n".join(text))
        return 0
    sections = [s for s in args.sections.split(",") if s]
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        p.error("unknown section(s): %s" % ", ".join(bad))

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    problems = _preflight()
    if problems:
        for pr in problems:
            print("bench: cannot run: " + pr, file=sys.stderr)
        return 2

    # Run a private copy: a rebuild of build/nodehealth by someone else in the
    # middle of the bench would otherwise mix two binaries or fail an exec.
    snapshot_dir = tempfile.mkdtemp(prefix="nodehealth-test-bench-bin-")
    try:
        snap = os.path.join(snapshot_dir, "nodehealth")
        shutil.copy2(common.BIN, snap)
        common.BUILT_BIN, common.BIN = common.BIN, snap
        common.harness.BIN = snap
        return _run(args, sections)
    finally:
        shutil.rmtree(snapshot_dir, ignore_errors=True)


def _run(args, sections):
    opts = {k: dict(v) for k, v in (QUICK if args.quick else FULL).items()}
    if args.duration is not None:
        opts["footprint"]["duration_s"] = args.duration
    meta = _meta(args)
    results, errors, timings = {}, {}, {}
    t_start = time.monotonic()
    for name in SECTIONS:
        if name not in sections:
            continue
        common.log("%s ..." % name)
        t0 = time.monotonic()
        try:
            results[name] = RUNNERS[name](opts[name])
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # a broken section is reported; the others still run
            traceback.print_exc()
            errors[name] = "%s: %s" % (type(e).__name__, e)
        timings[name] = time.monotonic() - t0
    if "footprint" in results and "scrape" in results:
        footprint.add_scrape_load(results["footprint"], results["scrape"])
    meta["loadavg_end"] = _loadavg()
    meta["elapsed_s"] = time.monotonic() - t_start
    meta["section_seconds"] = timings

    text, tgts, grds = report.lines(results, meta)
    for name, err in errors.items():
        text.append("section %s FAILED: %s" % (name, err))
    text.append("")
    text.append("elapsed %.0f s (%s); load average %s -> %s; JSON: %s" % (
        meta["elapsed_s"], ", ".join("%s %.0f s" % kv for kv in timings.items()),
        meta["loadavg_start"].split()[0], meta["loadavg_end"].split()[0],
        os.path.relpath(args.out, common.ROOT)))
    print("\n".join(text), flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    doc = {"meta": meta, "options": opts, "results": results, "errors": errors,
           "targets": [{"target": t, "measured": m, "result": r} for t, m, r in tgts],
           "guards": [{"guard": g, "measured": m, "ok": ok} for g, m, ok in grds]}
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(_clean(doc), f, indent=2, default=str, allow_nan=False)
        f.write("\n")
    os.replace(tmp, args.out)

    if errors:
        return 1
    if args.quick and any(ok is False for _, _, ok in grds):
        print("bench: gross regression (quick mode guard failed)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
