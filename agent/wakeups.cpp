#include "agent/wakeups.h"

#include <sys/epoll.h>

#include <chrono>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/parse/quantity.h"

namespace nodehealth {
namespace {

// The filesystem events' queue is read at most this often (agent/sources/fs_watch.h).
constexpr std::chrono::milliseconds kFsEventPause{100};
// The memory threshold notification is registered again when its level moved by more.
constexpr uint64_t kMemoryLevelStep = 8ull << 20;

}  // namespace

void Wakeups::arm_psi(const config::Config& cfg, const HostPaths& paths) {
  if (!cfg.psi_triggers || !cfg.source_on("psi")) return;
  std::vector<std::string> errors;
  triggers_ = sources::arm_psi_triggers(
      paths, {"memory", "io"},
      std::chrono::duration_cast<std::chrono::microseconds>(cfg.psi_trigger_stall),
      std::chrono::duration_cast<std::chrono::microseconds>(cfg.psi_trigger_window), errors);
  for (const auto& e : errors) spdlog::info("psi trigger unavailable, ticks only: {}", e);
  for (auto& t : triggers_) {
    auto r = loop_.watch(
        t.fd.get(),
        [this, resource = t.resource] {
          spdlog::debug("psi trigger: {} stalls, sampling now", resource);
          sample_soon_();
        },
        EPOLLPRI);
    if (!r) spdlog::warn("psi trigger not watched: {}", r.error().message);
  }
  if (!triggers_.empty())
    spdlog::info("psi triggers armed: some {} per {} on memory and io",
                 parse::format_duration(cfg.psi_trigger_stall),
                 parse::format_duration(cfg.psi_trigger_window));
}

void Wakeups::watch_probes(probes::ProbeSet& probes) {
  // Drained at once; the sample follows within the caller's gap.
  for (auto [fd, probe] : probes.event_fds()) {
    auto r = loop_.watch(fd, [this, probe = probe] {
      probe->drain();
      spdlog::debug("probe event: {}, sampling now", probe->name());
      sample_soon_();
    });
    if (!r) spdlog::warn("probe events not watched: {}", r.error().message);
  }
}

void Wakeups::arm_memory(const config::Config& cfg, const Agent& agent) {
  if (!cfg.memory_threshold_events || !cfg.source_on("cgroup_memory") || !agent.root_memory())
    return;
  const auto& m = *agent.root_memory();
  if (m.version != CgroupMemory::Version::kV1) {
    spdlog::info(
        "memory threshold events unavailable on cgroup v2 (no kernel notification): "
        "PSI triggers and ticks");
    return;
  }
  auto t = sources::MemoryThreshold::open(m.path);
  if (!t) {
    spdlog::info("memory threshold events unavailable, ticks only: {}", t.error().message);
    return;
  }
  memory_ = std::move(*t);
  rearm_memory(agent);
  if (memory_)
    spdlog::info("memory threshold events armed on {}{}", m.path,
                 memory_->fd() >= 0
                     ? fmt::format(" at {} MiB", memory_->armed_at() >> 20)
                     : std::string(" (no memory.available threshold to arm at yet)"));
}

// Armed at the root cgroup usage where memory.available reaches its nearest threshold.
void Wakeups::rearm_memory(const Agent& agent) {
  if (!memory_) return;
  const auto& m = agent.root_memory();
  const auto drop = agent.drop_until_met("memory.available");
  const int armed = memory_->fd();
  if (!m || !drop) {  // no signal, or already met: the ticks follow it
    if (armed >= 0) (void)loop_.unwatch(armed);
    memory_->disarm();
    return;
  }
  const uint64_t level = m->usage_bytes + *drop;
  if (!memory_->wants(level, kMemoryLevelStep)) return;
  if (armed >= 0) (void)loop_.unwatch(armed);
  auto past = memory_->arm(level);
  auto r = past ? loop_.watch(memory_->fd(),
                              [this] {
                                memory_->drain();
                                spdlog::debug(
                                    "memory threshold event: usage crossed {} MiB, sampling now",
                                    memory_->armed_at() >> 20);
                                sample_soon_();
                              })
                : Result<void>(std::unexpected(past.error()));
  if (!r) {
    spdlog::warn("memory threshold events off: {}", r.error().message);
    memory_.reset();
    return;
  }
  if (*past) {  // crossed before the kernel knew of the level: no event will come for it
    spdlog::debug("memory threshold: usage already past {} MiB, sampling again",
                  memory_->armed_at() >> 20);
    sample_soon_();
  }
}

void Wakeups::arm_filesystems(const config::Config& cfg, const HostPaths& paths,
                              const Agent& agent) {
  if (!cfg.filesystem_events || !cfg.source_on("filesystem") || agent.filesystems().empty()) return;
  std::vector<std::string> notes;
  auto w = sources::FsWatch::create(paths, agent.filesystems(), notes);
  for (const auto& n : notes) spdlog::info("filesystem events: {}", n);
  if (!w) {
    spdlog::info("filesystem events unavailable, ticks only: {}", w.error().message);
    return;
  }
  fs_ = std::move(*w);
  fs_->rebase(agent.filesystems());
  auto r = loop_.watch(fs_->fd(), [this] {
    fs_->drain();
    if (auto p = loop_.pause(fs_->fd(), kFsEventPause); !p)
      spdlog::warn("filesystem events: {}", p.error().message);
    if (!fs_->moved()) return;
    spdlog::debug("filesystem event: disk usage moved, sampling now");
    sample_soon_();
  });
  if (!r) {
    spdlog::warn("filesystem events not watched: {}", r.error().message);
    fs_.reset();
    return;
  }
  std::string what;
  for (const auto& f : fs_->watched())
    what += fmt::format("{}{} {} ({})", what.empty() ? "" : ", ", f.fs.role, f.fs.path,
                        f.fs.fs_type.empty() ? "?" : f.fs.fs_type);
  spdlog::info("filesystem events armed: {}", what);
}

void Wakeups::after_sample(const Agent& agent, probes::ProbeSet& probes) {
  if (fs_) fs_->rebase(agent.filesystems());
  // Forks that would use up the PID headroom wake the loop (the fork probe's marks).
  probes.wake_on_task_growth(agent.drop_until_met("pid.available").value_or(0));
  rearm_memory(agent);
}

}  // namespace nodehealth
