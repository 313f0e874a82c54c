// The kubelet's eviction settings, read from a merged Document that holds the kubelet's
// v1beta1 camelCase fields: the kubelet's own KubeletConfiguration files, or the same fields at
// the top level of the agent's AgentConfiguration. Parsed and defaulted exactly as the kubelet
// does it (facts §1):
//   - pkg/kubelet/eviction/helpers.go ParseThresholdConfig, parseThresholdStatement,
//     parsePercentage, parseGracePeriods, parseMinimumReclaims, addAllocatableThresholds,
//     UpdateContainerFsThresholds;
//   - cmd/kubelet/app/server.go loadConfigFile (evictionHard defaults and
//     mergeDefaultEvictionSettings) and parseResourceList (kubeReserved, systemReserved);
//   - pkg/kubelet/apis/config/v1beta1/defaults.go (evictionPressureTransitionPeriod,
//     enforceNodeAllocatable) and validation.go (enforceNodeAllocatable options).
// Errors read "<file>:<line>: <key path>: <the kubelet's text>", all of them at once.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/config/layered.h"
#include "agent/config/problems.h"
#include "agent/parse/quantity.h"
#include "nodehealth/result.h"

namespace nodehealth::config {

using ThresholdMap = std::map<std::string, parse::ThresholdValue, std::less<>>;

struct EvictionSettings {
  // Thresholds after the kubelet's defaulting: signal -> threshold. Disabled thresholds ("0%",
  // "100%") are absent; containerfs.* are absent too (the kubelet overwrites them with copies of
  // nodefs or imagefs at run time, facts §1).
  ThresholdMap hard;
  ThresholdMap soft;
  std::map<std::string, std::chrono::nanoseconds, std::less<>> soft_grace_period;  // soft's only
  ThresholdMap minimum_reclaim;  // only for signals with a hard or soft threshold
  std::chrono::nanoseconds pressure_transition_period = std::chrono::minutes(5);
  bool merge_default_eviction_settings = false;
  // Parsed and validated as the kubelet does (kubeReserved[memory], systemReserved[memory]);
  // allocatableMemory.available itself is measured against the kubepods cgroup's limit, which
  // is what the kubelet enforces those reservations through (eval/evaluator.cpp).
  std::optional<double> kube_reserved_memory_bytes, system_reserved_memory_bytes;
  std::vector<std::string> enforce_node_allocatable = {"pods"};
  // "hard/<signal>", "soft/<signal>", "gracePeriod/<signal>", "minimumReclaim/<signal>" -> the
  // value as written (or the kubelet's default text), for display.
  std::map<std::string, std::string, std::less<>> text;

  bool operator==(const EvictionSettings&) const;
};

// Every eviction signal the kubelet knows (helpers.go signalToResource), in display order.
inline constexpr std::string_view kKubeletSignals[] = {
    "memory.available",      "allocatableMemory.available", "nodefs.available",
    "nodefs.inodesFree",     "imagefs.available",           "imagefs.inodesFree",
    "containerfs.available", "containerfs.inodesFree",      "pid.available",
};

// The kubelet's DefaultEvictionHard on Linux (pkg/kubelet/eviction/defaults_linux.go, facts §1),
// as strings: it goes through the same parser as the user's values.
inline constexpr std::pair<std::string_view, std::string_view> kDefaultEvictionHard[] = {
    {"memory.available", "100Mi"}, {"nodefs.available", "10%"},  {"nodefs.inodesFree", "5%"},
    {"imagefs.available", "15%"},  {"imagefs.inodesFree", "5%"},
};

// kDefaultEvictionHard parsed.
ThresholdMap default_eviction_hard();

// The kubelet's rules applied to the eviction fields of `doc` (evictionHard, evictionSoft,
// evictionSoftGracePeriod, evictionMinimumReclaim, evictionPressureTransitionPeriod,
// mergeDefaultEvictionSettings, kubeReserved, systemReserved, enforceNodeAllocatable; the
// document's other keys are not looked at).
Result<EvictionSettings> eviction_settings(const Document& doc);

// The same, adding problems to a validator that reports everything at once (config.cpp).
EvictionSettings collect_eviction_settings(const Document& doc, Problems& problems);

// The top-level keys collect_eviction_settings reads.
inline constexpr std::string_view kEvictionKeys[] = {
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionMinimumReclaim",
    "evictionPressureTransitionPeriod",
    "mergeDefaultEvictionSettings",
    "kubeReserved",
    "systemReserved",
    "enforceNodeAllocatable",
};

}  // namespace nodehealth::config
