// Filesystem events: a file written and closed on nodefs or imagefs asks for an early look at
// the disk signals, so that a disk filled by one large write (an image layer, a copy, a
// fallocate) is seen within about 100 ms rather than at the next tick. fanotify(7) watches the
// whole filesystem (FAN_MARK_FILESYSTEM) for FAN_CLOSE_WRITE in FAN_REPORT_FID mode: no file is
// opened per event and the kernel merges repeats while the queue waits. The kernel does the
// watching; the agent reads the queue at most every 100 ms (the loop pauses the fd between
// reads) and samples only when a statfs shows the filesystem moved (fs_moved), so a busy node's
// steady trickle of small files costs a statfs, not a sample.
//
// Linux 5.1 or later (FAN_REPORT_FID); marking needs CAP_SYS_ADMIN, so it is done before the
// sandbox. Network and FUSE filesystems are not marked: the loop's own statfs of them could
// hang, where the filesystem source's runs on a worker with a timeout.
#pragma once

#include <string>
#include <vector>

#include "agent/sources/sources.h"
#include "nodehealth/result.h"
#include "nodehealth/sample.h"
#include "nodehealth/unique_fd.h"

namespace nodehealth::sources {

class FsWatch {
 public:
  struct Watched {
    FsUsage fs;             // as last sampled: the baseline of fs_moved
    std::string statfs_at;  // the path to statfs, as the agent sees it (under --host-root)
  };

  // Marks the filesystems of `filesystems` (a sample's nodefs and imagefs; the same filesystem
  // once). `notes` gets a line for each one not marked and why. An error when fanotify itself
  // is unavailable (an old kernel, no CAP_SYS_ADMIN) or nothing could be marked.
  static Result<FsWatch> create(const HostPaths& paths, const std::vector<FsUsage>& filesystems,
                                std::vector<std::string>& notes);

  int fd() const { return fd_.get(); }
  const std::vector<Watched>& watched() const { return watched_; }
  // Reads every queued event; returns how many bytes of events were read (0: none queued).
  size_t drain();
  // After a sample: the new baseline for fs_moved.
  void rebase(const std::vector<FsUsage>& filesystems);
  // statfs of each watched filesystem: true when one moved (fs_moved) since its baseline.
  bool moved(const StatfsFn& statfs = real_statfs) const;

 private:
  UniqueFd fd_;
  std::vector<Watched> watched_;
};

// Whether `now` differs from `last` enough to be worth a sample before the next tick: the
// available bytes or the free inodes moved by at least 1% of the filesystem, either way.
bool fs_moved(const FsUsage& last, const StatfsResult& now);

// Whether a filesystem type is one whose statfs can block on a network or a user-space server
// (nfs, cifs, fuse.*, ceph, ...): such filesystems are not watched.
bool remote_fs_type(std::string_view fs_type);

}  // namespace nodehealth::sources
