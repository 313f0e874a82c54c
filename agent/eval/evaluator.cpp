#include "agent/eval/evaluator.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/checkpoint/checkpoint.h"
#include "agent/features/features.h"
#include "agent/parse/quantity.h"

namespace nodehealth::eval {
namespace {

using std::chrono::nanoseconds;

// Which sources each signal is computed from, for "Unknown" when they are down.
struct SignalSpec {
  const char* name;
  SignalUnit unit;
  const char* pressure;  // the kubelet's condition
  const char* imminent;  // the agent's forecast condition
  std::array<const char*, 2> sources;
};
constexpr std::array<SignalSpec, 7> kSignals{{
    {"memory.available",
     SignalUnit::kBytes,
     kMemoryPressure,
     kMemoryEvictionImminent,
     {"meminfo", "cgroup_memory"}},
    {"allocatableMemory.available",
     SignalUnit::kBytes,
     kMemoryPressure,
     kMemoryEvictionImminent,
     {"kubepods", nullptr}},
    {"nodefs.available",
     SignalUnit::kBytes,
     kDiskPressure,
     kDiskEvictionImminent,
     {"filesystem", nullptr}},
    {"nodefs.inodesFree",
     SignalUnit::kInodes,
     kDiskPressure,
     kDiskEvictionImminent,
     {"filesystem", nullptr}},
    {"imagefs.available",
     SignalUnit::kBytes,
     kDiskPressure,
     kDiskEvictionImminent,
     {"filesystem", nullptr}},
    {"imagefs.inodesFree",
     SignalUnit::kInodes,
     kDiskPressure,
     kDiskEvictionImminent,
     {"filesystem", nullptr}},
    {"pid.available", SignalUnit::kPids, kPIDPressure, kPIDEvictionImminent, {"pids", nullptr}},
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
  // workingSet = usage - inactive_file, clamped at 0.
  auto working_set = [](uint64_t usage, uint64_t inactive) {
    return std::max(0.0, double(usage) - double(inactive));
  };
  if (signal == "memory.available") {
    if (!s.meminfo || !s.root_memory) return {};
    const double capacity = double(s.meminfo->mem_total_bytes);
    return {capacity - working_set(s.root_memory->usage_bytes, s.root_memory->inactive_file_bytes),
            capacity};
  }
  if (signal == "allocatableMemory.available") {
    // The kubepods cgroup's limit is the node allocatable the kubelet enforces.
    if (!s.kubepods || !s.kubepods->limit_bytes) return {};
    const double capacity = double(*s.kubepods->limit_bytes);
    return {capacity - working_set(s.kubepods->usage_bytes, s.kubepods->inactive_file_bytes),
            capacity};
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

// A threshold or minimum reclaim in the signal's unit: the kubelet truncates
// capacity * percentage to a whole quantity.
std::optional<double> resolve(const parse::ThresholdValue& v, const std::optional<double>& cap) {
  if (!v.is_percentage) return v.quantity;
  if (!cap) return std::nullopt;
  return std::trunc(*cap * v.percentage);
}

// Why a signal has no data: the first of its sources that is not up ("" when
// they are all up, i.e. the signal does not apply here).
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

bool was_true(const EvalState& prev, std::string_view type) {
  auto it = prev.conditions.find(type);
  return it != prev.conditions.end() && it->second.status == ConditionStatus::kTrue;
}

// Rules 1, 2, 3 and 5 for one threshold of one signal.
ThresholdStatus threshold_status(const std::string& kind, const SignalSpec& spec,
                                 const Threshold& t, const Observed& o, const EvalState& prev,
                                 EvalState& next, TimePoint now) {
  ThresholdStatus st;
  st.kind = kind;
  st.configured = t.text;
  st.grace_period = t.grace_period;
  st.value = resolve(t.value, o.capacity);
  if (t.min_reclaim) st.min_reclaim = resolve(*t.min_reclaim, o.capacity);
  if (!st.value || !o.available) return st;  // no observation: not met (as the kubelet)
  const std::string key = kind + "/" + spec.name;
  const bool met_now = *st.value > *o.available;
  const bool not_resolved = prev.eviction_thresholds.contains(key) &&
                            *st.value + st.min_reclaim.value_or(0) > *o.available;
  st.met = met_now || not_resolved;
  if (!st.met) return st;
  auto first = prev.first_observed.find(key);
  st.first_observed = first != prev.first_observed.end() ? first->second : now;
  next.first_observed[key] = *st.first_observed;
  st.grace_period_met = now - *st.first_observed >= t.grace_period;
  if (st.grace_period_met) next.eviction_thresholds.insert(key);
  return st;
}

Condition pressure_condition(const PressureText& text, const Sample& sample,
                             const std::vector<SignalValue>& signals, const EvalState& prev,
                             EvalState& next, const EvalConfig& cfg, TimePoint now) {
  bool met = false;
  std::string missing;
  for (size_t i = 0; i < kSignals.size(); ++i) {
    const SignalSpec& spec = kSignals[i];
    const SignalValue& v = signals[i];
    if (std::string_view(spec.pressure) != text.type || v.thresholds.empty()) continue;
    met = met || v.any_met();
    if (!v.available && missing.empty()) {
      const std::string why = missing_reason(sample, spec);
      if (!why.empty()) missing = fmt::format("no data for {}: {}", spec.name, why);
    }
  }
  if (met) next.pressure_last_observed[text.type] = now;
  // The kubelet's anti-flap rule: a pressure condition stays True until none
  // of its thresholds has been met for the transition period.
  bool within_transition = false;
  if (auto it = next.pressure_last_observed.find(text.type);
      it != next.pressure_last_observed.end()) {
    within_transition = now - it->second < cfg.pressure_transition_period;
  }
  if (met || within_transition)
    return next_condition(prev, text.type, ConditionStatus::kTrue, text.true_reason,
                          text.true_message, now);
  if (!missing.empty())
    return next_condition(prev, text.type, ConditionStatus::kUnknown, "SignalUnavailable", missing,
                          now);
  return next_condition(prev, text.type, ConditionStatus::kFalse, text.false_reason,
                        text.false_message, now);
}

std::string format_amount(double v, SignalUnit unit) {
  if (unit != SignalUnit::kBytes) return fmt::format("{:.0f}", v);
  static constexpr const char* kUnits[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
  double a = std::fabs(v);
  size_t u = 0;
  while (a >= 1024 && u + 1 < std::size(kUnits)) a /= 1024, ++u;
  return fmt::format("{}{:.1f}{}", v < 0 ? "-" : "", a, kUnits[u]);
}

// The agent's forecast conditions: a signal of the group is forecast to cross
// its threshold within the horizon.
Condition imminent_condition(const char* type, const Sample& sample,
                             const std::vector<SignalValue>& signals, const EvalState& prev,
                             const EvalConfig& cfg, TimePoint now) {
  const bool was = was_true(prev, type);
  const nanoseconds limit = was ? cfg.forecast_horizon * 3 / 2 : cfg.forecast_horizon;
  const SignalValue* soonest = nullptr;
  bool any_data = false;
  std::string missing;
  for (size_t i = 0; i < kSignals.size(); ++i) {
    if (std::string_view(kSignals[i].imminent) != type) continue;
    const SignalValue& v = signals[i];
    if (v.thresholds.empty()) continue;
    if (v.available) {
      any_data = true;
    } else if (missing.empty()) {
      const std::string why = missing_reason(sample, kSignals[i]);
      if (!why.empty()) missing = fmt::format("no data for {}: {}", v.name, why);
    }
    if (v.until_threshold && *v.until_threshold <= limit &&
        (!soonest || *v.until_threshold < *soonest->until_threshold))
      soonest = &v;
  }
  if (soonest) {
    const ThresholdStatus& t = soonest->thresholds.front();
    return next_condition(
        prev, type, ConditionStatus::kTrue, "EvictionThresholdForecast",
        fmt::format("{} is forecast to fall below its {} threshold {} in {} (trend {}/s)",
                    soonest->name, t.kind, t.configured,
                    parse::format_duration(std::chrono::duration_cast<std::chrono::seconds>(
                        *soonest->until_threshold)),
                    format_amount(soonest->trend_per_second.value_or(0), soonest->unit)),
        now);
  }
  if (!any_data && !missing.empty())
    return next_condition(prev, type, ConditionStatus::kUnknown, "SignalUnavailable", missing, now);
  return next_condition(prev, type, ConditionStatus::kFalse, "NoEvictionThresholdForecast",
                        fmt::format("no eviction signal is forecast to reach its threshold "
                                    "within {}",
                                    parse::format_duration(cfg.forecast_horizon)),
                        now);
}

// KEP-5394's rule on PSI `some`: set when avg60 and avg10 are both at or above
// the threshold, clear when avg60 falls below it, otherwise keep the status.
Condition contention_condition(const char* type, const char* what,
                               const std::optional<parse::Psi>& psi, double threshold,
                               const std::string& no_data, const EvalState& prev, TimePoint now) {
  if (!psi)
    return next_condition(prev, type, ConditionStatus::kUnknown, "PressureStallUnavailable",
                          no_data, now);
  const parse::PsiLine& some = psi->some;
  const bool set = some.avg60 >= threshold && some.avg10 >= threshold;
  const bool clear = some.avg60 < threshold;
  if (set || (was_true(prev, type) && !clear)) {
    return next_condition(prev, type, ConditionStatus::kTrue, fmt::format("{}StallsHigh", what),
                          fmt::format("{} pressure stall (PSI some) avg10={:.2f}% avg60={:.2f}%, "
                                      "threshold {:g}%",
                                      what, some.avg10, some.avg60, threshold),
                          now);
  }
  return next_condition(prev, type, ConditionStatus::kFalse, fmt::format("{}StallsLow", what),
                        fmt::format("{} pressure stall (PSI some) avg60={:.2f}% is below {:g}%",
                                    what, some.avg60, threshold),
                        now);
}

void contention_conditions(const Sample& s, const EvalState& prev, const EvalConfig& cfg,
                           TimePoint now, std::vector<Condition>& out) {
  const SourceStatus* psi_src = s.source("psi");
  const std::string node_no_data =
      !psi_src       ? std::string("no data: source psi is disabled")
      : !psi_src->up ? fmt::format("no data: source psi is down: {}", psi_src->error)
                     : std::string("this kernel reports no pressure stall information (PSI)");
  out.push_back(contention_condition(kMemoryContention, "Memory", s.psi.memory,
                                     cfg.memory_contention_percent, node_no_data, prev, now));
  out.push_back(contention_condition(kDiskContention, "IO", s.psi.io, cfg.io_contention_percent,
                                     node_no_data, prev, now));
  // Pod-level contention exists only where there are pods and cgroup v2 pressure files; once
  // reported, it goes Unknown (not away) while the kubepods source cannot tell.
  if (!s.kubepods) {
    const SourceStatus* src = s.source("kubepods");
    if (src && src->up) return;  // no kubepods cgroup (any more): nothing to report
    if (!prev.conditions.contains(kKubepodsMemoryContention) &&
        !prev.conditions.contains(kKubepodsDiskContention))
      return;
    const std::string why = src ? fmt::format("no data: source kubepods is down: {}", src->error)
                                : std::string("no data: source kubepods is disabled");
    for (const char* type : {kKubepodsMemoryContention, kKubepodsDiskContention})
      out.push_back(
          next_condition(prev, type, ConditionStatus::kUnknown, "SignalUnavailable", why, now));
    return;
  }
  const std::string pods_no_data =
      fmt::format("the {} cgroup has no pressure files (cgroup v1)", s.kubepods->name);
  out.push_back(contention_condition(kKubepodsMemoryContention, "Memory",
                                     s.kubepods->memory_pressure, cfg.memory_contention_percent,
                                     pods_no_data, prev, now));
  out.push_back(contention_condition(kKubepodsDiskContention, "IO", s.kubepods->io_pressure,
                                     cfg.io_contention_percent, pods_no_data, prev, now));
}

// The first few exposed archives by name, with what is wrong ("a.tar (mode 0644), b.tar
// (owned by uid 1000), and 3 more"), so that whoever is paged knows which files to fix.
std::string exposed_archive_names(const checkpoint::CheckpointAudit& a) {
  constexpr std::size_t kNamed = 3;
  std::vector<std::string> named;
  std::string last_path;
  for (const auto& f : a.findings) {  // sorted by path
    if ((f.kind != "mode" && f.kind != "owner") || f.path == last_path) continue;
    last_path = f.path;
    if (named.size() == kNamed) break;
    const auto slash = f.path.rfind('/');
    const std::string name = slash == std::string::npos ? f.path : f.path.substr(slash + 1);
    const auto comma = f.message.find(',');
    named.push_back(fmt::format("{} ({})", name, f.message.substr(0, comma)));
  }
  if (a.exposed_archives > named.size())
    named.push_back(
        fmt::format("{}{} more", named.empty() ? "" : "and ", a.exposed_archives - named.size()));
  return fmt::format("{}", fmt::join(named, ", "));
}

// Checkpoint archives hold every memory page of their container (facts §6): one
// readable by anyone but root, or a checkpoint directory open to others, is a leak.
Condition checkpoint_condition(const Sample& s, const EvalState& prev, TimePoint now) {
  auto make = [&](ConditionStatus st, const char* reason, std::string msg) {
    return next_condition(prev, kCheckpointArchivesExposed, st, reason, std::move(msg), now);
  };
  const checkpoint::CheckpointAudit* a = s.checkpoint_audit.get();
  if (!a) {
    const SourceStatus* src = s.source("checkpoints");
    return make(ConditionStatus::kUnknown, "SignalUnavailable",
                src ? fmt::format("no data: source checkpoints is down: {}", src->error)
                    : std::string("no data: source checkpoints is disabled"));
  }
  if (a->exposed_archives > 0)
    return make(ConditionStatus::kTrue, "CheckpointArchivesReadable",
                fmt::format("{} checkpoint archive(s) in {} readable by users other than root: {}",
                            a->exposed_archives, a->dir, exposed_archive_names(*a)));
  if (!a->dir_mode_ok)
    return make(ConditionStatus::kTrue, "CheckpointDirectoryOpen",
                fmt::format("checkpoint directory {} is not root-owned mode 0700 (mode {:o})",
                            a->dir, a->dir_mode));
  if (!a->exists)
    return make(ConditionStatus::kFalse, "NoCheckpointArchives",
                fmt::format("no checkpoint directory at {}", a->dir));
  return make(ConditionStatus::kFalse, "CheckpointArchivesPrivate",
              fmt::format("{} checkpoint archive(s) in {}, none readable by others",
                          a->archives.size(), a->dir));
}

// Required kernel features (facts §5) that this node lacks: the agent's requiredFeatures, and
// what the kubelet's own configuration requires (features/kubelet.h): cgroup v2 when its
// failCgroupV1 is true (the default since 1.35), and allowedUnsafeSysctls entries the kubelet
// rejects or this kernel cannot namespace. The reason names the first kind of problem found, the
// message every problem.
Condition requirements_condition(const Sample& s, const EvalState& prev, const EvalConfig& cfg,
                                 TimePoint now) {
  auto make = [&](ConditionStatus st, const char* reason, std::string msg) {
    return next_condition(prev, kKernelRequirementsMissing, st, reason, std::move(msg), now);
  };
  if (!s.features) {
    const SourceStatus* src = s.source("features");
    return make(ConditionStatus::kUnknown, "SignalUnavailable",
                src ? fmt::format("no data: source features is down: {}", src->error)
                    : std::string("no data: source features is disabled"));
  }
  const auto missing = features::missing(*s.features, cfg.required_features);
  const auto kubelet = features::kubelet_problems(*s.features);
  std::vector<std::string> parts;
  const char* reason = nullptr;
  if (!missing.empty()) {
    reason = "RequiredFeatureMissing";
    parts.push_back(fmt::format("required but not supported here: {}", fmt::join(missing, ", ")));
  }
  for (const auto& p : kubelet) {
    if (!reason)
      reason = p.kind == features::KubeletProblem::Kind::kFailCgroupV1
                   ? "KubeletRequiresCgroupV2"
                   : "UnsafeSysctlNotNamespaced";
    parts.push_back(p.message);
  }
  if (reason)
    return make(ConditionStatus::kTrue, reason, fmt::format("{}", fmt::join(parts, "; ")));
  if (!cfg.required_features.empty())
    parts.push_back(
        fmt::format("all required features supported: {}", fmt::join(cfg.required_features, ", ")));
  const features::KubeletRequirements& k = s.features->kubelet;
  if (k.found && !k.error.empty()) parts.push_back("kubelet configuration unreadable: " + k.error);
  if (k.fail_cgroup_v1 == true) {
    const features::FeatureSupport* v2 = s.features->feature("cgroup_v2");
    parts.push_back(v2 && v2->supported() == true
                        ? "the kubelet's failCgroupV1 is true and this node has cgroup v2"
                        : "the kubelet's failCgroupV1 is true; whether this node has cgroup v2 "
                          "is unknown");
  }
  if (!s.features->unsafe_sysctls.empty())
    parts.push_back(fmt::format(
        "{} allowedUnsafeSysctls entr{} checked, none rejected or "
        "unsupported here",
        s.features->unsafe_sysctls.size(), s.features->unsafe_sysctls.size() == 1 ? "y" : "ies"));
  if (parts.empty()) parts.push_back("nothing the kubelet's configuration requires is missing");
  return make(ConditionStatus::kFalse, "RequiredFeaturesPresent",
              fmt::format("{}", fmt::join(parts, "; ")));
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

constexpr std::size_t kMaxRecentOomKills = 1000;

// The point in `history` closest to `window` before now (the oldest one when the
// history is shorter); null when there is none at least `min_span` old.
const ProbePoint* point_before(const std::deque<ProbePoint>& history, TimePoint now,
                               std::chrono::nanoseconds window, std::chrono::nanoseconds min_span) {
  const ProbePoint* best = nullptr;
  for (const auto& p : history) {
    if (now - p.at < min_span) break;
    best = &p;
    if (now - p.at <= window) break;
  }
  return best;
}

double seconds_between(TimePoint a, TimePoint b) {
  return std::chrono::duration<double>(b - a).count();
}

// The probe behind a condition: absent (no condition), down (Unknown), or up.
const ProbeState* probe_of(const Sample& s, std::string_view name) { return s.probes.probe(name); }

Condition probe_down(const EvalState& prev, const char* type, const ProbeState& p, TimePoint now) {
  return next_condition(prev, type, ConditionStatus::kUnknown, "ProbeDown",
                        fmt::format("no data: probe {} is down: {}", p.name, p.error), now);
}

Condition oom_condition(const Sample& s, const ProbeState& p, const EvalState& prev,
                        EvalState& next, const EvalConfig& cfg, TimePoint now) {
  if (!p.up) return probe_down(prev, kRecentOOMKills, p, now);
  next.recent_oom_kills = prev.recent_oom_kills;
  for (const auto& k : s.oom_kills) next.recent_oom_kills.push_back(k);
  while (!next.recent_oom_kills.empty() &&
         (next.recent_oom_kills.size() > kMaxRecentOomKills ||
          now - next.recent_oom_kills.front().at > cfg.oom_window))
    next.recent_oom_kills.pop_front();
  const auto window = parse::format_duration(cfg.oom_window);
  if (next.recent_oom_kills.empty())
    return next_condition(prev, kRecentOOMKills, ConditionStatus::kFalse, "NoRecentOOMKills",
                          fmt::format("no OOM kill in the last {}", window), now);
  const OomKill& last = next.recent_oom_kills.back();
  std::string who = fmt::format("pid {} ({}) in cgroup {}", last.pid, last.comm, last.cgroup);
  if (!last.pod_uid.empty()) who += fmt::format(", pod UID {}", last.pod_uid);
  return next_condition(
      prev, kRecentOOMKills, ConditionStatus::kTrue, "OOMKillsObserved",
      fmt::format("{}{} OOM kill(s) in the last {}; last: {}",
                  next.recent_oom_kills.size() >= kMaxRecentOomKills ? "at least " : "",
                  next.recent_oom_kills.size(), window, who),
      now);
}

// The per-second rate of a cumulative probe counter over about `window` (at least 5 s of
// history), and the seconds it spans; nullopt while the history is shorter.
std::optional<std::pair<double, double>> counter_rate(const std::deque<ProbePoint>& history,
                                                      const ProbePoint& cur,
                                                      std::optional<uint64_t> ProbePoint::*counter,
                                                      std::chrono::nanoseconds window,
                                                      TimePoint now) {
  const ProbePoint* old = point_before(history, now, window, std::chrono::seconds(5));
  if (!old || !(old->*counter) || !(cur.*counter)) return std::nullopt;
  const uint64_t a = *(old->*counter), b = *(cur.*counter);
  const double span = seconds_between(old->at, now);
  return std::make_pair(double(b - std::min(a, b)) / span, span);
}

Condition fork_condition(const ProbeState& p, const EvalState& prev, const EvalConfig& cfg,
                         const ProbePoint& cur, TimePoint now) {
  if (!p.up) return probe_down(prev, kForkStorm, p, now);
  const auto rate =
      counter_rate(prev.probe_history, cur, &ProbePoint::forks, kForkStormWindow, now);
  if (!rate)
    return next_condition(prev, kForkStorm, ConditionStatus::kFalse, "NoForkStorm",
                          "collecting the fork rate", now);
  if (rate->first > cfg.fork_storm_rate)
    return next_condition(prev, kForkStorm, ConditionStatus::kTrue, "ForkRateHigh",
                          fmt::format("{:.0f} tasks created per second over the last {:.0f}s "
                                      "(threshold {:.0f}/s)",
                                      rate->first, rate->second, cfg.fork_storm_rate),
                          now);
  return next_condition(prev, kForkStorm, ConditionStatus::kFalse, "NoForkStorm",
                        fmt::format("{:.0f} tasks created per second (threshold {:.0f}/s)",
                                    rate->first, cfg.fork_storm_rate),
                        now);
}

Condition disk_condition(const ProbeState& p, const EvalState& prev, const EvalConfig& cfg,
                         const ProbePoint& cur, TimePoint now) {
  if (!p.up) return probe_down(prev, kSlowDisk, p, now);
  const ProbePoint* old =
      point_before(prev.probe_history, now, kSlowDiskWindow, std::chrono::seconds(5));
  std::vector<std::string> slow;
  for (const auto& [dev, h] : cur.block) {
    Log2Histogram d = h;
    if (old) {
      if (auto it = old->block.find(dev); it != old->block.end()) {
        for (std::size_t i = 0; i < d.slots.size() && i < it->second.slots.size(); ++i)
          d.slots[i] -= std::min(d.slots[i], it->second.slots[i]);
      }
    }
    if (d.count() < kSlowDiskMinRequests) continue;
    const auto p99 = histogram_quantile(d, 0.99);
    if (p99 && *p99 > double(cfg.slow_disk_p99.count()))
      slow.push_back(fmt::format("{} p99 {:.0f}ms over {} requests", dev, *p99 / 1e6, d.count()));
  }
  const auto limit = parse::format_duration(cfg.slow_disk_p99);
  if (!slow.empty())
    return next_condition(prev, kSlowDisk, ConditionStatus::kTrue, "DiskLatencyHigh",
                          fmt::format("I/O latency above {} at the 99th percentile: {}", limit,
                                      fmt::join(slow, "; ")),
                          now);
  return next_condition(prev, kSlowDisk, ConditionStatus::kFalse, "DiskLatencyNormal",
                        fmt::format("every device's p99 I/O latency is within {}", limit), now);
}

Condition drops_condition(const Sample& s, const ProbeState& p, const EvalState& prev,
                          const EvalConfig& cfg, const ProbePoint& cur, TimePoint now) {
  if (!p.up) return probe_down(prev, kPacketDrops, p, now);
  const auto r = counter_rate(prev.probe_history, cur, &ProbePoint::drops, kPacketDropWindow, now);
  if (!r)
    return next_condition(prev, kPacketDrops, ConditionStatus::kFalse, "DropRateNormal",
                          "collecting the drop rate", now);
  const double rate = r->first;
  if (rate > cfg.drop_rate) {
    std::vector<std::pair<uint64_t, std::string>> top;
    for (const auto& [reason, n] : *s.probes.drops_by_reason) top.emplace_back(n, reason);
    std::sort(top.rbegin(), top.rend());
    std::vector<std::string> names;
    for (std::size_t i = 0; i < top.size() && i < 3; ++i) names.push_back(top[i].second);
    return next_condition(prev, kPacketDrops, ConditionStatus::kTrue, "DropRateHigh",
                          fmt::format("{:.0f} packets dropped per second (threshold {:.0f}/s); "
                                      "most since start: {}",
                                      rate, cfg.drop_rate, fmt::join(names, ", ")),
                          now);
  }
  return next_condition(
      prev, kPacketDrops, ConditionStatus::kFalse, "DropRateNormal",
      fmt::format("{:.0f} packets dropped per second (threshold {:.0f}/s)", rate, cfg.drop_rate),
      now);
}

void probe_conditions(const Sample& s, const EvalState& prev, EvalState& next,
                      const EvalConfig& cfg, TimePoint now, std::vector<Condition>& out) {
  ProbePoint cur;
  cur.at = now;
  cur.forks = s.probes.forks_total;
  if (s.probes.drops_by_reason) {
    uint64_t total = 0;
    for (const auto& [reason, n] : *s.probes.drops_by_reason) total += n;
    cur.drops = total;
  }
  cur.block = s.probes.block_latency;
  if (const ProbeState* p = probe_of(s, "oom"))
    out.push_back(oom_condition(s, *p, prev, next, cfg, now));
  if (const ProbeState* p = probe_of(s, "fork"))
    out.push_back(fork_condition(*p, prev, cfg, cur, now));
  if (const ProbeState* p = probe_of(s, "biolatency"))
    out.push_back(disk_condition(*p, prev, cfg, cur, now));
  if (const ProbeState* p = probe_of(s, "drops"))
    out.push_back(drops_condition(s, *p, prev, cfg, cur, now));
  if (s.probes.probes.empty()) return;
  next.probe_history = prev.probe_history;
  next.probe_history.push_back(std::move(cur));
  const auto keep =
      std::max({kForkStormWindow, kSlowDiskWindow, kPacketDropWindow}) + std::chrono::seconds(5);
  while (next.probe_history.size() > 1 && now - next.probe_history[1].at >= keep)
    next.probe_history.pop_front();
}

}  // namespace

std::optional<double> histogram_quantile(const Log2Histogram& h, double q) {
  const uint64_t n = h.count();
  if (n == 0) return std::nullopt;
  const double rank = q * double(n);
  double seen = 0;
  for (std::size_t i = 0; i < h.slots.size(); ++i) {
    if (h.slots[i] == 0) continue;
    if (seen + double(h.slots[i]) >= rank) {
      const double lo = i == 0 ? 0 : std::ldexp(1.0, int(i));
      const double hi = std::ldexp(1.0, int(i) + 1);
      return lo + (hi - lo) * (rank - seen) / double(h.slots[i]);
    }
    seen += double(h.slots[i]);
  }
  return std::ldexp(1.0, int(h.slots.size()));
}

Evaluation evaluate(const Sample& sample, const EvalState& previous, const EvalConfig& cfg,
                    TimePoint now) {
  Evaluation ev;
  EvalState& next = ev.state;
  next.pressure_last_observed = previous.pressure_last_observed;
  next.history = previous.history;
  ev.status.evaluated_at = now;

  auto& signals = ev.status.signals;
  signals.reserve(kSignals.size());
  for (const auto& spec : kSignals) {
    SignalValue v;
    v.name = spec.name;
    v.unit = spec.unit;
    const Observed o = observe(sample, spec.name);
    v.available = o.available;
    v.capacity = o.capacity;
    for (const auto& [kind, table] : {std::pair{"hard", &cfg.hard}, std::pair{"soft", &cfg.soft}}) {
      if (auto it = table->find(spec.name); it != table->end())
        v.thresholds.push_back(threshold_status(kind, spec, it->second, o, previous, next, now));
    }
    if (v.available) {
      auto [hist, inserted] = next.history.try_emplace(spec.name, cfg.forecast);
      hist->second.add(now, *v.available);
      if (!v.thresholds.empty() && v.thresholds.front().value) {
        const Forecast f = forecast(hist->second, *v.thresholds.front().value, now);
        v.trend_per_second = f.slope_per_second;
        v.until_threshold = f.until_threshold;
      }
    }
    signals.push_back(std::move(v));
  }

  for (const auto& text : kPressure)
    ev.status.conditions.push_back(
        pressure_condition(text, sample, signals, previous, next, cfg, now));
  ev.status.conditions.push_back(network_condition(sample, previous, now));
  contention_conditions(sample, previous, cfg, now, ev.status.conditions);
  for (const char* type : {kMemoryEvictionImminent, kDiskEvictionImminent, kPIDEvictionImminent})
    ev.status.conditions.push_back(imminent_condition(type, sample, signals, previous, cfg, now));
  ev.status.conditions.push_back(checkpoint_condition(sample, previous, now));
  // With requiredFeatures, or a kubelet configuration to hold the node to (failCgroupV1,
  // allowedUnsafeSysctls); Unknown, not gone, while the features source is down.
  if (!cfg.required_features.empty() || (sample.features && sample.features->kubelet.found) ||
      (!sample.features && previous.conditions.contains(kKernelRequirementsMissing)))
    ev.status.conditions.push_back(requirements_condition(sample, previous, cfg, now));
  probe_conditions(sample, previous, next, cfg, now, ev.status.conditions);

  for (const auto& c : ev.status.conditions) next.conditions[c.type] = c;
  return ev;
}

}  // namespace nodehealth::eval
