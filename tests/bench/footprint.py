"""Footprint: nodehealth (default configuration: 1 s sample interval, every
source on) and node_exporter started fresh side by side and left alone for
`duration` seconds. RSS and peak RSS (VmRSS/VmHWM) just after start and at the
end; idle CPU over the window, per hour and as a share of one core.

Nobody scrapes either process here (scrape cost is measured separately), so
node_exporter, which works only when scraped, idles near zero; the agent samples
the node every second regardless. At the end, one scrape of the agent's
/metrics (after the measurements) records nodehealth_probe_up: which eBPF
probes actually loaded. The "with a 15 s scrape" figure adds 240
scrapes an hour at the measured CPU per scrape to make the two comparable.

A third process, "nodehealth_kube", is the same agent with its Kubernetes sink writing to
the e2e suite's stand-in for the kube-apiserver (tests/e2e/kube_standin.py, as the detect
section runs it): the agent loads libcurl only for that sink, so its footprint is what a
DaemonSet pod costs, and the first one's what a plain host's systemd unit costs. It is
skipped (and said so) when the stand-in cannot start."""
import contextlib
import time

import common
import detect

# node-problem-detector's published DaemonSet requests and limits.
NPD_CPU_CORES = 0.010  # 10m
NPD_MEMORY_BYTES = 80 * common.MiB  # 80Mi


def _snapshot(pid):
    m = common.memory(pid)
    m["cpu"] = common.CpuMark(pid)
    return m


def run(opts):
    """opts: duration_s, settle_s."""
    duration = opts["duration_s"]
    kube_skipped = None
    with contextlib.ExitStack() as stack:
        nh = stack.enter_context(common.nodehealth())
        ne = stack.enter_context(common.node_exporter())
        watched = {"nodehealth": nh.proc, "node_exporter": ne.proc}
        try:
            kube = detect.Kube()
            stack.callback(kube.close)
            kube.reset_node()
            nk = stack.enter_context(common.nodehealth(
                config="apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                       "nodeName: %s\n" % detect.NODE, args=("--kubeconfig", kube.kubeconfig)))
            watched["nodehealth_kube"] = nk.proc
        except Exception as e:  # the other two are still measured
            kube_skipped = "did not start: %s: %s" % (type(e).__name__, e)
            common.log("footprint: no Kubernetes-sink figures: " + kube_skipped)
        procs = {k: p.pid for k, p in watched.items()}
        common.log("footprint: %ds idle window, %s" % (
            duration, " ".join("%s pid=%d" % kv for kv in procs.items())))
        time.sleep(opts["settle_s"])
        start = {k: _snapshot(pid) for k, pid in procs.items()}
        deadline = time.monotonic() + duration
        next_note = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= next_note and deadline - time.monotonic() > 5:
                common.log("footprint: %ds left" % (deadline - time.monotonic()))
                next_note += 60
            for k, p in watched.items():
                if p.poll() is not None:
                    raise AssertionError("%s exited during the footprint window" % k)
        end = {k: _snapshot(pid) for k, pid in procs.items()}
        # After the window (its CPU and memory are measured): which probes loaded.
        code, _, body = common.harness.http_get(nh.port, "/metrics", timeout=10)
        probes = None
        if code == 200:
            probes = {labels.split('probe="', 1)[1].split('"', 1)[0]: value == 1
                      for labels, value in common.metric_values(body.encode(),
                                                                "nodehealth_probe_up").items()
                      if 'probe="' in labels}

    out = {"options": dict(opts)}
    for k in procs:
        wall, stat, sched = end[k]["cpu"].since(start[k]["cpu"])
        cpu = sched if sched == sched else stat  # NaN-safe: schedstat when readable
        out[k] = {
            "rss_start": start[k]["rss"], "hwm_start": start[k]["hwm"],
            "rss_end": end[k]["rss"], "hwm_end": end[k]["hwm"],
            "rss_anon_end": end[k].get("rss_anon"),
            "threads": end[k]["threads"],
            "wall_s": wall, "stat_cpu_s": stat, "sched_cpu_s": sched,
            "cpu_core_ratio": cpu / wall,
            "cpu_s_per_hour": cpu / wall * 3600,
        }
    out["nodehealth"]["probes"] = probes  # {probe: loaded}, None when /metrics failed
    if kube_skipped:
        out["nodehealth_kube"] = {"skipped": kube_skipped}
    out["npd_budget"] = {"cpu_cores": NPD_CPU_CORES, "cpu_s_per_hour": NPD_CPU_CORES * 3600,
                         "memory_bytes": NPD_MEMORY_BYTES}
    return out


def add_scrape_load(fp, scrape_res, interval_s=15):
    """CPU per hour idle plus one Prometheus scrape every interval_s, from the
    measured sequential CPU per scrape."""
    if not scrape_res:
        return
    per_hour = 3600 / interval_s
    for k in ("nodehealth", "node_exporter"):
        if k in fp and k in scrape_res:
            per = scrape_res[k]["sequential"]["cpu_per_scrape_s"]
            fp[k]["cpu_s_per_hour_scraped"] = fp[k]["cpu_s_per_hour"] + per_hour * per
    fp["scrape_interval_s"] = interval_s
