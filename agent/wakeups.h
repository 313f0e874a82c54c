// The kernel's events that ask for a sample before the next tick: PSI triggers, the probes'
// events (an OOM kill, forks reaching their marks), filesystem events on nodefs and imagefs,
// and cgroup v1 memory threshold events. Each is watched on the event loop and calls
// `sample_soon` when it fires; after every sample, after_sample() moves the levels they fire
// at to that sample's headroom. Each source that cannot be armed is logged and left out: the
// ticks still see what it would have.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "agent/agent.h"
#include "agent/config/config.h"
#include "agent/loop.h"
#include "agent/probes/probes.h"
#include "agent/sources/fs_watch.h"
#include "agent/sources/memcg_threshold.h"
#include "agent/sources/psi_trigger.h"
#include "nodehealth/host_paths.h"

namespace nodehealth {

class Wakeups {
 public:
  Wakeups(EventLoop& loop, std::function<void()> sample_soon)
      : loop_(loop), sample_soon_(std::move(sample_soon)) {}
  Wakeups(const Wakeups&) = delete;  // the loop's handlers point at this object
  Wakeups& operator=(const Wakeups&) = delete;

  // Before the first sample.
  void arm_psi(const config::Config& cfg, const HostPaths& paths);
  void watch_probes(probes::ProbeSet& probes);
  // After the first sample, whose root memory and filesystems they need, and before the
  // sandbox (fanotify marks need CAP_SYS_ADMIN, cgroup.event_control a writable cgroupfs).
  void arm_memory(const config::Config& cfg, const Agent& agent);
  void arm_filesystems(const config::Config& cfg, const HostPaths& paths, const Agent& agent);
  // After every sample: the filesystems' baselines, the fork probe's marks and the memory
  // threshold at what would meet pid.available's and memory.available's thresholds.
  void after_sample(const Agent& agent, probes::ProbeSet& probes);

 private:
  void rearm_memory(const Agent& agent);

  EventLoop& loop_;
  std::function<void()> sample_soon_;
  std::vector<sources::PsiTrigger> triggers_;
  std::optional<sources::MemoryThreshold> memory_;
  std::optional<sources::FsWatch> fs_;
};

}  // namespace nodehealth
