#include "agent/eval/evaluator.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

namespace nodehealth::eval {
namespace {

// Which sources each signal is computed from, for "Unknown" when they are down.
struct SignalSpec {
  const char* name;
  SignalUnit unit;
  const char* condition;
  std::array<const char*, 2> sources;
};
constexpr std::array<SignalSpec, 6> kSignals{{
    {"memory.available", SignalUnit::kBytes, kMemoryPressure, {"meminfo", "cgroup_memory"}},
    {"nodefs.available", SignalUnit::kBytes, kDiskPressure, {"filesystem", nullptr}},
    {"nodefs.inodesFree", SignalUnit::kInodes, kDiskPressure, {"filesystem", nullptr}},
    {"imagefs.available", SignalUnit::kBytes, kDiskPressure, {"filesystem", nullptr}},
    {"imagefs.inodesFree", SignalUnit::kInodes, kDiskPressure, {"filesystem", nullptr}},
    {"pid.available", SignalUnit::kPids, kPIDPressure, {"pids", nullptr}},
}};

// The kubelet's reason and message strings (facts §1).
struct PressureText {
  const char* type;
  const char* true_reason;
  const char* true_message;
  const char* false_reason;
  const char* false_message;
};
constexpr std::array<PressureText, 3> kPressure{{
    {kMemoryPressure, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
     "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
    {kDiskPressure, "KubeletHasDiskPressure", "kubelet has disk pressure",
     "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
    {kPIDPressure, "KubeletHasInsufficientPID", "kubelet has insufficient PID available",
     "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
}};

struct Observed {
  std::optional<double> available, capacity;
};

Observed observe(const Sample& s, std::string_view signal) {
  auto fs = [](const std::optional<FsUsage>& f, bool inodes) -> Observed {
    if (!f) return {};
    if (inodes) {
      if (f->inodes_total == 0) return {};  // no inode limit on this filesystem (btrfs, ...)
      return {double(f->inodes_free), double(f->inodes_total)};
    }
    return {double(f->available_bytes), double(f->capacity_bytes)};
  };
  if (signal == "memory.available") {
    if (!s.meminfo || !s.root_memory) return {};
    // workingSet = usage - inactive_file, clamped at 0; available = capacity - workingSet.
    const double usage = double(s.root_memory->usage_bytes);
    const double inactive = double(s.root_memory->inactive_file_bytes);
    const double working_set = std::max(0.0, usage - inactive);
    const double capacity = double(s.meminfo->mem_total_bytes);
    return {capacity - working_set, capacity};
  }
  if (signal == "nodefs.available") return fs(s.nodefs, false);
  if (signal == "nodefs.inodesFree") return fs(s.nodefs, true);
  if (signal == "imagefs.available") return fs(s.imagefs, false);
  if (signal == "imagefs.inodesFree") return fs(s.imagefs, true);
  if (signal == "pid.available") {
    if (!s.pids) return {};
    const double cap = double(std::min(s.pids->pid_max, s.pids->threads_max));
    return {cap - double(s.pids->tasks), cap};
  }
  return {};
}

// Why a signal has no data: the first of its sources that is not up.
std::string missing_reason(const Sample& s, const SignalSpec& spec) {
  for (const char* src : spec.sources) {
    if (!src) continue;
    const SourceStatus* st = s.source(src);
    if (!st) return fmt::format("source {} is disabled", src);
    if (!st->up) return fmt::format("source {} is down: {}", src, st->error);
  }
  return "";
}

Condition next_condition(const EvalState& prev, std::string type, ConditionStatus status,
                         std::string reason, std::string message, TimePoint now) {
  Condition c;
  c.type = std::move(type);
  c.status = status;
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.last_heartbeat = now;
  c.last_transition = now;
  if (auto it = prev.conditions.find(c.type);
      it != prev.conditions.end() && it->second.status == status) {
    c.last_transition = it->second.last_transition;
  }
  return c;
}

Condition network_condition(const Sample& s, const EvalState& prev, TimePoint now) {
  auto make = [&](ConditionStatus st, const char* reason, std::string msg) {
    return next_condition(prev, kDefaultRouteUnavailable, st, reason, std::move(msg), now);
  };
  const SourceStatus* src = s.source("network");
  if (!s.network) {
    return make(ConditionStatus::kUnknown, "SignalUnavailable",
                src ? fmt::format("no data: source network is down: {}", src->error)
                    : std::string("no data: source network is disabled"));
  }
  const NetworkState& n = *s.network;
  if (!n.default_route)
    return make(ConditionStatus::kTrue, "NoDefaultRoute", "node has no default route");
  static constexpr std::string_view kDown[] = {"down", "lowerlayerdown", "notpresent", "dormant"};
  if (std::find(std::begin(kDown), std::end(kDown), n.operstate) != std::end(kDown))
    return make(ConditionStatus::kTrue, "InterfaceDown",
                fmt::format("default route interface {} is {}", n.interface, n.operstate));
  if (n.carrier && !*n.carrier)
    return make(ConditionStatus::kTrue, "NoCarrier",
                fmt::format("default route interface {} has no carrier", n.interface));
  return make(ConditionStatus::kFalse, "DefaultRouteUp",
              fmt::format("default route via {} is up", n.interface));
}

}  // namespace

std::vector<SignalValue> compute_signals(const Sample& sample, const EvalConfig& cfg) {
  std::vector<SignalValue> out;
  out.reserve(kSignals.size());
  for (const auto& spec : kSignals) {
    SignalValue v;
    v.name = spec.name;
    v.unit = spec.unit;
    const Observed o = observe(sample, spec.name);
    v.available = o.available;
    v.capacity = o.capacity;
    if (auto it = cfg.hard.find(spec.name); it != cfg.hard.end()) {
      v.hard_threshold_text = it->second.text;
      const auto& t = it->second.value;
      if (!t.is_percentage) {
        v.hard_threshold = t.quantity;
      } else if (o.capacity) {
        // The kubelet truncates capacity * percentage to an integer quantity.
        v.hard_threshold = std::trunc(*o.capacity * t.percentage);
      }
      v.met = v.available && v.hard_threshold && *v.hard_threshold > *v.available;
    }
    out.push_back(std::move(v));
  }
  return out;
}

Evaluation evaluate(const Sample& sample, const EvalState& previous, const EvalConfig& cfg,
                    TimePoint now) {
  Evaluation ev;
  ev.status.evaluated_at = now;
  ev.status.signals = compute_signals(sample, cfg);
  ev.state.pressure_last_observed = previous.pressure_last_observed;

  for (const auto& text : kPressure) {
    bool met = false;
    std::string missing;
    for (size_t i = 0; i < kSignals.size(); ++i) {
      const SignalSpec& spec = kSignals[i];
      const SignalValue& v = ev.status.signals[i];
      if (std::string_view(spec.condition) != text.type || v.hard_threshold_text.empty()) continue;
      met = met || v.met;
      if (!v.available && missing.empty()) {
        const std::string why = missing_reason(sample, spec);
        if (!why.empty()) missing = fmt::format("no data for {}: {}", spec.name, why);
      }
    }
    if (met) ev.state.pressure_last_observed[text.type] = now;
    // The kubelet's anti-flap rule: a pressure condition stays True until none
    // of its thresholds has been met for the transition period.
    bool within_transition = false;
    if (auto it = ev.state.pressure_last_observed.find(text.type);
        it != ev.state.pressure_last_observed.end()) {
      within_transition = now - it->second < cfg.pressure_transition_period;
    }
    Condition c;
    if (met || within_transition) {
      c = next_condition(previous, text.type, ConditionStatus::kTrue, text.true_reason,
                         text.true_message, now);
    } else if (!missing.empty()) {
      c = next_condition(previous, text.type, ConditionStatus::kUnknown, "SignalUnavailable",
                         missing, now);
    } else {
      c = next_condition(previous, text.type, ConditionStatus::kFalse, text.false_reason,
                         text.false_message, now);
    }
    ev.status.conditions.push_back(c);
  }
  ev.status.conditions.push_back(network_condition(sample, previous, now));
  for (const auto& c : ev.status.conditions) ev.state.conditions[c.type] = c;
  return ev;
}

}  // namespace nodehealth::eval
