// Node conditions as Kubernetes shows them, and the evaluated status of the node.
#pragma once

#include <optional>
#include <string>
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

// One eviction signal: what is available, of how much, against which threshold.
struct SignalValue {
  std::string name;  // "memory.available", ...
  SignalUnit unit = SignalUnit::kBytes;
  std::optional<double> available;  // absent when the source behind it is down
  std::optional<double> capacity;
  std::optional<double> hard_threshold;  // resolved to the signal's unit
  std::string hard_threshold_text;       // as configured ("100Mi", "10%")
  bool met = false;                      // the hard threshold is met (available < threshold)
};

struct NodeStatus {
  TimePoint evaluated_at{};
  std::vector<Condition> conditions;
  std::vector<SignalValue> signals;
};

// RFC 3339 UTC with whole seconds, e.g. "2026-04-18T18:20:18Z".
std::string format_rfc3339(TimePoint t);

}  // namespace nodehealth
