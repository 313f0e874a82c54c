#include "agent/agent.h"

#include <spdlog/spdlog.h>

#include "agent/sinks/snapshot.h"
#include "agent/sources/sources.h"

namespace nodehealth {
namespace {

// How a threshold was configured, for display: "10%", "100Mi", "1000".
std::string threshold_text(std::string_view signal, const parse::ThresholdValue& v) {
  if (v.is_percentage) return fmt::format("{:g}%", v.percentage * 100);
  const bool bytes = signal.ends_with(".available") && signal != "pid.available";
  return bytes ? sinks::format_bytes(v.quantity) : fmt::format("{:.0f}", v.quantity);
}

}  // namespace

eval::EvalConfig eval_config(const config::EvictionSettings& eviction, const config::Config& cfg) {
  eval::EvalConfig e;
  auto text = [&](const std::string& kind, const std::string& signal,
                  const parse::ThresholdValue& v) {
    auto it = eviction.text.find(kind + "/" + signal);
    return it != eviction.text.end() ? it->second : threshold_text(signal, v);
  };
  auto reclaim = [&](const std::string& signal) -> std::optional<parse::ThresholdValue> {
    auto it = eviction.minimum_reclaim.find(signal);
    if (it == eviction.minimum_reclaim.end()) return std::nullopt;
    return it->second;
  };
  for (const auto& [signal, value] : eviction.hard)
    e.hard[signal] = eval::Threshold{value, text("hard", signal, value), reclaim(signal), {}};
  for (const auto& [signal, value] : eviction.soft) {
    auto grace = eviction.soft_grace_period.find(signal);
    e.soft[signal] = eval::Threshold{
        value, text("soft", signal, value), reclaim(signal),
        grace != eviction.soft_grace_period.end() ? grace->second : std::chrono::nanoseconds{}};
  }
  e.pressure_transition_period = eviction.pressure_transition_period;
  e.memory_contention_percent = cfg.memory_stall_percent;
  e.io_contention_percent = cfg.io_stall_percent;
  e.forecast_horizon = cfg.forecast_horizon;
  e.forecast.window = cfg.forecast_window;
  e.required_features = cfg.required_features;
  e.oom_window = cfg.oom_window;
  e.fork_storm_rate = cfg.fork_storm_rate;
  e.slow_disk_p99 = cfg.slow_disk_p99;
  e.drop_rate = cfg.drop_rate;
  return e;
}

Agent::Agent(const config::Config& cfg, const eval::EvalConfig& eval_cfg, const HostPaths& paths,
             const Clock& clock)
    : clock_(clock), eval_cfg_(eval_cfg), sampler_(sources::make_sources(cfg, paths)) {}

const eval::Evaluation& Agent::tick() {
  const TimePoint now = clock_.now();
  Sample sample = sampler_.sample(now);
  if (probes_) probes_->collect(sample);
  for (const auto& k : sample.oom_kills)
    spdlog::warn("oom kill: pid={} comm={} cgroup={} pod_uid={} container_id={}", k.pid, k.comm,
                 k.cgroup, k.pod_uid, k.container_id);
  eval::Evaluation next = eval::evaluate(sample, last_.state, eval_cfg_, now);
  for (const auto& c : next.status.conditions)
    if (first_ || !last_.state.conditions.contains(c.type))
      spdlog::info("condition: {} is {} reason={} message=\"{}\"", c.type, to_string(c.status),
                   c.reason, c.message);
  first_ = false;
  // The changes, as the recent events record them.
  for (const StatusEvent& e : events_.record(last_.state.conditions, next.status, sample.oom_kills))
    if (e.kind == "ConditionChanged")
      spdlog::log(e.to == "False" ? spdlog::level::info : spdlog::level::warn,
                  "condition changed: {} {} -> {} reason={} message=\"{}\"", e.type, e.from, e.to,
                  e.reason, e.message);
  next.status.events = events_.events();
  root_memory_ = sample.root_memory;
  filesystems_.clear();
  for (const auto* fs : {&sample.nodefs, &sample.imagefs})
    if (*fs) filesystems_.push_back(**fs);
  for (Sink* sink : sinks_) sink->publish(sample, next.status);
  last_ = std::move(next);
  return last_;
}

std::optional<uint64_t> Agent::drop_until_met(std::string_view signal) const {
  for (const SignalValue& v : last_.status.signals)
    if (v.name == signal) return v.drop_until_met();
  return std::nullopt;
}

}  // namespace nodehealth
