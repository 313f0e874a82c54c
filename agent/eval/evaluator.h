// The pure evaluator: (sample, previous state, thresholds, now) -> node status.
// No I/O, no clock, no sleeps: every rule is tested with an injected time.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "agent/parse/quantity.h"
#include "nodehealth/condition.h"
#include "nodehealth/sample.h"

namespace nodehealth::eval {

// Condition types. The first three carry the kubelet's names and reason and
// message strings (facts §1); the network condition is the agent's own.
inline constexpr const char* kMemoryPressure = "MemoryPressure";
inline constexpr const char* kDiskPressure = "DiskPressure";
inline constexpr const char* kPIDPressure = "PIDPressure";
inline constexpr const char* kDefaultRouteUnavailable = "DefaultRouteUnavailable";

struct Threshold {
  parse::ThresholdValue value;
  std::string text;  // as configured, for display ("100Mi", "10%")
};

struct EvalConfig {
  std::map<std::string, Threshold, std::less<>> hard;  // signal -> hard threshold
  std::chrono::nanoseconds pressure_transition_period = std::chrono::minutes(5);
};

// What the evaluator remembers between ticks.
struct EvalState {
  std::map<std::string, Condition, std::less<>> conditions;  // by type
  // Per pressure condition: the last time one of its thresholds was met.
  std::map<std::string, TimePoint, std::less<>> pressure_last_observed;
};

struct Evaluation {
  NodeStatus status;
  EvalState state;
};

// Eviction signals from a sample (facts §1), thresholds resolved against capacity.
std::vector<SignalValue> compute_signals(const Sample& sample, const EvalConfig& cfg);

Evaluation evaluate(const Sample& sample, const EvalState& previous, const EvalConfig& cfg,
                    TimePoint now);

}  // namespace nodehealth::eval
