// Unit tests for agent/parse/mountinfo.{h,cpp}: a real /proc/self/mountinfo captured from the
// Debian 12 VM of tests/fixtures/debian12-hybrid/ (it holds two shadowed mounts: /dev/pts and
// /dev/shm are each mounted twice), escapes, optional fields, malformed input, find_mount_for.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent/parse/mountinfo.h"

using namespace nodehealth::parse;

namespace {

// debian12-hybrid/proc/self/mountinfo
constexpr std::string_view kRealMountinfo =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs "
    "rw,size=12334492k,nr_inodes=3083623,mode=755\n"
    "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k\n"
    "26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
    "28 27 0:25 / /mnt/readonly ro,nosuid,nodev,relatime - tmpfs tmpfs ro,size=4k,mode=755\n"
    "29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000\n"
    "30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

MountInfo mount_at(uint64_t id, std::string point) {
  MountInfo m;
  m.mount_id = id;
  m.mount_point = std::move(point);
  return m;
}

}  // namespace

TEST_CASE("mountinfo: real sample", "[parse][mountinfo]") {
  auto r = parse_mountinfo(kRealMountinfo);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 20u);

  const MountInfo& proc = (*r)[0];
  CHECK(proc.mount_id == 22u);
  CHECK(proc.parent_id == 27u);
  CHECK(proc.major == 0u);
  CHECK(proc.minor == 21u);
  CHECK(proc.root == "/");
  CHECK(proc.mount_point == "/proc");
  CHECK(proc.mount_options == "rw,relatime");
  CHECK(proc.fs_type == "proc");
  CHECK(proc.source == "proc");
  CHECK(proc.super_options == "rw");

  const MountInfo& root = (*r)[5];
  CHECK(root.mount_id == 27u);
  CHECK(root.parent_id == 1u);  // the parent is outside this namespace's view
  CHECK(root.major == 254u);
  CHECK(root.minor == 0u);
  CHECK(root.mount_point == "/");
  CHECK(root.fs_type == "ext4");
  CHECK(root.source == "/dev/vda");
  CHECK(root.has_super_option("discard"));
  CHECK(root.has_super_option("resuid=65534"));
  CHECK_FALSE(root.read_only());

  const MountInfo& ro_tmpfs = (*r)[6];
  CHECK(ro_tmpfs.fs_type == "tmpfs");
  CHECK(ro_tmpfs.read_only());

  const MountInfo& memory = (*r)[13];
  CHECK(memory.mount_point == "/sys/fs/cgroup/memory");
  CHECK(memory.fs_type == "cgroup");
  CHECK(memory.has_super_option("memory"));
  CHECK_FALSE(memory.has_super_option("cpu"));

  const MountInfo& unified = r->back();
  CHECK(unified.mount_point == "/sys/fs/cgroup/unified");
  CHECK(unified.fs_type == "cgroup2");
}

TEST_CASE("mountinfo: find_mount_for on the real sample", "[parse][mountinfo]") {
  auto r = parse_mountinfo(kRealMountinfo);
  REQUIRE(r.has_value());
  const MountInfo* kubelet = find_mount_for(*r, "/var/lib/kubelet");
  REQUIRE(kubelet != nullptr);
  CHECK(kubelet->mount_point == "/");
  CHECK(kubelet->mount_id == 27u);

  const MountInfo* stat = find_mount_for(*r, "/sys/fs/cgroup/memory/memory.stat");
  REQUIRE(stat != nullptr);
  CHECK(stat->mount_id == 35u);

  // /dev/pts is mounted twice (26, then 29 on top of it): the later one shadows.
  const MountInfo* pts = find_mount_for(*r, "/dev/pts/0");
  REQUIRE(pts != nullptr);
  CHECK(pts->mount_id == 29u);
  CHECK(pts->parent_id == 26u);
  const MountInfo* shm = find_mount_for(*r, "/dev/shm");
  REQUIRE(shm != nullptr);
  CHECK(shm->mount_id == 30u);
}

TEST_CASE("mountinfo: octal escapes in root, mount point and source", "[parse][mountinfo]") {
  auto r = parse_mountinfo(
      "36 35 98:0 /my\\040dir /mnt/with\\040space rw,noatime master:1 - ext4 "
      "/dev/disk\\040by\\134label rw,errors=continue\n"
      "37 35 98:1 / /mnt/tab\\011and\\012newline rw - ext4 /dev/sdb1 rw\n");
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 2u);
  CHECK((*r)[0].root == "/my dir");
  CHECK((*r)[0].mount_point == "/mnt/with space");
  CHECK((*r)[0].source == "/dev/disk by\\label");
  CHECK((*r)[0].super_options == "rw,errors=continue");
  CHECK((*r)[1].mount_point == "/mnt/tab\tand\nnewline");

  const MountInfo* m = find_mount_for(*r, "/mnt/with space/file");
  REQUIRE(m != nullptr);
  CHECK(m->mount_id == 36u);
}

TEST_CASE("mountinfo: a backslash without three octal digits is kept", "[parse][mountinfo]") {
  auto r = parse_mountinfo("36 35 98:0 / /mnt/a\\b\\04 rw - ext4 /dev/sda1 rw\n");
  REQUIRE(r.has_value());
  CHECK((*r)[0].mount_point == "/mnt/a\\b\\04");
}

TEST_CASE("mountinfo: zero, one and several optional fields", "[parse][mountinfo]") {
  auto r = parse_mountinfo(
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "29 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,discard\n"
      "40 29 0:40 / /mnt/p rw shared:2 master:7 propagate_from:3 unbindable - tmpfs tmpfs rw\n");
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 3u);
  CHECK((*r)[0].fs_type == "proc");
  CHECK((*r)[1].fs_type == "ext4");
  CHECK((*r)[1].source == "/dev/nvme0n1p1");
  CHECK((*r)[2].mount_point == "/mnt/p");
  CHECK((*r)[2].mount_options == "rw");
  CHECK((*r)[2].fs_type == "tmpfs");
  CHECK((*r)[2].source == "tmpfs");
  CHECK((*r)[2].super_options == "rw");
}

TEST_CASE("mountinfo: an empty source (two spaces) is an empty field", "[parse][mountinfo]") {
  auto r = parse_mountinfo("50 29 0:60 / /mnt/x rw,relatime shared:40 - tmpfs  rw,size=1k\n");
  REQUIRE(r.has_value());
  CHECK((*r)[0].fs_type == "tmpfs");
  CHECK((*r)[0].source.empty());
  CHECK((*r)[0].super_options == "rw,size=1k");
}

TEST_CASE("mountinfo: read_only and has_super_option match whole options", "[parse][mountinfo]") {
  MountInfo m;
  m.mount_options = "ro,relatime";
  m.super_options = "rw";
  CHECK(m.read_only());
  m.mount_options = "rw,relatime";
  m.super_options = "ro,seclabel";
  CHECK(m.read_only());
  m.super_options = "rw,rootcontext=x,errors=remount-ro";
  CHECK_FALSE(m.read_only());
  m.super_options = "rw,nsdelegate,memory_recursiveprot";
  CHECK(m.has_super_option("nsdelegate"));
  CHECK_FALSE(m.has_super_option("memory"));
  CHECK_FALSE(m.has_super_option("rw,nsdelegate"));
}

TEST_CASE("mountinfo: truncated line", "[parse][mountinfo]") {
  auto r = parse_mountinfo(
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
      "27 1 254:0 / / rw,relat");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message ==
        "mountinfo: line 3: expected at least 10 fields, got 6 in \"27 1 254:0 / / rw,relat\"");

  auto after_sep = parse_mountinfo("27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda");
  REQUIRE_FALSE(after_sep.has_value());
  CHECK_THAT(after_sep.error().message,
             Catch::StartsWith("mountinfo: line 1: expected 3 fields after \"-\", got 2"));

  auto no_sep = parse_mountinfo("27 1 254:0 / / rw,relatime shared:1 ext4 /dev/vda rw\n");
  REQUIRE_FALSE(no_sep.has_value());
  CHECK_THAT(no_sep.error().message, Catch::Contains("missing the \"-\" separator"));
}

TEST_CASE("mountinfo: garbage and empty input", "[parse][mountinfo]") {
  auto words = parse_mountinfo("hello world\n");
  REQUIRE_FALSE(words.has_value());
  CHECK_THAT(words.error().message, Catch::StartsWith("mountinfo: line 1: "));

  auto bad_id = parse_mountinfo("x 1 254:0 / / rw - ext4 /dev/vda rw\n");
  REQUIRE_FALSE(bad_id.has_value());
  CHECK_THAT(bad_id.error().message, Catch::Contains("bad mount ID \"x\""));

  auto bad_dev = parse_mountinfo("27 1 2540 / / rw - ext4 /dev/vda rw\n");
  REQUIRE_FALSE(bad_dev.has_value());
  CHECK_THAT(bad_dev.error().message, Catch::Contains("bad major:minor \"2540\""));

  auto overflow = parse_mountinfo("27 1 4294967296:0 / / rw - ext4 /dev/vda rw\n");
  REQUIRE_FALSE(overflow.has_value());

  auto no_fstype = parse_mountinfo("27 1 254:0 / / rw -  /dev/vda rw\n");
  REQUIRE_FALSE(no_fstype.has_value());
  CHECK_THAT(no_fstype.error().message, Catch::Contains("empty filesystem type"));

  auto empty = parse_mountinfo("");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message == "mountinfo: empty input");

  auto blank = parse_mountinfo("\n\n");
  REQUIRE_FALSE(blank.has_value());
  CHECK(blank.error().message == "mountinfo: no mounts in input");
}

TEST_CASE("find_mount_for: nested mounts, longest prefix wins", "[parse][mountinfo]") {
  std::vector<MountInfo> mounts = {mount_at(1, "/"), mount_at(2, "/var"),
                                   mount_at(3, "/var/lib/kubelet"), mount_at(4, "/va")};
  CHECK(find_mount_for(mounts, "/")->mount_id == 1u);
  CHECK(find_mount_for(mounts, "/home/user")->mount_id == 1u);
  CHECK(find_mount_for(mounts, "/var")->mount_id == 2u);
  CHECK(find_mount_for(mounts, "/var/")->mount_id == 2u);
  CHECK(find_mount_for(mounts, "/var/lib/containerd")->mount_id == 2u);
  CHECK(find_mount_for(mounts, "/var/lib/kubelet")->mount_id == 3u);
  CHECK(find_mount_for(mounts, "/var/lib/kubelet/pods/x/volumes")->mount_id == 3u);
  CHECK(find_mount_for(mounts, "/var/lib/kubeletx")->mount_id == 2u);
  // Path-component boundaries: "/var/lib" is not under "/va", "/various" not under "/var".
  CHECK(find_mount_for(mounts, "/various")->mount_id == 1u);
  CHECK(find_mount_for(mounts, "/va")->mount_id == 4u);
  CHECK(find_mount_for(mounts, "/va/x")->mount_id == 4u);
  CHECK(find_mount_for(mounts, "/var/lib")->mount_id == 2u);
}

TEST_CASE("find_mount_for: a later mount on the same point shadows", "[parse][mountinfo]") {
  std::vector<MountInfo> mounts = {mount_at(1, "/"), mount_at(2, "/var/lib/kubelet"),
                                   mount_at(3, "/var"), mount_at(4, "/var/lib/kubelet")};
  CHECK(find_mount_for(mounts, "/var/lib/kubelet/pods")->mount_id == 4u);
  CHECK(find_mount_for(mounts, "/var/log")->mount_id == 3u);
  std::vector<MountInfo> roots = {mount_at(1, "/"), mount_at(9, "/")};
  CHECK(find_mount_for(roots, "/etc")->mount_id == 9u);
}

TEST_CASE("find_mount_for: no match", "[parse][mountinfo]") {
  std::vector<MountInfo> no_root = {mount_at(2, "/var")};
  CHECK(find_mount_for(no_root, "/home") == nullptr);
  CHECK(find_mount_for(no_root, "/var/lib")->mount_id == 2u);
  std::vector<MountInfo> none;
  CHECK(find_mount_for(none, "/") == nullptr);
  std::vector<MountInfo> root = {mount_at(1, "/")};
  CHECK(find_mount_for(root, "relative/path") == nullptr);
  CHECK(find_mount_for(root, "") == nullptr);
}
