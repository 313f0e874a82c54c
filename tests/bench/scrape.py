"""Scrape cost: the same load against nodehealth and node_exporter, each started
fresh on a loopback port.

- sequential: N GET /metrics back to back over one keep-alive connection, plain and
  again with Accept-Encoding: gzip (what a Prometheus server sends);
- concurrent: 50 scrapers at once, each on its own keep-alive connection (as a
  Prometheus server keeps one), and again with a new connection per scrape.

The scrapers are build/bench/bench-scrape (tests/bench/scrape_client.cpp: one epoll
thread, a few microseconds per request, built by `make bench`), so the latencies are the
server's queue and work, not a client's.

CPU per scrape = (utime+stime delta from /proc/<pid>/stat - idle CPU rate x wall
time) / scrapes; the idle rate is measured separately, on the same process,
just before. The schedstat figure (ns grain) is kept alongside as a check of the
stat figure's 10 ms grain."""
import json
import os
import subprocess

import common

CLIENT = os.path.join(os.environ.get("NODEHEALTH_BENCH_DIR", "build/bench"), "bench-scrape")


# Above this idle CPU rate (10% of a core: a busy loop) the idle share of the
# scrape window swamps the scrapes themselves: CPU per scrape is not measurable.
IDLE_SWAMPS = 0.10
# Below this many clock ticks of CPU the stat figure is too coarse to rank on its
# own; the ratio then uses the schedstat figure (ns grain).
MIN_TICKS = 10


def _cpu_per_scrape(before, after, n, idle):
    wall, stat, sched = after.since(before)
    idle_cpu = idle["rate"] * wall
    out = {
        "wall_s": wall,
        "stat_cpu_s": stat,
        "sched_cpu_s": sched,
        "idle_cpu_s": idle_cpu,
        "cpu_per_scrape_s": max(0.0, stat - idle_cpu) / n,
        "cpu_per_scrape_sched_s": max(0.0, sched - idle_cpu) / n,
        # /proc/<pid>/stat counts whole clock ticks: the figure is +-1 tick / n.
        "resolution_s": 1.0 / common.CLK_TCK / n,
        "measurable": idle["rate"] < IDLE_SWAMPS,
    }
    coarse = stat * common.CLK_TCK < MIN_TICKS
    out["cpu_per_scrape_best_s"] = (out["cpu_per_scrape_sched_s"] if coarse
                                    else out["cpu_per_scrape_s"])
    out["best_from"] = "schedstat" if coarse else "stat"
    if not out["measurable"]:
        out["cpu_per_scrape_best_s"] = None
    return out


def _latency_summary(lat):
    return {"n": len(lat), "p50_s": common.percentile(lat, 50), "p99_s": common.percentile(lat, 99),
            "max_s": max(lat), "mean_s": sum(lat) / len(lat)}


def _client_run(pid, port, clients, each, idle, keepalive=True, gzip=False):
    """bench-scrape's run, measured on the server: its latencies and the server's CPU."""
    if not os.access(CLIENT, os.X_OK):
        raise AssertionError("%s is missing: `make bench` builds it" % CLIENT)
    args = [CLIENT, "--port", str(port), "--clients", str(clients), "--each", str(each)]
    args += ([] if keepalive else ["--new-connection"]) + (["--gzip"] if gzip else [])
    before = common.CpuMark(pid)
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    after = common.CpuMark(pid)
    if r.returncode != 0:
        raise AssertionError("bench-scrape failed: %s" % r.stderr.strip())
    d = json.loads(r.stdout)
    lat = d["latencies_s"]
    out = _latency_summary(lat) if lat else {"n": 0}
    # Refused requests (errors) cost next to nothing: CPU per successful scrape.
    out.update(_cpu_per_scrape(before, after, max(len(lat), 1), idle))
    out.update({"errors": d["errors"], "reconnects": d["reconnects"],
                "bytes_mean": d["bytes_mean"], "client": "bench-scrape", "gzip": gzip,
                "throughput_per_s": len(lat) / after.since(before)[0] if lat else 0.0})
    return out


def sequential(pid, port, n, idle, gzip=False):
    return _client_run(pid, port, 1, n, idle, gzip=gzip)


def concurrent(pid, port, scrapers, each, idle, keepalive=True):
    out = _client_run(pid, port, scrapers, each, idle, keepalive=keepalive)
    out.update({"scrapers": scrapers, "each": each, "keepalive": keepalive})
    return out


def _measure(name, ctx, opts):
    with ctx as proc:
        pid, port = proc.proc.pid, proc.port
        common.log("scrape: %s pid=%d port=%d" % (name, pid, port))
        # One scrape to see the payload; warms up both exporters alike.
        _, status, body = common.Scraper(port).get()
        assert status == 200, "%s /metrics answered %s" % (name, status)
        res = {"pid": pid, "bytes": len(body), "series": common.series_count(body),
               "memory_before": common.memory(pid)}
        for _ in range(4):
            common.Scraper(port).get()
        idle = common.idle_rate(pid, opts["idle_s"])
        res["idle"] = idle
        res["sequential"] = sequential(pid, port, opts["sequential"], idle)
        res["sequential_gzip"] = sequential(pid, port, opts["sequential"], idle, gzip=True)
        res["concurrent_keepalive"] = concurrent(pid, port, opts["scrapers"], opts["each"], idle)
        res["concurrent_new_connection"] = concurrent(pid, port, opts["scrapers"], opts["each"],
                                                      idle, keepalive=False)
        res["memory_after"] = common.memory(pid)
        return res


def run(opts):
    """opts: sequential, scrapers, each, idle_s."""
    out = {"options": dict(opts)}
    out["nodehealth"] = _measure("nodehealth", common.nodehealth(), opts)
    out["node_exporter"] = _measure("node_exporter", common.node_exporter(), opts)
    nh, ne = out["nodehealth"], out["node_exporter"]
    ratios = {}
    for mode in ("sequential", "sequential_gzip", "concurrent_keepalive",
                 "concurrent_new_connection"):
        if mode not in nh or mode not in ne:
            continue
        a, b = nh[mode], ne[mode]
        ca, cb = a["cpu_per_scrape_best_s"], b["cpu_per_scrape_best_s"]
        ratios[mode] = {
            "cpu": cb / ca if ca and cb else None,
            "p50": b["p50_s"] / a["p50_s"] if a.get("p50_s") else None,
            "p99": b["p99_s"] / a["p99_s"] if a.get("p99_s") else None,
        }
    ratios["bytes"] = ne["bytes"] / nh["bytes"]
    ratios["series"] = ne["series"] / nh["series"]
    out["ratio_peer_over_nodehealth"] = ratios
    return out
