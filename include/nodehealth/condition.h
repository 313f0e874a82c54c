// Node conditions as Kubernetes shows them, and the evaluated status of the node.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/clock.h"

namespace nodehealth {

enum class ConditionStatus { kTrue, kFalse, kUnknown };
const char* to_string(ConditionStatus s);  // "True" | "False" | "Unknown"

struct Condition {
  std::string type;  // e.g. "MemoryPressure"
  ConditionStatus status = ConditionStatus::kUnknown;
  std::string reason;   // CamelCase
  std::string message;  // human readable
  TimePoint last_heartbeat{};
  TimePoint last_transition{};
};

enum class SignalUnit { kBytes, kInodes, kPids };
const char* to_string(SignalUnit u);  // "bytes" | "inodes" | "pids"

// One threshold of a signal, as the kubelet's eviction manager sees it.
struct ThresholdStatus {
  std::string kind;                   // "hard" | "soft"
  std::string configured;             // as configured ("100Mi", "10%")
  std::optional<double> value;        // resolved to the signal's unit (absent without capacity)
  std::optional<double> min_reclaim;  // resolved evictionMinimumReclaim, if any
  std::chrono::nanoseconds grace_period{0};  // soft only
  bool met = false;  // available < value now, or still short of value + min_reclaim
  std::optional<TimePoint> first_observed;  // since when it has been met
  bool grace_period_met = false;  // met for at least its grace period: the kubelet would evict
};

// One eviction signal: what is available, of how much, against which thresholds.
struct SignalValue {
  std::string name;  // "memory.available", ...
  SignalUnit unit = SignalUnit::kBytes;
  std::optional<double> available;  // absent when the source behind it is down
  std::optional<double> capacity;
  std::vector<ThresholdStatus> thresholds;  // hard first, then soft
  // The trend and the forecast time until `available` crosses the hard threshold (the soft
  // one when there is no hard one); absent while history is short or the signal is not falling.
  std::optional<double> trend_per_second;
  std::optional<std::chrono::nanoseconds> until_threshold;

  const ThresholdStatus* threshold(std::string_view kind) const {
    for (const auto& t : thresholds)
      if (t.kind == kind) return &t;
    return nullptr;
  }
  bool any_met() const {
    for (const auto& t : thresholds)
      if (t.met) return true;
    return false;
  }
  // How much `available` must fall, in whole units of the signal (bytes, PIDs), before its
  // nearest threshold is met (available < value): 1 at least, as available == value is not
  // met yet. nullopt when one is met already, or without a value or a resolved threshold.
  std::optional<uint64_t> drop_until_met() const;
};

// Something the agent saw happen, kept in a short history for /status and the status page:
// a condition changing status, or an OOM kill.
struct StatusEvent {
  TimePoint at{};
  std::string kind;  // "ConditionChanged" | "OOMKill"
  std::string type;  // the condition's type; "" for an OOM kill
  std::string from;  // the status before ("True" | "False" | "Unknown"); "" for an OOM kill
  std::string to;    // the status after; "" for an OOM kill
  std::string reason;
  std::string message;
};

struct NodeStatus {
  TimePoint evaluated_at{};
  std::vector<Condition> conditions;
  std::vector<SignalValue> signals;
  std::vector<StatusEvent> events;  // the most recent, oldest first (agent/events.h)
};

// RFC 3339 UTC with whole seconds, e.g. "2026-04-18T18:20:18Z".
std::string format_rfc3339(TimePoint t);

}  // namespace nodehealth
