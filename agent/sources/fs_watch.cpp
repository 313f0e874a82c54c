#include "agent/sources/fs_watch.h"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include <fmt/format.h>

namespace nodehealth::sources {

namespace {

// Filesystem types whose statfs waits on a server: a network filesystem, or FUSE (its daemon).
constexpr std::array<std::string_view, 12> kRemote = {"nfs",       "nfs4",   "cifs", "smb3",
                                                      "smbfs",     "ceph",   "9p",   "afs",
                                                      "glusterfs", "lustre", "gpfs", "beegfs"};

uint64_t moved_by(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

}  // namespace

bool remote_fs_type(std::string_view fs_type) {
  if (fs_type == "fuse" || fs_type.starts_with("fuse.") || fs_type == "fuseblk") return true;
  for (auto t : kRemote)
    if (fs_type == t) return true;
  return false;
}

bool fs_moved(const FsUsage& last, const StatfsResult& now) {
  // 1% of the filesystem, and at least one unit: an empty or tiny filesystem still counts moves.
  const uint64_t bytes_step = std::max<uint64_t>(now.capacity_bytes / 100, 1);
  const uint64_t inodes_step = std::max<uint64_t>(now.inodes_total / 100, 1);
  if (now.capacity_bytes != last.capacity_bytes) return true;  // resized
  if (moved_by(now.available_bytes, last.available_bytes) >= bytes_step) return true;
  return now.inodes_total > 0 && moved_by(now.inodes_free, last.inodes_free) >= inodes_step;
}

Result<FsWatch> FsWatch::create(const HostPaths& paths, const std::vector<FsUsage>& filesystems,
                                std::vector<std::string>& notes) {
  FsWatch w;
  w.fd_.reset(::fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_FID,
                              O_RDONLY | O_CLOEXEC | O_LARGEFILE));
  if (!w.fd_) {
    const int err = errno;
    return errno_error(
        err == EINVAL ? "fanotify_init (FAN_REPORT_FID needs Linux 5.1)" : "fanotify_init", err);
  }
  std::vector<std::string> devices;  // one mark per filesystem
  for (const FsUsage& fs : filesystems) {
    if (remote_fs_type(fs.fs_type)) {
      notes.push_back(fmt::format("{} {} ({}): not watched, a {} filesystem", fs.role, fs.path,
                                  fs.mount_point, fs.fs_type));
      continue;
    }
    bool seen = false;
    for (const auto& d : devices) seen |= !fs.device.empty() && d == fs.device;
    if (seen) continue;
    const std::string at = paths.host(fs.path);
    if (::fanotify_mark(w.fd_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD,
                        at.c_str()) != 0) {
      notes.push_back(
          fmt::format("{} {}: not watched: fanotify_mark: {}", fs.role, at, std::strerror(errno)));
      continue;
    }
    devices.push_back(fs.device);
    w.watched_.push_back({fs, at});
  }
  if (w.watched_.empty()) return fail("no filesystem could be watched");
  return w;
}

size_t FsWatch::drain() {
  // Only that events came matters, not which files: read and drop them.
  alignas(fanotify_event_metadata) char buf[4096];
  size_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained (errors end it too; the fd stays watched)
    total += static_cast<size_t>(n);
  }
  return total;
}

void FsWatch::rebase(const std::vector<FsUsage>& filesystems) {
  for (Watched& w : watched_)
    for (const FsUsage& fs : filesystems)
      if (fs.role == w.fs.role && fs.path == w.fs.path) w.fs = fs;
}

bool FsWatch::moved(const StatfsFn& statfs) const {
  for (const Watched& w : watched_) {
    auto now = statfs(w.statfs_at);
    if (now && fs_moved(w.fs, *now)) return true;
  }
  return false;
}

}  // namespace nodehealth::sources
