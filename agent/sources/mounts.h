// The host's mount table and cgroup layout, found through mountinfo.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/parse/mountinfo.h"
#include "nodehealth/host_paths.h"
#include "nodehealth/result.h"

namespace nodehealth::sources {

// The host's mounts: <proc>/1/mountinfo (the host's init, right for an agent in a
// container with hostPID) when readable, else <proc>/self/mountinfo.
Result<std::vector<parse::MountInfo>> read_mounts(const HostPaths& paths);

struct CgroupLayout {
  std::optional<std::string> v2_root;    // host path of the cgroup2 mount
  std::optional<std::string> v1_memory;  // host path of the v1 memory controller mount
};
CgroupLayout find_cgroups(const std::vector<parse::MountInfo>& mounts);

}  // namespace nodehealth::sources
