"""Scrape cost: the same load against nodehealth and node_exporter, each started
fresh on a loopback port.

- sequential: N GET /metrics back to back over one keep-alive connection, plain and
  again with Accept-Encoding: gzip (what a Prometheus server sends);
- concurrent: 50 scrapers at once, each on its own keep-alive connection (as a
  Prometheus server keeps one), and again with a new connection per scrape.

The scrapers are build/bench/bench-scrape (tests/bench/scrape_client.cpp: one epoll
thread, a few microseconds per request), so the latencies are the server's queue and
work; without it (bench.py run by hand before `make bench` built it) Python threads
stand in, whose interpreter lock then dominates the concurrent latencies, and the gzip
row is left out.

CPU per scrape = (utime+stime delta from /proc/<pid>/stat - idle CPU rate x wall
time) / scrapes; the idle rate is measured separately, on the same process,
just before. The schedstat figure (ns grain) is kept alongside as a check of the
stat figure's 10 ms grain."""
import json
import os
import subprocess
import threading
import time

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


def have_client():
    return os.access(CLIENT, os.X_OK)


def _client_run(pid, port, clients, each, idle, keepalive=True, gzip=False):
    """bench-scrape's run, measured on the server: its latencies and the server's CPU."""
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
    out.update(_cpu_per_scrape(before, after, max(len(lat), 1), idle))
    out.update({"errors": d["errors"], "reconnects": d["reconnects"],
                "bytes_mean": d["bytes_mean"], "client": "bench-scrape", "gzip": gzip,
                "throughput_per_s": len(lat) / after.since(before)[0] if lat else 0.0})
    return out


def sequential(pid, port, n, idle, gzip=False):
    if have_client():
        return _client_run(pid, port, 1, n, idle, gzip=gzip)
    s = common.Scraper(port)
    lat, sizes, errors = [], [], 0
    before = common.CpuMark(pid)
    for _ in range(n):
        latency, status, body = s.get()
        if status != 200:
            errors += 1
            continue
        lat.append(latency)
        sizes.append(len(body))
    after = common.CpuMark(pid)
    s.close()
    out = _latency_summary(lat)
    out.update(_cpu_per_scrape(before, after, n, idle))
    out.update({"errors": errors, "reconnects": s.reconnects,
                "bytes_mean": sum(sizes) / len(sizes) if sizes else 0, "client": "python"})
    return out


def concurrent(pid, port, scrapers, each, idle, keepalive=True):
    if have_client():
        out = _client_run(pid, port, scrapers, each, idle, keepalive=keepalive)
        out.update({"scrapers": scrapers, "each": each, "keepalive": keepalive})
        return out
    barrier = threading.Barrier(scrapers + 1)
    lat, errors, reconnects = [], [0], [0]
    lock = threading.Lock()

    def worker():
        s = common.Scraper(port, keepalive=keepalive, timeout=60)
        mine, bad = [], 0
        barrier.wait()
        try:
            for _ in range(each):
                latency, status, _ = s.get()
                if status == 200:
                    mine.append(latency)
                else:  # e.g. node_exporter's 503 past --web.max-requests (40)
                    bad += 1
        except OSError:
            bad += 1
        finally:
            s.close()
        with lock:
            lat.extend(mine)
            errors[0] += bad
            reconnects[0] += s.reconnects

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(scrapers)]
    for t in threads:
        t.start()
    before = common.CpuMark(pid)
    barrier.wait()
    for t in threads:
        t.join(300)
    after = common.CpuMark(pid)
    n = len(lat)
    out = _latency_summary(lat) if lat else {"n": 0}
    # Refused requests (errors) cost next to nothing: CPU per successful scrape.
    out.update(_cpu_per_scrape(before, after, max(n, 1), idle))
    out.update({"scrapers": scrapers, "each": each, "keepalive": keepalive, "errors": errors[0],
                "reconnects": reconnects[0], "client": "python",
                "throughput_per_s": n / after.since(before)[0] if n else 0.0})
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
        if have_client():
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
