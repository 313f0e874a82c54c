// /proc/<pid>/mountinfo (see proc(5)). Pure parser, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/result.h"

namespace nodehealth::parse {

struct MountInfo {
  uint64_t mount_id = 0;
  uint64_t parent_id = 0;
  uint32_t major = 0, minor = 0;
  std::string root;           // root of the mount within its filesystem
  std::string mount_point;    // octal escapes (\040 etc.) decoded
  std::string mount_options;  // per-mount options, e.g. "rw,relatime"
  std::string fs_type;        // e.g. "cgroup2", "ext4"
  std::string source;
  std::string super_options;  // per-superblock options, e.g. "rw,memory"

  bool read_only() const;  // "ro" among mount_options or super_options
  // true when the comma-separated super_options contains `opt` exactly.
  bool has_super_option(std::string_view opt) const;
};

Result<std::vector<MountInfo>> parse_mountinfo(std::string_view text);

// The mount that contains `path` (longest mount_point prefix on a path-component
// boundary; the last such entry wins, as later mounts shadow earlier ones).
// Returns nullptr when nothing matches (only possible without a "/" mount).
const MountInfo* find_mount_for(const std::vector<MountInfo>& mounts, std::string_view path);

}  // namespace nodehealth::parse
