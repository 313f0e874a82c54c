// What a checkpoint of each container would cost (archive size, dump time, room on disk) and
// what the checkpoints already on disk expose (facts §6).
//
// Size model, per container cgroup (every process in it and in its nested cgroups):
//
//   predicted = Σ_pid (Anonymous + Pss_Shmem + Swap)      from /proc/<pid>/smaps_rollup
//             + rootfs diff                             tar size of the overlay upperdir
//             + container log                           /var/log/containers/*-<id>.log
//             + metadata                                512 KiB + 64 KiB per process
//
// (see SmapsRollup in parse.h for why these fields, and why not Private_Dirty). When a
// process's smaps_rollup cannot be read (permissions, an old kernel without it or without
// Pss_Shmem), the memory part comes from the cgroup's memory.stat instead (v1 total_rss +
// total_shmem + total_swap, v2 anon + shmem + memory.swap.current) and the row is marked an
// estimate: memory.stat charges a page to the cgroup that touched it first, and its shmem
// includes tmpfs files (the runtime archives the container's tmpfs mounts too). Dirty page
// cache (file_dirty) is not added: CRIU does not dump it, it is written back to its file.
//
// Time model: bare CRIU dumps at about 1 GB/s, a container runtime is 6-8x slower (facts §6).
// predicted seconds = bytes x 7 / min(1 GB/s, write throughput), with the 6x and 8x figures as
// the range; the write throughput is 1 GB/s (assumed) unless measured (write + fsync of a test
// file in the checkpoint directory's filesystem). The container is frozen for that long.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "agent/checkpoint/parse.h"
#include "agent/parse/cgroup_path.h"
#include "nodehealth/host_paths.h"
#include "nodehealth/result.h"

namespace nodehealth::checkpoint {

inline constexpr const char* kDefaultCheckpointDir = "/var/lib/kubelet/checkpoints";
inline constexpr double kBareCriuBytesPerSecond = 1e9;  // facts §6: ~1 GB/s
inline constexpr double kRuntimeSlowdown = 7;           // facts §6: 6-8x, the midpoint
inline constexpr double kRuntimeSlowdownLow = 6, kRuntimeSlowdownHigh = 8;
inline constexpr uint64_t kMetadataBaseBytes = 512 * 1024;       // dump.log, *.dump, stats-dump
inline constexpr uint64_t kMetadataPerProcessBytes = 64 * 1024;  // core, mm, pagemap, fd images

struct CheckpointOptions {
  std::string checkpoint_dir = kDefaultCheckpointDir;  // as the host sees it
  std::size_t top = 50;                                // rows kept, largest first; 0 = all
  bool measure = false;                                // measure the write throughput
  uint64_t measure_bytes = 64ull << 20;                // size of the test file
  bool file_cow_breakdown = false;          // also read /proc/<pid>/smaps for the CoW'd file share
  bool rootfs = true;                       // size the overlay upperdir
  std::size_t rootfs_max_entries = 100000;  // per container; more is reported as truncated
  std::string cgroup;                       // walk only below this cgroup path ("" = everything)
  bool force_memory_stat = false;           // skip smaps (tests of the fallback)
  std::size_t max_cgroups = 20000;          // directories visited in the hierarchy
};

struct ContainerEstimate {
  std::string cgroup;                         // path in the memory hierarchy
  std::optional<parse::KubeCgroup> kube;      // pod UID, container ID, QoS
  std::optional<ContainerLogName> names;      // pod/namespace/container from its log link
  uint64_t processes = 0;                     // processes whose memory was counted
  uint64_t vanished = 0;                      // listed, gone before they were read (normal)
  std::string source = "smaps_rollup";        // or "memory.stat"
  bool estimate = false;                      // true when source is memory.stat
  uint64_t anonymous_bytes = 0;               // Σ Anonymous (includes the CoW'd file pages)
  std::optional<uint64_t> file_cow_bytes;     // of which in private file mappings
  uint64_t shmem_bytes = 0;                   // Σ Pss_Shmem
  uint64_t swap_bytes = 0;                    // Σ Swap
  std::optional<uint64_t> rootfs_diff_bytes;  // estimated tar size of the upperdir
  std::string upperdir;                       // host path, when the root is an overlay
  bool rootfs_truncated = false;              // more entries than rootfs_max_entries
  uint64_t log_bytes = 0;                     // the container's log file
  uint64_t metadata_bytes = 0;
  uint64_t memory_bytes() const { return anonymous_bytes + shmem_bytes + swap_bytes; }
  uint64_t predicted_bytes = 0;
  double predicted_seconds = 0, predicted_seconds_low = 0, predicted_seconds_high = 0;
  bool fits = false;                  // predicted_bytes <= the directory's free space
  std::vector<std::string> problems;  // unreadable entries, fallbacks (never fatal)
};

struct Throughput {
  double bytes_per_second = kBareCriuBytesPerSecond;  // bare dump rate used by the model
  std::string source = "assumed";                     // or "measured"
  double runtime_slowdown = kRuntimeSlowdown;
  // --measure: what was written where, how long it took (write + fsync).
  std::optional<double> measured_bytes_per_second;
  uint64_t measured_bytes = 0;
  double measured_seconds = 0;
  std::string measured_path;  // the directory the test file was written in
};

struct CheckpointReport {
  std::string hierarchy;    // e.g. "cgroup v1 memory controller at /sys/fs/cgroup/memory"
  std::string mount_point;  // host path of that hierarchy
  bool kubernetes = false;  // container cgroups found: only those are estimated
  std::vector<ContainerEstimate> containers;  // largest first, at most options.top
  std::size_t estimated = 0;                  // cgroups estimated (before the top-N cut)
  uint64_t total_predicted_bytes = 0;         // over all estimated, not only the rows kept
  double total_predicted_seconds = 0;
  std::string checkpoint_dir;               // as the host sees it
  std::string space_path;                   // where free space was taken (dir or ancestor)
  std::optional<uint64_t> available_bytes;  // statvfs f_bavail x f_frsize there
  bool all_fit = false;                     // total_predicted_bytes <= available_bytes
  Throughput throughput;
  std::vector<std::string> problems;
};

// Walks the memory cgroup hierarchy (v1 memory controller, else the v2 root when it has the
// memory controller) and estimates every container cgroup, or on a host without Kubernetes
// every cgroup with processes of its own (the root excepted). Fails only when there is no
// memory cgroup hierarchy to walk; everything else is a problem in the report.
Result<CheckpointReport> estimate_checkpoints(const HostPaths& paths,
                                              const CheckpointOptions& options);

// Writes options.measure_bytes (write + fsync) to a file nodehealth-test-* in `dir` (or its
// nearest existing ancestor, named in the result) and removes it.
Result<Throughput> measure_write_throughput(const std::string& dir, uint64_t bytes);

// The time model: seconds to dump `bytes` through a runtime at a bare rate.
double predict_seconds(uint64_t bytes, double bare_bytes_per_second, double slowdown);

struct ArchiveFile {
  std::string path;  // host path
  std::string name;
  uint64_t bytes = 0;
  uint32_t mode = 0;  // permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  TimePoint modified{};
  std::optional<ArchiveName> parsed;  // when the name is the kubelet's
};

struct AuditFinding {
  std::string path;
  std::string kind;  // dir-mode, dir-owner, dir-symlink, mode, owner, symlink, not-regular
  std::string message;
};

struct CheckpointAudit {
  std::string dir;  // as the host sees it
  bool exists = false;
  uint32_t dir_mode = 0;
  uid_t dir_uid = 0;
  bool dir_mode_ok = true;            // 0700-or-stricter and root-owned (true when absent)
  std::vector<ArchiveFile> archives;  // every regular file, sorted by name
  uint64_t archive_bytes = 0;
  std::vector<AuditFinding> findings;
  std::size_t exposed_archives = 0;  // files readable by someone other than root
  std::vector<std::string> problems;
};

// Audits the checkpoint directory: one lstat per entry, no reads. `dir` as the host sees it.
Result<CheckpointAudit> audit_checkpoint_dir(const HostPaths& paths, const std::string& dir);

// nodehealth_checkpoint_predicted_bytes, nodehealth_checkpoint_predicted_seconds and
// nodehealth_checkpoint_fits (0/1, only while the free space is known), each
// {pod_uid,container_id,cgroup} for the report's rows; nodehealth_checkpoint_archives,
// nodehealth_checkpoint_archive_bytes, nodehealth_checkpoint_exposed_archives,
// nodehealth_checkpoint_dir_mode_ok. Either pointer may be null; families without samples are left
// out.
std::vector<prometheus::MetricFamily> checkpoint_metrics(const CheckpointReport* report,
                                                         const CheckpointAudit* audit);

}  // namespace nodehealth::checkpoint
