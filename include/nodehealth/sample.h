// One immutable snapshot of the node, taken by the sources at one tick.
// Plain values only: sinks and the evaluator read it, nothing writes it after
// the tick that built it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/parse/proc.h"
#include "nodehealth/clock.h"

namespace nodehealth::checkpoint {
struct CheckpointAudit;
struct CheckpointReport;
}  // namespace nodehealth::checkpoint
namespace nodehealth::features {
struct FeatureReport;
}  // namespace nodehealth::features

namespace nodehealth {

struct PidLimits {
  uint64_t pid_max = 0;      // /proc/sys/kernel/pid_max
  uint64_t threads_max = 0;  // /proc/sys/kernel/threads-max
  uint64_t tasks = 0;        // 4th field of /proc/loadavg, after '/'
};

struct PsiSample {
  std::optional<parse::Psi> cpu, memory, io;  // absent: PSI not available (no data)
};

// Root-cgroup memory accounting the kubelet uses for memory.available.
struct CgroupMemory {
  enum class Version { kV1, kV2 };
  Version version = Version::kV1;
  std::string path;                  // the file read, as opened
  uint64_t usage_bytes = 0;          // v1 memory.usage_in_bytes; v2 anon + file
  uint64_t inactive_file_bytes = 0;  // v1 total_inactive_file; v2 inactive_file
};

// The cgroup all pods live in (kubepods.slice with the systemd driver, kubepods
// with cgroupfs), for allocatableMemory.available and pod-level PSI.
struct KubepodsCgroup {
  std::string name;                     // e.g. "kubepods.slice"
  std::optional<uint64_t> limit_bytes;  // v1 memory.limit_in_bytes / v2 memory.max; none: unlimited
  uint64_t usage_bytes = 0;             // v1 memory.usage_in_bytes / v2 memory.current
  uint64_t inactive_file_bytes = 0;     // v1 total_inactive_file / v2 inactive_file
  std::optional<parse::Psi> memory_pressure, io_pressure;  // v2 pressure files when present
};

// statfs of a filesystem the kubelet watches.
struct FsUsage {
  std::string role;              // "nodefs" or "imagefs"
  std::string path;              // the configured path as the host sees it
  std::string mount_point;       // the mount holding it, from mountinfo ("" if unknown)
  std::string device;            // "major:minor" from mountinfo ("" if unknown)
  std::string fs_type;           // from mountinfo, e.g. "ext4" ("" if unknown)
  uint64_t capacity_bytes = 0;   // f_blocks * f_frsize
  uint64_t available_bytes = 0;  // f_bavail * f_frsize
  uint64_t inodes_total = 0;     // f_files
  uint64_t inodes_free = 0;      // f_ffree
  bool read_only = false;        // ST_RDONLY or "ro" in mountinfo
};

struct NetworkState {
  bool default_route = false;   // any IPv4 or IPv6 default route that is up
  std::string interface;        // the default route's interface (lowest metric)
  std::string operstate;        // /sys/class/net/<if>/operstate ("" if unreadable)
  std::optional<bool> carrier;  // /sys/class/net/<if>/carrier (absent when down)
};

// One OOM kill seen by the oom probe (bpf/oom.bpf.c), with the victim's cgroup and, when the
// cgroup is a pod's, the pod UID and container ID parsed from its path.
struct OomKill {
  TimePoint at{};
  uint32_t pid = 0;
  std::string comm;          // the victim's command name
  std::string cgroup;        // the victim's memory cgroup path, e.g. "/kubepods.slice/..."
  std::string pod_uid;       // "" when the cgroup is not a pod's
  std::string container_id;  // "" when not a container's
};

// A log2 histogram of durations from a probe: slots[i] counts observations in
// [2^i, 2^(i+1)) ns (slot 0 also holds 0 ns). Cumulative since the probe loaded.
struct Log2Histogram {
  std::vector<uint64_t> slots;
  uint64_t sum_ns = 0;
  uint64_t count() const {
    uint64_t n = 0;
    for (uint64_t v : slots) n += v;
    return n;
  }
};

// One loaded BPF program's own cost (bpf_prog_info; zero unless kernel.bpf_stats_enabled=1).
struct ProgramStats {
  std::string name;
  uint64_t run_time_ns = 0;
  uint64_t run_count = 0;
};

struct ProbeState {
  std::string name;
  bool up = false;
  std::string error;         // why it is down
  uint64_t events_lost = 0;  // events the kernel side could not record (maps or buffers full)
  std::vector<ProgramStats> programs;
};

// Task creations and exits counted by the fork probe for one memory cgroup.
struct TaskCounts {
  std::string cgroup;  // path in the memory hierarchy, e.g. "/kubepods.slice/..."
  uint64_t forks = 0;
  uint64_t exits = 0;
};

// OOM kills counted per victim cgroup.
struct OomCount {
  std::string cgroup, pod_uid, container_id;
  uint64_t kills = 0;
};

// What the eBPF probes (agent/probes) saw. Counters are cumulative since the probe
// loaded; an absent optional or empty map means the probe is off or down.
struct ProbeSample {
  std::vector<ProbeState> probes;  // one per enabled probe
  std::optional<uint64_t> oom_kills_total;
  std::vector<OomCount> oom_kills_by_cgroup;  // bounded (the most recent victims' cgroups)
  std::optional<uint64_t> forks_total, exits_total;
  std::vector<TaskCounts> tasks_by_cgroup;  // bounded: the cgroups forking most lately
  std::map<std::string, Log2Histogram, std::less<>> block_latency;  // by device name
  std::optional<Log2Histogram> direct_reclaim;  // node-wide: the node short of free memory
  std::optional<Log2Histogram> memcg_reclaim;   // a memory cgroup at its limit
  std::optional<std::map<std::string, uint64_t, std::less<>>> drops_by_reason;

  const ProbeState* probe(std::string_view name) const {
    for (const auto& p : probes)
      if (p.name == name) return &p;
    return nullptr;
  }
};

struct SourceStatus {
  std::string name;
  bool up = false;
  double duration_seconds = 0;
  std::string error;  // why it is down
};

struct Sample {
  TimePoint taken_at{};
  std::optional<parse::MemInfo> meminfo;
  std::optional<parse::LoadAvg> loadavg;
  std::optional<PidLimits> pids;
  PsiSample psi;
  std::optional<CgroupMemory> root_memory;
  std::optional<KubepodsCgroup> kubepods;  // absent: no kubepods cgroup (a plain host)
  std::optional<FsUsage> nodefs;
  std::optional<FsUsage> imagefs;
  std::optional<NetworkState> network;
  // The checkpoint directory's audit (every minute) and the checkpoint cost estimate (every
  // 10 minutes), shared between samples until refreshed; null when not (yet) available.
  std::shared_ptr<const checkpoint::CheckpointAudit> checkpoint_audit;
  std::shared_ptr<const checkpoint::CheckpointReport> checkpoint_report;
  // Kernel features and safe sysctls, probed every 10 minutes; null until the first probe.
  std::shared_ptr<const features::FeatureReport> features;
  // OOM kills observed since the previous sample (filled by the oom probe; empty without it).
  std::vector<OomKill> oom_kills;
  ProbeSample probes;
  std::vector<SourceStatus> sources;  // one per enabled source, in registry order

  const SourceStatus* source(std::string_view name) const {
    for (const auto& s : sources)
      if (s.name == name) return &s;
    return nullptr;
  }
};

}  // namespace nodehealth
