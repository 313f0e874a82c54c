// Filesystem helpers of checkpoint-cost: the size a tar of a directory tree would have
// (the runtime archives the container's overlay upperdir as rootfs-diff.tar).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "nodehealth/result.h"

namespace nodehealth::checkpoint {

struct TarSize {
  uint64_t bytes = 0;    // headers + data padded to 512-byte blocks + the end marker
  uint64_t entries = 0;  // entries counted (files, directories, links, whiteouts)
  bool truncated = false;
};

// Walks `dir` without following symlinks or crossing into other filesystems and sums what a
// tar of it takes: 512 bytes of header per entry (1024 more for a path of 100 bytes or more:
// a PAX or GNU long-name record), the data of regular files rounded up to 512 bytes (a hard
// link's data once), and 1024 bytes of end marker. Stops after `max_entries` (truncated).
// An entry that vanishes or cannot be read during the walk is skipped.
Result<TarSize> tar_size(const std::string& dir, std::size_t max_entries);

}  // namespace nodehealth::checkpoint
