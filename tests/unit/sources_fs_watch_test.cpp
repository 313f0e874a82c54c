// What a filesystem event must move to be worth a sample, and which filesystems are not
// watched. (The fanotify marks themselves need root and a test mount: tests/e2e/
// test_fs_events.py.)
#include <catch2/catch.hpp>

#include "agent/sources/fs_watch.h"

using namespace nodehealth;
using sources::fs_moved;
using sources::remote_fs_type;
using sources::StatfsResult;

namespace {

constexpr uint64_t GiB = 1ull << 30;

FsUsage usage(uint64_t capacity, uint64_t available, uint64_t inodes, uint64_t free_inodes) {
  FsUsage f;
  f.capacity_bytes = capacity;
  f.available_bytes = available;
  f.inodes_total = inodes;
  f.inodes_free = free_inodes;
  return f;
}

StatfsResult now(uint64_t capacity, uint64_t available, uint64_t inodes, uint64_t free_inodes) {
  return {capacity, available, inodes, free_inodes, false};
}

}  // namespace

TEST_CASE("a filesystem moved by 1% of its size or inodes, either way, is worth a sample",
          "[fs_watch]") {
  const FsUsage last = usage(100 * GiB, 50 * GiB, 1'000'000, 500'000);
  CHECK_FALSE(fs_moved(last, now(100 * GiB, 50 * GiB, 1'000'000, 500'000)));
  // Just under 1 GiB (1%) used or freed: not yet.
  CHECK_FALSE(fs_moved(last, now(100 * GiB, 50 * GiB - (GiB - 1), 1'000'000, 500'000)));
  CHECK_FALSE(fs_moved(last, now(100 * GiB, 50 * GiB + (GiB - 1), 1'000'000, 500'000)));
  CHECK(fs_moved(last, now(100 * GiB, 49 * GiB, 1'000'000, 500'000)));
  CHECK(fs_moved(last, now(100 * GiB, 51 * GiB, 1'000'000, 500'000)));
  // Inodes: 1% of 1'000'000.
  CHECK_FALSE(fs_moved(last, now(100 * GiB, 50 * GiB, 1'000'000, 490'001)));
  CHECK(fs_moved(last, now(100 * GiB, 50 * GiB, 1'000'000, 490'000)));
  // A resize is a move; a filesystem without inode counts (0) moves by bytes only.
  CHECK(fs_moved(last, now(101 * GiB, 50 * GiB, 1'000'000, 500'000)));
  const FsUsage no_inodes = usage(100 * GiB, 50 * GiB, 0, 0);
  CHECK_FALSE(fs_moved(no_inodes, now(100 * GiB, 50 * GiB, 0, 0)));
  // A tiny filesystem: 1% rounds down to nothing, so a single byte counts.
  const FsUsage tiny = usage(50, 50, 0, 0);
  CHECK(fs_moved(tiny, now(50, 49, 0, 0)));
}

TEST_CASE("network and FUSE filesystems are not watched (their statfs can hang)", "[fs_watch]") {
  for (const char* t : {"nfs", "nfs4", "cifs", "smb3", "ceph", "9p", "fuse", "fuse.sshfs",
                        "fuseblk", "glusterfs", "lustre"})
    CHECK(remote_fs_type(t));
  for (const char* t : {"ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", ""})
    CHECK_FALSE(remote_fs_type(t));
}
