"""The printed table, the targets (reported as pass/miss, never asserted) and the
quick mode's guards against gross regressions."""
import math

from common import MiB, fmt_bytes, fmt_s


def _ratio(x):
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "-"
    return "%.3g×" % x


def _pm(ok):
    return "pass" if ok else "MISS"


def _row(cells, widths):
    return "  " + "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()


def _table(title, header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = ["", title, _row(header, widths), _row(["-" * w for w in widths], widths)]
    out += [_row(r, widths) for r in rows]
    return out


def _cpu(res):
    if not res.get("measurable", True):
        return "unmeasurable: idle CPU swamps it"
    s = "%s ±%s" % (fmt_s(res["cpu_per_scrape_s"]), fmt_s(res["resolution_s"], 2))
    mark = "*" if res.get("best_from") == "schedstat" else ""
    return s + " (sched %s%s)" % (fmt_s(res["cpu_per_scrape_sched_s"]), mark)


def scrape_lines(sc):
    nh, ne, ra = sc["nodehealth"], sc["node_exporter"], sc["ratio_peer_over_nodehealth"]
    o = sc["options"]
    rows = [
        ["bytes per scrape", fmt_bytes(nh["bytes"]), fmt_bytes(ne["bytes"]), _ratio(ra["bytes"])],
        ["series per scrape", nh["series"], ne["series"], _ratio(ra["series"])],
    ]
    modes = [("sequential", "%d sequential, 1 keep-alive conn" % o["sequential"]),
             ("sequential_gzip", "%d sequential, gzip (as Prometheus asks)" % o["sequential"]),
             ("concurrent_keepalive", "%d scrapers × %d, keep-alive" % (o["scrapers"], o["each"])),
             ("concurrent_new_connection",
              "%d scrapers × %d, new conn each" % (o["scrapers"], o["each"]))]
    for key, label in modes:
        if key not in nh or key not in ne:  # no gzip row without bench-scrape, or older runs
            continue
        a, b, r = nh[key], ne[key], ra[key]
        rows.append([label + ": p50 / p99",
                     "%s / %s" % (fmt_s(a["p50_s"]), fmt_s(a["p99_s"])),
                     "%s / %s" % (fmt_s(b["p50_s"]), fmt_s(b["p99_s"])),
                     "%s / %s" % (_ratio(r["p50"]), _ratio(r["p99"]))])
        rows.append(["  CPU per scrape (/proc/pid/stat)", _cpu(a), _cpu(b), _ratio(r["cpu"])])
        if a.get("errors") or b.get("errors"):
            rows.append(["  errors", a["errors"], b["errors"], ""])
    rows.append(["idle CPU during the scrape runs", "%s/s" % fmt_s(nh["idle"]["rate"]),
                 "%s/s" % fmt_s(ne["idle"]["rate"]), "subtracted"])
    rows.append(["RSS / peak after the scrape runs",
                 "%s / %s" % (fmt_bytes(nh["memory_after"]["rss"]),
                              fmt_bytes(nh["memory_after"]["hwm"])),
                 "%s / %s" % (fmt_bytes(ne["memory_after"]["rss"]),
                              fmt_bytes(ne["memory_after"]["hwm"])), ""])
    client = nh["sequential"].get("client", "python")
    return _table("Scrape cost (GET /metrics on loopback, scrapers: %s; ratio = node_exporter /"
                  " nodehealth; * = below 10 ticks, the ratio uses schedstat)" % client,
                  ["", "nodehealth", "node_exporter", "ratio"], rows)


def probes_text(probes):
    """From the footprint's scrape of nodehealth_probe_up: {probe: 0/1} or None."""
    if probes is None:
        return "not checked"
    if not probes:
        return "none: no nodehealth_probe_up in /metrics"
    down = sorted(p for p, up in probes.items() if not up)
    if not down:
        return "all %d loaded (%s)" % (len(probes), ", ".join(sorted(probes)))
    return "%d/%d loaded; NOT loaded: %s" % (len(probes) - len(down), len(probes),
                                             ", ".join(down))


def footprint_lines(fp):
    nh, ne, npd = fp["nodehealth"], fp["node_exporter"], fp["npd_budget"]
    nk = fp.get("nodehealth_kube")  # absent in older runs
    d = fp["options"]["duration_s"]
    cols = [nh] + ([nk] if nk and "skipped" not in nk else []) + [ne]

    def mem(key, peak=None):
        return ["%s / %s" % (fmt_bytes(c[key]), fmt_bytes(c[peak])) if peak
                else fmt_bytes(c[key]) if c.get(key) is not None else "-" for c in cols]

    rows = [
        ["RSS / peak after start"] + mem("rss_start", "hwm_start") +
        ["limit %s" % fmt_bytes(npd["memory_bytes"])],
        ["RSS / peak after %s" % fmt_s(d, 2)] + mem("rss_end", "hwm_end") + [""],
        ["  of it the process's own (RssAnon)"] + mem("rss_anon_end") + [""],
        ["threads"] + [c["threads"] for c in cols] + [""],
        ["idle CPU, % of one core"] + ["%.3f%%" % (c["cpu_core_ratio"] * 100) for c in cols] +
        ["%.1f%% (10m)" % (npd["cpu_cores"] * 100)],
        ["idle CPU per hour"] + [fmt_s(c["cpu_s_per_hour"]) for c in cols] +
        [fmt_s(npd["cpu_s_per_hour"])],
    ]
    if "cpu_s_per_hour_scraped" in nh:
        rows.append(["CPU per hour with a %ds scrape" % fp["scrape_interval_s"]] +
                    [fmt_s(c["cpu_s_per_hour_scraped"]) if "cpu_s_per_hour_scraped" in c
                     else "-" for c in cols] + [fmt_s(npd["cpu_s_per_hour"])])
    rows.append(["eBPF probes (nodehealth_probe_up)", probes_text(nh.get("probes"))] +
                ["-"] * (len(cols) - 1) + ["-"])
    header = ["", "nodehealth"] + (["+ Kubernetes sink"] if len(cols) == 3 else []) + \
        ["node_exporter", "node-problem-detector budget"]
    lines = _table("Footprint (fresh processes left idle, nodehealth at its default 1 s interval)",
                   header, rows)
    if nk and "skipped" in nk:
        lines.append("(nodehealth with its Kubernetes sink: skipped, %s)" % nk["skipped"])
    return lines


NODE_CONDITIONS = {"memory": "MemoryEvictionThresholdMet", "disk": "DiskEvictionThresholdMet",
                   "pids": "PIDEvictionThresholdMet"}


def _node_row(name, dt):
    """The same trials' Node figure (Kubernetes sink against the stand-in)."""
    node = dt[name].get("node")
    label = "  on the Node (%s)" % NODE_CONDITIONS[name]
    model = dt.get("kubelet_node_model")
    kubelet = "%s / %s" % (fmt_s(model["median_s"]), fmt_s(model["worst_s"])) if model else "-"
    if node is None:
        return [label, "not measured (older run)", "", "", "", ""]
    if node.get("skipped"):
        return [label, "skipped: " + node["skipped"], "", "", "", ""]
    if not node.get("detected"):
        return [label, "%d/%d" % (node.get("detected", 0), node.get("n", 0)), "-", "-", "-",
                kubelet]
    return [label, "%d/%d" % (node["detected"], node["n"]),
            "%s / %s" % (fmt_s(node["event_median_s"]), fmt_s(node["event_worst_s"])),
            "%s / %s" % (fmt_s(node["action_median_s"]), fmt_s(node["action_worst_s"])),
            "status PATCH", kubelet]


def detect_lines(dt):
    rows = []
    for name, cond in (("memory", "MemoryPressure"), ("disk", "DiskPressure"),
                       ("pids", "PIDPressure")):
        r = dt[name]
        if r.get("detected"):
            cells = ["%s (%s)" % (name, cond), "%d/%d" % (r["detected"], r["n"]),
                     "%s / %s" % (fmt_s(r["event_median_s"]), fmt_s(r["event_worst_s"])),
                     "%s / %s" % (fmt_s(r["action_median_s"]), fmt_s(r["action_worst_s"])),
                     ", ".join(r["woken_by"])]
        else:
            cells = ["%s (%s)" % (name, cond), "%d/%d" % (r["detected"], r["n"]), "-", "-", "-"]
        cells.append("%s / %s" % (fmt_s(dt["kubelet_model"]["median_s"]),
                                  fmt_s(dt["kubelet_model"]["worst_s"])))
        rows.append(cells)
        rows.append(_node_row(name, dt))
    oom = dt.get("oom_kill")
    if isinstance(oom, dict) and oom.get("detected"):
        rows.append(["OOM kill (RecentOOMKills)", "%d/%d" % (oom["detected"], oom["n"]),
                     "%s / %s" % (fmt_s(oom["median_s"]), fmt_s(oom["worst_s"])), "-",
                     "oom probe ring buffer", "none (no OOM condition)"])
    elif isinstance(oom, dict) and oom.get("skipped"):
        rows.append(["OOM kill", "skipped: " + oom["skipped"], "", "", "", ""])
    else:
        rows.append(["OOM kill", "not detected" if isinstance(oom, dict) else str(oom),
                     "", "", "", ""])
    return _table("Detection latency at the default 1 s interval (polled every 10 ms): to "
                  "/status, and to the Node object on the Kubernetes stand-in",
                  ["event", "detected", "from event: median / worst",
                   "from action: median / worst", "woken by",
                   "kubelet 10 s loop (model; Node: + 10 s status update)"], rows)


def scale_lines(sc):
    lines = []
    for key, unit in (("cgroups", "cgroup"), ("processes", "process")):
        s = sc[key]
        rows = [[lv["count"], fmt_s(lv["tick_cost_s"]), "%s/s" % fmt_s(lv["cpu_per_s"]),
                 fmt_bytes(lv["scrape_bytes"]), "%.0f" % lv["scrape_series"], fmt_bytes(lv["rss"])]
                for lv in s["levels"]]
        tf, cf, bf = s["tick_cost_fit"], s["cpu_fit"], s["bytes_fit"]
        rows.append(["slope", "%s/%s" % (fmt_s(tf["slope"]), unit),
                     "%s/s per %s" % (fmt_s(cf["slope"]), unit),
                     "%.3g B/%s" % (bf["slope"], unit), "", ""])
        rows.append(["growth", tf["verdict"], cf["verdict"], bf["verdict"], "", ""])
        header = [key, "tick cost (sum of sources)", "agent CPU", "scrape bytes", "series", "RSS"]
        wf = s.get("walk_fit")
        if wf:
            header.append("checkpoint walk (every 10 min): wall / CPU")
            for row, lv in zip(rows, s["levels"]):
                row.append("%s / %s" % (fmt_s(lv["walk_s"]), fmt_s(lv["walk_cpu_s"])))
            rows[-2].append("%s/%s" % (fmt_s(wf["slope"]), unit))
            rows[-1].append(wf["verdict"])
        title = ("Scale: test memory cgroups under %s, one sleeping process each"
                 % sc["cgroup_root"] if key == "cgroups" else "Scale: extra sleeping processes")
        lines += _table(title, header, rows)
    return lines


# ------------------------------------------------------------------ targets and guards

def peak_rss(results):
    """The highest VmHWM seen: the guard's figure (a leak or a runaway allocation)."""
    vals = []
    if "footprint" in results:
        f = results["footprint"]["nodehealth"]
        vals += [f["hwm_end"], f["rss_end"]]
    if "scrape" in results:
        vals.append(results["scrape"]["nodehealth"]["memory_after"]["hwm"])
    return max(vals) if vals else None


def steady_rss(results):
    """The RSS target's figure: the higher of RSS after start and after the footprint window
    (the peak is reported beside it: the moments at start while libbpf reads the kernel's
    BTF), else the RSS after the scrape runs."""
    if "footprint" in results:
        f = results["footprint"]["nodehealth"]
        return max(f["rss_start"], f["rss_end"])
    if "scrape" in results:
        return results["scrape"]["nodehealth"]["memory_after"]["rss"]
    return None


def targets(results):
    """[(what, measured text, 'pass'|'MISS'|'n/a')]."""
    out = []
    sc, fp, dt = results.get("scrape"), results.get("footprint"), results.get("detect")
    if sc:
        r = sc["ratio_peer_over_nodehealth"]["sequential"]["cpu"]
        if r is None:
            out.append(("CPU per scrape ≥10× below node_exporter's", "unmeasurable", "MISS"))
        else:
            out.append(("CPU per scrape ≥10× below node_exporter's", _ratio(r), _pm(r >= 10)))
        for key, label in (("sequential", "sequential"), ("concurrent_keepalive", "50 concurrent")):
            p99 = sc["nodehealth"][key]["p99_s"]
            out.append(("p99 scrape latency < 2 ms (%s)" % label, fmt_s(p99), _pm(p99 < 2e-3)))
    rss = steady_rss(results)
    if rss is not None:
        probes = fp["nodehealth"].get("probes") if fp else None
        what = "RSS < 15 MiB (after start and after the window)"
        if probes is not None:
            what += ", probes loaded: %d/%d" % (sum(1 for v in probes.values() if v), len(probes))
        out.append((what, "%s (peak %s)" % (fmt_bytes(rss), fmt_bytes(peak_rss(results))),
                    _pm(rss < 15 * MiB)))
        nk = fp.get("nodehealth_kube") if fp else None
        if nk and "skipped" not in nk:
            k = max(nk["rss_start"], nk["rss_end"])
            out.append(("RSS < 15 MiB with the Kubernetes sink (a DaemonSet pod)",
                        "%s (peak %s)" % (fmt_bytes(k), fmt_bytes(nk["hwm_end"])),
                        _pm(k < 15 * MiB)))
    if fp:
        c = fp["nodehealth"]["cpu_core_ratio"]
        out.append(("idle CPU < 0.5% of one core", "%.3f%%" % (c * 100), _pm(c < 0.005)))
    if dt:
        oom = dt.get("oom_kill")
        if isinstance(oom, dict):
            out.append(("OOM kill detected within %ds in every trial" % dt["timeout_s"],
                        "skipped: " + oom["skipped"] if oom.get("skipped")
                        else "%d/%d detected" % (oom["detected"], oom["n"]),
                        None if oom.get("skipped") else oom["detected"] == oom["n"]))
        for name in ("memory", "disk", "pids"):
            r = dt[name]
            if r.get("detected") and not r.get("missed"):
                w = r["event_worst_s"]
                out.append(("%s detection < 1 s (worst of %d)" % (name, r["detected"]),
                            "%s (median %s)" % (fmt_s(w), fmt_s(r["event_median_s"])),
                            _pm(w < 1.0)))
            else:
                out.append(("%s detection < 1 s" % name,
                            "%d missed, %d skipped" % (r.get("missed", 0), r.get("skipped", 0)),
                            "MISS" if r.get("missed") else "n/a"))
            node = r.get("node") or {}
            if node.get("detected") and not node.get("missed"):
                w = node["event_worst_s"]
                out.append(("%s on the Node < 1 s (worst of %d)" % (name, node["detected"]),
                            "%s (median %s)" % (fmt_s(w), fmt_s(node["event_median_s"])),
                            _pm(w < 1.0)))
            elif node:
                out.append(("%s on the Node < 1 s" % name,
                            node.get("skipped") or "%d missed" % node.get("missed", 0),
                            "MISS" if node.get("missed") else "n/a"))
        oom = dt.get("oom_kill")
        if isinstance(oom, dict) and oom.get("detected"):
            out.append(("OOM kill detection < 100 ms (worst of %d)" % oom["detected"],
                        "%s (median %s)" % (fmt_s(oom["worst_s"]), fmt_s(oom["median_s"])),
                        _pm(oom["worst_s"] < 0.1)))
        else:
            out.append(("OOM kill detection < 100 ms", "not measured", "n/a"))
    sl = results.get("scale")
    if sl:
        for key in ("cgroups", "processes"):
            fits = [sl[key]["tick_cost_fit"], sl[key]["cpu_fit"], sl[key]["bytes_fit"]]
            verdicts = [f["verdict"] for f in fits]
            text = verdicts[0] if len(set(verdicts)) == 1 else "; ".join(verdicts)
            out.append(("cost grows at most linearly with %s (tick, CPU, bytes)" % key, text,
                        _pm(all(f["linear"] for f in fits))))
        wf = sl["cgroups"].get("walk_fit")
        if wf:
            out.append(("checkpoint walk grows at most linearly with cgroups",
                        "%s (%s per cgroup)" % (wf["verdict"], fmt_s(wf["slope"])),
                        _pm(wf["linear"])))
    eb = results.get("ebpf")
    if eb:
        busy = [p for p in eb["programs"].values()
                if p["ns_per_event"] is not None and p["events"] >= 100]
        worst = max((p["ns_per_event"] for p in busy), default=None)
        own = [p["own_ns_per_event"] for p in busy if p.get("own_ns_per_event") is not None]
        measured = "worst %.0f ns" % worst if worst is not None else "no events"
        if own:
            measured += " (%.0f ns above an empty program's floor)" % max(own)
        out.append(("< 100 ns per BPF event (every program with >= 100 events)", measured,
                    _pm(worst < 100) if worst is not None else "n/a"))
        for w, r in sorted(eb["workloads"].items()):
            out.append(("< 2%% %s workload slowdown with probes on" % w,
                        "%.1f%%" % (r["slowdown"] * 100), _pm(r["slowdown"] < 0.02)))
    else:
        out.append(("< 100 ns per BPF event", "not run", "n/a"))
        out.append(("< 2% workload slowdown with probes on", "not run", "n/a"))
    return out


def guards(results):
    """Gross regressions that noise cannot explain: [(what, measured, ok)]."""
    out = []
    sc, dt = results.get("scrape"), results.get("detect")
    if sc:
        a = sc["nodehealth"]["sequential"]["cpu_per_scrape_best_s"]
        b = sc["node_exporter"]["sequential"]["cpu_per_scrape_best_s"]
        if a is None or b is None:
            # An idle busy loop hides the scrapes; the idle CPU guard catches it.
            out.append(("CPU per scrape not worse than node_exporter's", "unmeasurable", None))
        else:
            out.append(("CPU per scrape not worse than node_exporter's",
                        "%s vs %s" % (fmt_s(a), fmt_s(b)), a <= b))
    rss = peak_rss(results)
    if rss is not None:
        out.append(("peak RSS ≤ 64 MiB", fmt_bytes(rss), rss <= 64 * MiB))
    fp = results.get("footprint")
    if fp:
        # 20x the 0.5% target: a busy loop, not noise.
        c = fp["nodehealth"]["cpu_core_ratio"]
        out.append(("idle CPU ≤ 10% of one core", "%.3f%%" % (c * 100), c <= 0.10))
    if dt:
        oom = dt.get("oom_kill")
        if isinstance(oom, dict):
            out.append(("OOM kill detected within %ds in every trial" % dt["timeout_s"],
                        "skipped: " + oom["skipped"] if oom.get("skipped")
                        else "%d/%d detected" % (oom["detected"], oom["n"]),
                        None if oom.get("skipped") else oom["detected"] == oom["n"]))
        for name in ("memory", "disk", "pids"):
            r = dt[name]
            out.append(("%s pressure detected within %ds in every trial" % (name, dt["timeout_s"]),
                        "%d/%d detected, %d skipped" % (r["detected"], r["n"], r["skipped"]),
                        r["missed"] == 0))
            node = r.get("node")
            if node is not None:
                out.append(("%s pressure on the Node within %ds in every trial"
                            % (name, dt["timeout_s"]),
                            node.get("skipped") or "%d/%d on the Node" % (node["detected"],
                                                                          node["n"]),
                            None if node.get("skipped") else node["missed"] == 0))
    return out


def ebpf_lines(eb):
    def ns(v):
        return "%.0f" % v if v is not None else "-"
    rows = [[name, "%d" % p["events"], ns(p["ns_per_event"]), ns(p.get("floor_ns_per_event")),
             ns(p.get("own_ns_per_event"))]
            for name, p in sorted(eb["programs"].items())]
    out = _table("eBPF cost per program (bpf_prog_info run_time_ns / run_cnt; floor: an empty "
                 "program on the same hook)",
                 ["probe/program", "events", "ns per event", "floor", "own work"], rows)
    rows = [[w, "%.1f" % r["median_off"], "%.1f" % r["median_on"], "%.1f%%" % (r["slowdown"] * 100)]
            for w, r in sorted(eb["workloads"].items())]
    out += _table("Workload throughput, probes off vs on (stress-ng bogo ops/s, median of %d)"
                  % eb["options"]["trials"], ["workload", "off", "on", "slowdown"], rows)
    return out


def lines(results, meta):
    out = ["nodehealth bench (%s): %s, kernel %s, %d CPUs, %s" % (
        meta["mode"], meta["date"], meta["kernel"], meta["nproc"], meta["cpu_model"]),
        "  %s; peer %s" % (meta["nodehealth_version"], meta["node_exporter_version"]),
        "  command: %s" % meta["command"]]
    if "scrape" in results:
        out += scrape_lines(results["scrape"])
    if "footprint" in results:
        out += footprint_lines(results["footprint"])
    if "detect" in results:
        out += detect_lines(results["detect"])
    if "scale" in results:
        out += scale_lines(results["scale"])
    if "ebpf" in results:
        out += ebpf_lines(results["ebpf"])
    t = targets(results)
    out += _table("Targets (reported, never asserted)", ["target", "measured", "result"],
                  [list(x) for x in t])
    g = guards(results)
    how = ("enforced: quick mode" if meta["mode"] == "quick"
           else "reported only: full mode never fails on timing")
    out += _table("Regression guards (%s)" % how,
                  ["guard", "measured", "result"],
                  [[w, m, "n/a" if ok is None else "ok" if ok else "FAIL"] for w, m, ok in g])
    return out, t, g
