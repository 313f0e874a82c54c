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

eval::EvalConfig eval_config(const config::Config& cfg) {
  eval::EvalConfig e;
  for (const auto& [signal, value] : cfg.eviction.hard)
    e.hard[signal] = eval::Threshold{value, threshold_text(signal, value)};
  e.pressure_transition_period = cfg.eviction.pressure_transition_period;
  return e;
}

Agent::Agent(const config::Config& cfg, const HostPaths& paths, const Clock& clock)
    : clock_(clock), eval_cfg_(eval_config(cfg)), sampler_(sources::make_sources(cfg, paths)) {}

const eval::Evaluation& Agent::tick() {
  const TimePoint now = clock_.now();
  Sample sample = sampler_.sample(now);
  eval::Evaluation next = eval::evaluate(sample, last_.state, eval_cfg_, now);
  for (const auto& c : next.status.conditions) {
    auto prev = last_.state.conditions.find(c.type);
    if (first_ || prev == last_.state.conditions.end()) {
      spdlog::info("condition: {} is {} reason={} message=\"{}\"", c.type, to_string(c.status),
                   c.reason, c.message);
    } else if (prev->second.status != c.status) {
      const auto level =
          c.status == ConditionStatus::kFalse ? spdlog::level::info : spdlog::level::warn;
      spdlog::log(level, "condition changed: {} {} -> {} reason={} message=\"{}\"", c.type,
                  to_string(prev->second.status), to_string(c.status), c.reason, c.message);
    }
  }
  first_ = false;
  for (Sink* sink : sinks_) sink->publish(sample, next.status);
  last_ = std::move(next);
  return last_;
}

}  // namespace nodehealth
