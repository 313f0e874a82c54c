#include "agent/probes/probe_metrics.h"

#include <cmath>

#include "agent/sinks/families.h"

namespace nodehealth::probes {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using sinks::add_sample;

namespace {

// A log2 histogram (slot i: [2^i, 2^(i+1)) ns) as a Prometheus histogram in seconds.
void add_histogram(MetricFamily& f, std::vector<ClientMetric::Label> labels,
                   const Log2Histogram& h) {
  ClientMetric m;
  m.label = std::move(labels);
  uint64_t cumulative = 0;
  std::size_t slot = 0;
  for (int b = kFirstBucket; b <= kLastBucket; ++b) {
    // Slots below 2^b ns (slot i ends at 2^(i+1)) are in the bucket with le = 2^b ns.
    for (; slot < h.slots.size() && int(slot) + 1 <= b; ++slot) cumulative += h.slots[slot];
    m.histogram.bucket.push_back({cumulative, std::ldexp(1.0, b) / 1e9});
  }
  m.histogram.bucket.push_back({h.count(), std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = h.count();
  m.histogram.sample_sum = double(h.sum_ns) / 1e9;
  f.metric.push_back(std::move(m));
}

MetricFamily family(const char* name, const char* help, MetricType type) {
  return MetricFamily{name, help, type, {}};
}

}  // namespace

std::vector<MetricFamily> probe_metrics(const ProbeSample& p) {
  std::vector<MetricFamily> out;
  if (p.probes.empty()) return out;
  auto up = family("nodehealth_probe_up", "1 when the eBPF probe is loaded and attached.",
                   MetricType::Gauge);
  auto lost = family("nodehealth_probe_events_lost_total",
                     "Events the probe could not record (kernel maps or buffers full).",
                     MetricType::Counter);
  auto run_s = family("nodehealth_probe_program_run_seconds_total",
                      "Time the probe's BPF program ran (kernel.bpf_stats_enabled=1 only).",
                      MetricType::Counter);
  auto runs = family("nodehealth_probe_program_runs_total",
                     "Times the probe's BPF program ran (kernel.bpf_stats_enabled=1 only).",
                     MetricType::Counter);
  for (const auto& st : p.probes) {
    add_sample(up, {{"probe", st.name}}, st.up ? 1 : 0);
    if (!st.up) continue;
    add_sample(lost, {{"probe", st.name}}, double(st.events_lost));
    for (const auto& prog : st.programs) {
      add_sample(run_s, {{"probe", st.name}, {"program", prog.name}},
                 double(prog.run_time_ns) / 1e9);
      add_sample(runs, {{"probe", st.name}, {"program", prog.name}}, double(prog.run_count));
    }
  }
  for (auto* f : {&up, &lost, &run_s, &runs})
    if (!f->metric.empty()) out.push_back(std::move(*f));

  if (p.oom_kills_total) {
    auto total = family("nodehealth_oom_kills_total",
                        "OOM kills on the node since the agent started.", MetricType::Counter);
    add_sample(total, {}, double(*p.oom_kills_total));
    out.push_back(std::move(total));
    auto by = family("nodehealth_oom_kills_cgroup_total",
                     "OOM kills per victim memory cgroup (the 256 most recent cgroups), with the "
                     "pod UID and container ID when the cgroup is a pod's.",
                     MetricType::Counter);
    for (const auto& c : p.oom_kills_by_cgroup)
      add_sample(by,
                 {{"cgroup", c.cgroup}, {"pod_uid", c.pod_uid}, {"container_id", c.container_id}},
                 double(c.kills));
    if (!by.metric.empty()) out.push_back(std::move(by));
  }
  if (p.forks_total && p.exits_total) {
    auto forks = family("nodehealth_process_forks_node_total",
                        "Tasks (processes and threads) created on the node since the probe loaded.",
                        MetricType::Counter);
    add_sample(forks, {}, double(*p.forks_total));
    out.push_back(std::move(forks));
    auto exits =
        family("nodehealth_process_exits_node_total",
               "Tasks that exited on the node since the probe loaded.", MetricType::Counter);
    add_sample(exits, {}, double(*p.exits_total));
    out.push_back(std::move(exits));
    auto cf = family("nodehealth_process_forks_total",
                     "Tasks created by tasks of a memory cgroup (the cgroups forking most in the "
                     "last 5 minutes).",
                     MetricType::Counter);
    auto ce = family("nodehealth_process_exits_total",
                     "Tasks of a memory cgroup that exited (same cgroups as the forks).",
                     MetricType::Counter);
    for (const auto& t : p.tasks_by_cgroup) {
      add_sample(cf, {{"cgroup", t.cgroup}}, double(t.forks));
      add_sample(ce, {{"cgroup", t.cgroup}}, double(t.exits));
    }
    if (!cf.metric.empty()) {
      out.push_back(std::move(cf));
      out.push_back(std::move(ce));
    }
  }
  if (!p.block_latency.empty()) {
    auto f =
        family("nodehealth_block_io_latency_seconds",
               "Block I/O latency from issue to completion, per device.", MetricType::Histogram);
    for (const auto& [dev, h] : p.block_latency) add_histogram(f, {{"device", dev}}, h);
    out.push_back(std::move(f));
  }
  if (p.direct_reclaim) {
    auto n = family("nodehealth_direct_reclaim_stalls_total",
                    "Times a task had to reclaim memory itself before its allocation could go on.",
                    MetricType::Counter);
    add_sample(n, {}, double(p.direct_reclaim->count()));
    out.push_back(std::move(n));
    auto f = family("nodehealth_direct_reclaim_stall_seconds", "Duration of direct reclaim stalls.",
                    MetricType::Histogram);
    add_histogram(f, {}, *p.direct_reclaim);
    out.push_back(std::move(f));
  }
  if (p.memcg_reclaim) {
    auto n = family("nodehealth_memcg_reclaim_stalls_total",
                    "Times a task had to reclaim memory of its memory cgroup (at its limit) "
                    "before its allocation could go on.",
                    MetricType::Counter);
    add_sample(n, {}, double(p.memcg_reclaim->count()));
    out.push_back(std::move(n));
    auto f = family("nodehealth_memcg_reclaim_stall_seconds",
                    "Duration of memory-cgroup reclaim stalls.", MetricType::Histogram);
    add_histogram(f, {}, *p.memcg_reclaim);
    out.push_back(std::move(f));
  }
  if (p.drops_by_reason) {
    auto f =
        family("nodehealth_packet_drops_total",
               "Packets the kernel dropped, by drop reason (enum skb_drop_reason, lower case).",
               MetricType::Counter);
    for (const auto& [reason, n] : *p.drops_by_reason)
      add_sample(f, {{"reason", reason}}, double(n));
    if (!f.metric.empty()) out.push_back(std::move(f));
  }
  return out;
}

}  // namespace nodehealth::probes
