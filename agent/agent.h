// Wires config -> sources -> sampler -> evaluator -> sinks. Used by `run` (in
// the event loop) and by `status` (one tick).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/config.h"
#include "agent/eval/evaluator.h"
#include "agent/events.h"
#include "agent/probes/probes.h"
#include "agent/sources/sampler.h"
#include "nodehealth/clock.h"
#include "nodehealth/host_paths.h"
#include "nodehealth/sink.h"

namespace nodehealth {

// The evaluator's configuration: the eviction thresholds (from the kubelet's
// files or the agent's config) and the agent's own early-warning settings.
eval::EvalConfig eval_config(const config::EvictionSettings& eviction, const config::Config& cfg);

class Agent {
 public:
  Agent(const config::Config& cfg, const eval::EvalConfig& eval_cfg, const HostPaths& paths,
        const Clock& clock);

  void add_sink(Sink* sink) { sinks_.push_back(sink); }
  // The eBPF probes whose data joins each sample (none: no probe data).
  void set_probes(probes::ProbeSet* probes) { probes_ = probes; }
  // New thresholds (a kubelet config edit); the evaluator's memory is kept.
  void set_eval_config(eval::EvalConfig cfg) { eval_cfg_ = std::move(cfg); }
  // Samples, evaluates, publishes to every sink, logs condition changes.
  const eval::Evaluation& tick();
  // SignalValue::drop_until_met of the last evaluation's `signal` ("pid.available"): how
  // much it must fall before its nearest threshold is met; nullopt when one is met already,
  // or the signal has no value or no resolved threshold.
  std::optional<uint64_t> drop_until_met(std::string_view signal) const;
  // The last sample's root memory cgroup accounting (absent when its source failed).
  const std::optional<CgroupMemory>& root_memory() const { return root_memory_; }
  // The last sample's nodefs and imagefs (either absent when the filesystem source failed).
  const std::vector<FsUsage>& filesystems() const { return filesystems_; }

 private:
  const Clock& clock_;
  eval::EvalConfig eval_cfg_;
  sources::Sampler sampler_;
  std::vector<Sink*> sinks_;
  probes::ProbeSet* probes_ = nullptr;
  eval::Evaluation last_;
  std::vector<FsUsage> filesystems_;
  std::optional<CgroupMemory> root_memory_;
  EventLog events_;
  bool first_ = true;
};

}  // namespace nodehealth
