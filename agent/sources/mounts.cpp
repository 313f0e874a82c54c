#include "agent/sources/mounts.h"

#include "agent/sources/files.h"

namespace nodehealth::sources {

Result<std::vector<parse::MountInfo>> read_mounts(const HostPaths& paths) {
  std::string path = paths.proc_file("1/mountinfo");
  auto text = read_file(path);
  if (!text) {
    path = paths.proc_file("self/mountinfo");
    text = read_file(path);
  }
  if (!text) return std::unexpected(text.error());
  auto mounts = parse::parse_mountinfo(*text);
  if (!mounts) return std::unexpected(with_context(path, mounts.error()));
  return mounts;
}

CgroupLayout find_cgroups(const std::vector<parse::MountInfo>& mounts) {
  CgroupLayout layout;
  for (const auto& m : mounts) {
    if (m.root != "/") continue;  // a bind of a sub-cgroup, not the hierarchy root
    if (m.fs_type == "cgroup2") {
      layout.v2_root = m.mount_point;
    } else if (m.fs_type == "cgroup" && m.has_super_option("memory")) {
      layout.v1_memory = m.mount_point;
    }
  }
  return layout;
}

}  // namespace nodehealth::sources
