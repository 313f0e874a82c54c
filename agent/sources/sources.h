// Factories of every source, and the one explicit registry of them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/host_paths.h"
#include "nodehealth/source.h"

namespace nodehealth::config {
struct Config;
}

namespace nodehealth::sources {

// /proc/meminfo -> Sample::meminfo.
std::unique_ptr<Source> make_meminfo_source(const HostPaths& paths);
// /proc/loadavg, /proc/sys/kernel/{pid_max,threads-max} -> Sample::loadavg, ::pids.
std::unique_ptr<Source> make_pids_source(const HostPaths& paths);
// /proc/pressure/{cpu,memory,io} -> Sample::psi. No /proc/pressure: no data, not an error.
std::unique_ptr<Source> make_psi_source(const HostPaths& paths);
// The root cgroup's memory accounting, v1 or v2 (found through mountinfo).
std::unique_ptr<Source> make_cgroup_memory_source(const HostPaths& paths);

// The kubepods cgroup (kubepods.slice or kubepods, or `cgroup_name` when given):
// memory limit, working set and pressure -> Sample::kubepods. Absent: no data.
std::unique_ptr<Source> make_kubepods_source(const HostPaths& paths, std::string cgroup_name);

// What statfs reports, in the units the filesystem source needs.
struct StatfsResult {
  uint64_t capacity_bytes = 0, available_bytes = 0, inodes_total = 0, inodes_free = 0;
  bool read_only = false;
};
using StatfsFn = std::function<Result<StatfsResult>(const std::string& path)>;
Result<StatfsResult> real_statfs(const std::string& path);

struct FilesystemOptions {
  std::string nodefs_path = "/var/lib/kubelet";  // host view; "/" when absent
  std::string imagefs_path;  // "" = the containerd or CRI-O root when present, else nodefs
  std::chrono::nanoseconds statfs_timeout = std::chrono::seconds(2);
  StatfsFn statfs = real_statfs;  // injectable for tests of a hung filesystem
};
// statfs of nodefs and imagefs (bounded in time) + read-only flag from mountinfo.
std::unique_ptr<Source> make_filesystem_source(const HostPaths& paths, FilesystemOptions opts);

// Default route (/proc/net/route, /proc/net/ipv6_route) and its interface's
// operstate and carrier from /sys/class/net.
std::unique_ptr<Source> make_network_source(const HostPaths& paths);

// The kubelet's checkpoint directory (`dir` as the host sees it; "" = the
// default): audited every minute, checkpoint costs estimated every 10 minutes.
std::unique_ptr<Source> make_checkpoints_source(const HostPaths& paths, std::string dir);

// Kernel features and pod safe sysctls (facts §5), probed every 10 minutes, and what the
// kubelet's configuration (config::kubelet_files) asks of them: failCgroupV1,
// allowedUnsafeSysctls.
std::unique_ptr<Source> make_features_source(const config::Config& cfg, const HostPaths& paths);

// Every source name, in registry order: the names config may enable or disable.
std::span<const std::string_view> source_names();

// The enabled sources for `cfg`, in registry order.
std::vector<std::unique_ptr<Source>> make_sources(const config::Config& cfg,
                                                  const HostPaths& paths);

}  // namespace nodehealth::sources
