// The pure evaluator: (sample, previous state, config, now) -> node status.
// No I/O, no clock, no sleeps: every rule is tested with an injected time.
//
// The kubelet's eviction manager, rule for rule (pkg/kubelet/eviction, facts §1):
//   1. a threshold is met when available < threshold (soft and hard alike);
//   2. a threshold that drove eviction last time stays met until available >=
//      threshold + minimum reclaim;
//   3. each met threshold remembers when it was first observed;
//   4. a pressure condition is observed when any of its thresholds is met (grace
//      periods do not delay conditions), and stays True until it has not been
//      observed for the pressure transition period;
//   5. thresholds met for at least their grace period (0 for hard ones) are the
//      ones the kubelet evicts for, and the ones rule 2 applies to next time.
// On top, the agent's own earlier warnings: PSI contention (KEP-5394's rule)
// and eviction-imminent forecasts.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/eval/forecast.h"
#include "agent/parse/quantity.h"
#include "nodehealth/condition.h"
#include "nodehealth/sample.h"

namespace nodehealth::eval {

// Condition types. The pressure conditions carry the kubelet's names and reason and
// message strings (facts §1); the others are the agent's own types, named so that
// they never collide with a type another owner writes (the kubelet's PSI node
// conditions of KEP-5394 are SystemMemoryContentionPressure etc.).
inline constexpr const char* kMemoryPressure = "MemoryPressure";
inline constexpr const char* kDiskPressure = "DiskPressure";
inline constexpr const char* kPIDPressure = "PIDPressure";
inline constexpr const char* kDefaultRouteUnavailable = "DefaultRouteUnavailable";
inline constexpr const char* kMemoryContention = "MemoryContention";
inline constexpr const char* kDiskContention = "DiskContention";
inline constexpr const char* kKubepodsMemoryContention = "KubepodsMemoryContention";
inline constexpr const char* kKubepodsDiskContention = "KubepodsDiskContention";
inline constexpr const char* kMemoryEvictionImminent = "MemoryEvictionImminent";
inline constexpr const char* kDiskEvictionImminent = "DiskEvictionImminent";
inline constexpr const char* kPIDEvictionImminent = "PIDEvictionImminent";
inline constexpr const char* kCheckpointArchivesExposed = "CheckpointArchivesExposed";
inline constexpr const char* kKernelRequirementsMissing = "KernelRequirementsMissing";
// From the eBPF probes; present only while the probe behind them is enabled.
inline constexpr const char* kRecentOOMKills = "RecentOOMKills";
inline constexpr const char* kForkStorm = "ForkStorm";
inline constexpr const char* kSlowDisk = "SlowDisk";
inline constexpr const char* kPacketDrops = "PacketDrops";
// The windows the probe conditions are judged over.
inline constexpr std::chrono::seconds kForkStormWindow{30};
inline constexpr std::chrono::seconds kSlowDiskWindow{60};
inline constexpr std::chrono::seconds kPacketDropWindow{60};
// SlowDisk needs this many requests in its window to judge a device.
inline constexpr uint64_t kSlowDiskMinRequests = 20;

struct Threshold {
  parse::ThresholdValue value;
  std::string text;  // as configured, for display ("100Mi", "10%")
  std::optional<parse::ThresholdValue> min_reclaim;
  std::chrono::nanoseconds grace_period{0};  // soft thresholds only
};

struct EvalConfig {
  std::map<std::string, Threshold, std::less<>> hard;  // signal -> hard threshold
  std::map<std::string, Threshold, std::less<>> soft;  // signal -> soft threshold
  std::chrono::nanoseconds pressure_transition_period = std::chrono::minutes(5);
  // PSI contention: `some` avg10 and avg60 at or above this percentage set the
  // condition, avg60 below it clears it.
  double memory_contention_percent = 10;
  double io_contention_percent = 10;
  // Eviction imminent: the forecast time to the threshold is within the horizon.
  // Once True, it clears when the forecast goes away or exceeds 1.5 x horizon.
  std::chrono::nanoseconds forecast_horizon = std::chrono::minutes(10);
  ForecastOptions forecast;
  // Kernel features / safe sysctls this node must support (requiredFeatures); the
  // KernelRequirementsMissing condition exists only when the list is not empty.
  std::vector<std::string> required_features;
  // Probe conditions: RecentOOMKills while a kill happened within oom_window; ForkStorm while
  // the node creates more tasks per second than fork_storm_rate (over kForkStormWindow);
  // SlowDisk while a device's p99 latency over kSlowDiskWindow exceeds slow_disk_p99;
  // PacketDrops while the node drops more packets per second than drop_rate.
  std::chrono::nanoseconds oom_window = std::chrono::minutes(5);
  double fork_storm_rate = 1000;
  std::chrono::nanoseconds slow_disk_p99 = std::chrono::milliseconds(500);
  double drop_rate = 1000;
};

// Cumulative probe counters at one tick, kept for the probe conditions' windows.
struct ProbePoint {
  TimePoint at{};
  std::optional<uint64_t> forks, drops;
  std::map<std::string, Log2Histogram, std::less<>> block;
};

// The p-quantile (0..1) of a log2 histogram in nanoseconds, interpolated linearly
// inside its bucket; nullopt when empty.
std::optional<double> histogram_quantile(const Log2Histogram& h, double q);

// What the evaluator remembers between ticks.
struct EvalState {
  std::map<std::string, Condition, std::less<>> conditions;  // by type
  // Per pressure condition: the last time one of its thresholds was met.
  std::map<std::string, TimePoint, std::less<>> pressure_last_observed;
  // Per threshold ("hard/memory.available"): when it was first observed met.
  std::map<std::string, TimePoint, std::less<>> first_observed;
  // Thresholds whose grace period was met at the last evaluation (the kubelet's
  // thresholdsMet), to which minimum reclaim applies.
  std::set<std::string, std::less<>> eviction_thresholds;
  // Per signal: its recent history, for forecasts.
  std::map<std::string, SignalHistory, std::less<>> history;
  // Probe counters over the last minute or so, oldest first, and the OOM kills seen within
  // the oom window (bounded).
  std::deque<ProbePoint> probe_history;
  std::deque<OomKill> recent_oom_kills;
};

struct Evaluation {
  NodeStatus status;
  EvalState state;
};

Evaluation evaluate(const Sample& sample, const EvalState& previous, const EvalConfig& cfg,
                    TimePoint now);

}  // namespace nodehealth::eval
