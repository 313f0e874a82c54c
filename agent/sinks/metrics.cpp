#include "agent/sinks/metrics.h"

#include <deque>

#include <prometheus/metric_family.h>

#include "agent/probes/probe_metrics.h"
#include "agent/sinks/families.h"

#include "agent/checkpoint/checkpoint.h"
#include "agent/features/features.h"

namespace nodehealth::sinks {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

class Families {
 public:
  MetricFamily& family(const char* name, const char* help, MetricType type) {
    out_.push_back(MetricFamily{name, help, type, {}});
    return out_.back();
  }
  std::vector<MetricFamily> take() {
    std::vector<MetricFamily> out;
    out.reserve(out_.size());
    // A family without samples would render as a bare HELP/TYPE pair: drop it.
    for (auto& f : out_)
      if (!f.metric.empty()) out.push_back(std::move(f));
    out_.clear();
    return out;
  }

 private:
  std::deque<MetricFamily> out_;  // stable references while families are filled
};

double unix_seconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

void signals(Families& fams, const NodeStatus& st) {
  auto& avail = fams.family("nodehealth_signal_available",
                            "Available amount of an eviction signal, in the signal's unit "
                            "(bytes, inodes or PIDs), computed as the kubelet computes it.",
                            MetricType::Gauge);
  auto& cap =
      fams.family("nodehealth_signal_capacity",
                  "Capacity behind an eviction signal, in the signal's unit.", MetricType::Gauge);
  auto& thr = fams.family("nodehealth_signal_threshold",
                          "Eviction threshold of a signal (type hard or soft) resolved to the "
                          "signal's unit; the kubelet evicts when available falls below it.",
                          MetricType::Gauge);
  auto& met = fams.family("nodehealth_signal_threshold_met",
                          "1 while the threshold is met (available below it, or not yet above "
                          "it by the minimum reclaim).",
                          MetricType::Gauge);
  auto& grace = fams.family("nodehealth_signal_threshold_grace_period_met",
                            "1 when the threshold has been met for its grace period: the kubelet "
                            "would be evicting pods for it.",
                            MetricType::Gauge);
  auto& until = fams.family("nodehealth_signal_seconds_until_threshold",
                            "Forecast time until the signal falls below its hard threshold, from "
                            "its robust trend; absent when it is not falling or history is short.",
                            MetricType::Gauge);
  auto& trend = fams.family("nodehealth_signal_trend_per_second",
                            "Robust trend of the signal (Theil-Sen slope over the forecast "
                            "window), in the signal's unit per second.",
                            MetricType::Gauge);
  for (const auto& s : st.signals) {
    if (s.available) add_sample(avail, {{"signal", s.name}}, *s.available);
    if (s.capacity) add_sample(cap, {{"signal", s.name}}, *s.capacity);
    for (const auto& t : s.thresholds) {
      if (!t.value) continue;
      add_sample(thr, {{"signal", s.name}, {"type", t.kind}}, *t.value);
      add_sample(met, {{"signal", s.name}, {"type", t.kind}}, t.met ? 1 : 0);
      add_sample(grace, {{"signal", s.name}, {"type", t.kind}}, t.grace_period_met ? 1 : 0);
    }
    if (s.until_threshold)
      add_sample(until, {{"signal", s.name}},
                 std::chrono::duration<double>(*s.until_threshold).count());
    if (s.trend_per_second) add_sample(trend, {{"signal", s.name}}, *s.trend_per_second);
  }
}

void conditions(Families& fams, const NodeStatus& st) {
  auto& cond = fams.family("nodehealth_condition",
                           "Node condition status: 1 for the condition's current status "
                           "(True, False or Unknown), 0 for the others.",
                           MetricType::Gauge);
  auto& trans = fams.family("nodehealth_condition_last_transition_timestamp_seconds",
                            "Unix time of the condition's last status change.", MetricType::Gauge);
  static constexpr ConditionStatus kAll[] = {ConditionStatus::kTrue, ConditionStatus::kFalse,
                                             ConditionStatus::kUnknown};
  for (const auto& c : st.conditions) {
    for (ConditionStatus s : kAll)
      add_sample(cond, {{"type", c.type}, {"status", to_string(s)}}, c.status == s ? 1 : 0);
    add_sample(trans, {{"type", c.type}}, unix_seconds(c.last_transition));
  }
}

void psi(Families& fams, const Sample& s) {
  auto& total = fams.family("nodehealth_psi_stall_seconds_total",
                            "Time tasks stalled on a resource (PSI total); scope node is "
                            "/proc/pressure, scope kubepods the pods' cgroup.",
                            MetricType::Counter);
  auto& ratio = fams.family("nodehealth_psi_stall_ratio",
                            "Share of wall time tasks stalled on a resource (PSI average over "
                            "the window), 0..1.",
                            MetricType::Gauge);
  auto emit_psi = [&](const char* scope, const char* res, const std::optional<parse::Psi>& p) {
    if (!p) return;
    auto emit = [&](const char* kind, const parse::PsiLine& l) {
      add_sample(total, {{"scope", scope}, {"resource", res}, {"kind", kind}},
                 double(l.total_us) / 1e6);
      for (const auto& [window, avg] :
           {std::pair{"10s", l.avg10}, std::pair{"60s", l.avg60}, std::pair{"300s", l.avg300}})
        add_sample(ratio, {{"scope", scope}, {"resource", res}, {"kind", kind}, {"window", window}},
                   avg / 100);
    };
    emit("some", p->some);
    if (p->full) emit("full", *p->full);
  };
  emit_psi("node", "cpu", s.psi.cpu);
  emit_psi("node", "memory", s.psi.memory);
  emit_psi("node", "io", s.psi.io);
  if (s.kubepods) {
    emit_psi("kubepods", "memory", s.kubepods->memory_pressure);
    emit_psi("kubepods", "io", s.kubepods->io_pressure);
  }
}

void sources(Families& fams, const Sample& s) {
  auto& up = fams.family("nodehealth_source_up", "1 when the source's last collection succeeded.",
                         MetricType::Gauge);
  auto& dur = fams.family("nodehealth_source_duration_seconds",
                          "Wall time of the source's last collection.", MetricType::Gauge);
  for (const auto& src : s.sources) {
    add_sample(up, {{"source", src.name}}, src.up ? 1 : 0);
    add_sample(dur, {{"source", src.name}}, src.duration_seconds);
  }
  auto& ts = fams.family("nodehealth_last_sample_timestamp_seconds",
                         "Unix time of the newest sample.", MetricType::Gauge);
  add_sample(ts, {}, unix_seconds(s.taken_at));
}

void filesystems(Families& fams, const Sample& s) {
  auto& ro = fams.family("nodehealth_filesystem_read_only",
                         "1 when the filesystem behind nodefs or imagefs is mounted read-only.",
                         MetricType::Gauge);
  for (const auto* fs : {&s.nodefs, &s.imagefs}) {
    if (!*fs) continue;
    add_sample(ro, {{"fs", (*fs)->role}, {"mountpoint", (*fs)->mount_point}},
               (*fs)->read_only ? 1 : 0);
  }
}

void network(Families& fams, const Sample& s) {
  if (!s.network) return;
  const NetworkState& n = *s.network;
  auto& route = fams.family("nodehealth_network_default_route",
                            "1 when the node has a default route that is up.", MetricType::Gauge);
  add_sample(route, {}, n.default_route ? 1 : 0);
  if (n.interface.empty()) return;
  auto& oper =
      fams.family("nodehealth_network_interface_oper_up",
                  "1 when the default route's interface is operationally up.", MetricType::Gauge);
  add_sample(oper, {{"interface", n.interface}, {"operstate", n.operstate}},
             n.operstate == "up" || n.operstate == "unknown" ? 1 : 0);
  auto& carrier =
      fams.family("nodehealth_network_interface_carrier",
                  "1 when the default route's interface has carrier.", MetricType::Gauge);
  if (n.carrier) add_sample(carrier, {{"interface", n.interface}}, *n.carrier ? 1 : 0);
}

}  // namespace

std::vector<MetricFamily> render_metrics(const Snapshot* snap, const BuildInfo& build) {
  Families fams;
  auto& info =
      fams.family("nodehealth_build_info", "Always 1; labels carry the agent's version and commit.",
                  MetricType::Gauge);
  add_sample(info, {{"version", build.version}, {"commit", build.commit}}, 1);
  if (snap) {
    signals(fams, snap->status);
    conditions(fams, snap->status);
    psi(fams, snap->sample);
    sources(fams, snap->sample);
    filesystems(fams, snap->sample);
    network(fams, snap->sample);
  }
  std::vector<MetricFamily> out = fams.take();
  if (snap) {
    auto more = checkpoint::checkpoint_metrics(snap->sample.checkpoint_report.get(),
                                               snap->sample.checkpoint_audit.get());
    std::move(more.begin(), more.end(), std::back_inserter(out));
    auto probes = probes::probe_metrics(snap->sample.probes);
    std::move(probes.begin(), probes.end(), std::back_inserter(out));
    if (snap->sample.features) {
      auto feats = features::feature_metrics(*snap->sample.features);
      std::move(feats.begin(), feats.end(), std::back_inserter(out));
    }
  }
  return out;
}

}  // namespace nodehealth::sinks
