#include "agent/sinks/metrics.h"

#include <deque>

#include <prometheus/metric_family.h>

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

void add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

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
                          "Eviction threshold of a signal resolved to the signal's unit; the "
                          "kubelet evicts when available falls below it.",
                          MetricType::Gauge);
  auto& met = fams.family("nodehealth_signal_threshold_met",
                          "1 when the signal's available amount is below its threshold.",
                          MetricType::Gauge);
  for (const auto& s : st.signals) {
    if (s.available) add(avail, {{"signal", s.name}}, *s.available);
    if (s.capacity) add(cap, {{"signal", s.name}}, *s.capacity);
    if (s.hard_threshold) {
      add(thr, {{"signal", s.name}, {"type", "hard"}}, *s.hard_threshold);
      add(met, {{"signal", s.name}, {"type", "hard"}}, s.met ? 1 : 0);
    }
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
      add(cond, {{"type", c.type}, {"status", to_string(s)}}, c.status == s ? 1 : 0);
    add(trans, {{"type", c.type}}, unix_seconds(c.last_transition));
  }
}

void psi(Families& fams, const PsiSample& psi) {
  auto& total =
      fams.family("nodehealth_psi_stall_seconds_total",
                  "Time tasks stalled on a resource (PSI total), node level.", MetricType::Counter);
  auto& ratio = fams.family("nodehealth_psi_stall_ratio",
                            "Share of wall time tasks stalled on a resource (PSI average over "
                            "the window), 0..1, node level.",
                            MetricType::Gauge);
  const std::pair<const char*, const std::optional<parse::Psi>*> resources[] = {
      {"cpu", &psi.cpu}, {"memory", &psi.memory}, {"io", &psi.io}};
  for (const auto& [res, p] : resources) {
    if (!*p) continue;
    auto emit = [&](const char* kind, const parse::PsiLine& l) {
      add(total, {{"resource", res}, {"kind", kind}}, double(l.total_us) / 1e6);
      add(ratio, {{"resource", res}, {"kind", kind}, {"window", "10s"}}, l.avg10 / 100);
      add(ratio, {{"resource", res}, {"kind", kind}, {"window", "60s"}}, l.avg60 / 100);
      add(ratio, {{"resource", res}, {"kind", kind}, {"window", "300s"}}, l.avg300 / 100);
    };
    emit("some", (*p)->some);
    if ((*p)->full) emit("full", *(*p)->full);
  }
}

void sources(Families& fams, const Sample& s) {
  auto& up = fams.family("nodehealth_source_up", "1 when the source's last collection succeeded.",
                         MetricType::Gauge);
  auto& dur = fams.family("nodehealth_source_duration_seconds",
                          "Wall time of the source's last collection.", MetricType::Gauge);
  for (const auto& src : s.sources) {
    add(up, {{"source", src.name}}, src.up ? 1 : 0);
    add(dur, {{"source", src.name}}, src.duration_seconds);
  }
  auto& ts = fams.family("nodehealth_last_sample_timestamp_seconds",
                         "Unix time of the newest sample.", MetricType::Gauge);
  add(ts, {}, unix_seconds(s.taken_at));
}

void filesystems(Families& fams, const Sample& s) {
  auto& ro = fams.family("nodehealth_filesystem_read_only",
                         "1 when the filesystem behind nodefs or imagefs is mounted read-only.",
                         MetricType::Gauge);
  for (const auto* fs : {&s.nodefs, &s.imagefs}) {
    if (!*fs) continue;
    add(ro, {{"fs", (*fs)->role}, {"mountpoint", (*fs)->mount_point}}, (*fs)->read_only ? 1 : 0);
  }
}

void network(Families& fams, const Sample& s) {
  if (!s.network) return;
  const NetworkState& n = *s.network;
  auto& route = fams.family("nodehealth_network_default_route",
                            "1 when the node has a default route that is up.", MetricType::Gauge);
  add(route, {}, n.default_route ? 1 : 0);
  if (n.interface.empty()) return;
  auto& oper =
      fams.family("nodehealth_network_interface_oper_up",
                  "1 when the default route's interface is operationally up.", MetricType::Gauge);
  add(oper, {{"interface", n.interface}, {"operstate", n.operstate}},
      n.operstate == "up" || n.operstate == "unknown" ? 1 : 0);
  auto& carrier =
      fams.family("nodehealth_network_interface_carrier",
                  "1 when the default route's interface has carrier.", MetricType::Gauge);
  if (n.carrier) add(carrier, {{"interface", n.interface}}, *n.carrier ? 1 : 0);
}

}  // namespace

std::vector<MetricFamily> render_metrics(const Snapshot* snap, const BuildInfo& build) {
  Families fams;
  auto& info =
      fams.family("nodehealth_build_info", "Always 1; labels carry the agent's version and commit.",
                  MetricType::Gauge);
  add(info, {{"version", build.version}, {"commit", build.commit}}, 1);
  if (snap) {
    signals(fams, snap->status);
    conditions(fams, snap->status);
    psi(fams, snap->sample.psi);
    sources(fams, snap->sample);
    filesystems(fams, snap->sample);
    network(fams, snap->sample);
  }
  return fams.take();
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  const auto snap = store_.get();
  return render_metrics(snap.get(), build_);
}

}  // namespace nodehealth::sinks
