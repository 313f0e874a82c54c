"""Scrape cost: the same load against nodehealth and node_exporter, each started
fresh on a loopback port.

- sequential: N GET /metrics back to back over one keep-alive connection;
- concurrent: 50 scrapers at once, each on its own keep-alive connection (as a
  Prometheus server keeps one), and again with a new connection per scrape.

CPU per scrape = (utime+stime delta from /proc/<pid>/stat - idle CPU rate x wall
time) / scrapes; the idle rate is measured separately, on the same process,
just before. The schedstat figure (ns grain) is kept alongside as a check of the
stat figure's 10 ms grain."""
import threading
import time

import common


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


def sequential(pid, port, n, idle):
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
                "bytes_mean": sum(sizes) / len(sizes) if sizes else 0})
    return out


def concurrent(pid, port, scrapers, each, idle, keepalive=True):
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
                "reconnects": reconnects[0],
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
    for mode in ("sequential", "concurrent_keepalive", "concurrent_new_connection"):
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
