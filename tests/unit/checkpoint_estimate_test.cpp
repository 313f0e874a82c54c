// estimate_checkpoints on the fixture trees (tests/fixtures/checkpoint/<case>/PROVENANCE):
// container cgroups of both drivers, nested cgroups, CRI-O's monitor, processes that vanish,
// unreadable smaps (memory.stat fallback), the overlay upperdir, container logs, top N.
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/checkpoint/checkpoint.h"
#include "agent/checkpoint/walk.h"
#include "tests/unit/temp_dir.h"

using namespace nodehealth;
using namespace nodehealth::checkpoint;
namespace fs = std::filesystem;

namespace {

HostPaths fixture(const std::string& name) {
  return HostPaths::under(std::string(NODEHEALTH_FIXTURES) + "/checkpoint/" + name);
}

constexpr uint64_t KiB = 1024;
constexpr const char* kApp = "4d2a7c9e1b3f5a6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c";
constexpr const char* kWorker = "c0ffee00d15ea5e0c0ffee00d15ea5e0c0ffee00d15ea5e0c0ffee00d15ea5e0";
constexpr const char* kDb = "deadbeef0123456789abcdefdeadbeef0123456789abcdefdeadbeef01234567";
const std::string kApi = "55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa";
constexpr const char* kPauseA = "8e1c0f5b3a2d4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f";

const ContainerEstimate& by_id(const CheckpointReport& r, const std::string& id) {
  for (const auto& c : r.containers)
    if (c.kube && c.kube->container_id == id) return c;
  FAIL("no container " << id);
  throw std::logic_error("unreachable");
}

bool contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("checkpoint estimate: Kubernetes containers, systemd driver, containerd",
          "[checkpoint][estimate]") {
  CheckpointOptions opt;
  opt.file_cow_breakdown = true;
  auto r = estimate_checkpoints(fixture("k8s-systemd-v1"), opt);
  REQUIRE(r);
  CHECK(r->kubernetes);
  CHECK(r->hierarchy == "cgroup v1 memory controller at /sys/fs/cgroup/memory");
  // app, worker, db and the two pause containers; not the stopped container, not containerd.
  REQUIRE(r->estimated == 5);
  REQUIRE(r->containers.size() == 5);
  for (const auto& c : r->containers) {
    CHECK(c.cgroup.find("9f8e7d6c5b4a") == std::string::npos);  // stopped: no process
    CHECK(c.cgroup.find("system.slice") == std::string::npos);
  }

  // app: python3 (anonymous + MAP_SHARED), bash, and sleep in the nested init.scope.
  const auto& app = by_id(*r, kApp);
  CHECK(app.kube->pod_uid == "5f3e9a1c-7b2d-4c1e-9f0a-3b8d6e2c1a47");
  CHECK(app.kube->qos == "burstable");
  CHECK(app.processes == 3);
  CHECK(app.vanished == 0);
  CHECK(app.source == "smaps_rollup");
  CHECK_FALSE(app.estimate);
  CHECK(app.anonymous_bytes == (47868 + 268 + 108) * KiB);
  CHECK(app.shmem_bytes == 8192 * KiB);
  CHECK(app.swap_bytes == 0);
  // The overlay upperdir of containerd's snapshot 42: 10 entries, 1100 + 10000 bytes of data.
  CHECK(app.upperdir ==
        "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42/fs");
  REQUIRE(app.rootfs_diff_bytes);
  CHECK(*app.rootfs_diff_bytes == 10 * 512 + 1536 + 10240 + 1024);
  REQUIRE(app.names);
  CHECK(app.names->pod == "web-7d9f8b6c5-x2x4q");
  CHECK(app.names->ns == "shop");
  CHECK(app.names->container == "app");
  CHECK(app.log_bytes == 2026);
  CHECK(app.metadata_bytes == kMetadataBaseBytes + 3 * kMetadataPerProcessBytes);
  CHECK(app.predicted_bytes ==
        app.memory_bytes() + *app.rootfs_diff_bytes + app.log_bytes + app.metadata_bytes);
  // 7x / 1 GB/s.
  CHECK(app.predicted_seconds == Approx(app.predicted_bytes * 7 / 1e9));
  CHECK(app.predicted_seconds_low == Approx(app.predicted_bytes * 6 / 1e9));
  CHECK(app.predicted_seconds_high == Approx(app.predicted_bytes * 8 / 1e9));
  REQUIRE(app.file_cow_bytes);  // no smaps in the fixture for these pids: nothing CoW'd seen
  CHECK(*app.file_cow_bytes == 0);

  // worker: 203 is listed but gone (exited mid-walk): reported, not fatal.
  const auto& worker = by_id(*r, kWorker);
  CHECK(worker.kube->qos == "besteffort");
  CHECK(worker.processes == 2);
  CHECK(worker.vanished == 1);
  CHECK(contains(worker.problems, "1 process exited during the walk (pid 203)"));
  CHECK(worker.anonymous_bytes == (11008 + 108) * KiB);
  REQUIRE(worker.file_cow_bytes);
  CHECK(*worker.file_cow_bytes == 5580 * KiB);
  // Its upperdir (snapshot 57) is not in the tree: a problem, no rootfs size.
  CHECK_FALSE(worker.rootfs_diff_bytes);
  CHECK(contains(worker.problems, "rootfs diff: lstat"));
  CHECK_FALSE(worker.names);

  // db: smaps_rollup unreadable -> memory.stat (total_rss + total_shmem + total_swap), estimate.
  const auto& db = by_id(*r, kDb);
  CHECK(db.kube->qos == "guaranteed");
  CHECK(db.kube->pod_uid == "3b1f6e0d9c8a7b6e5d4c3b2a1f0e9d8c");
  CHECK(db.source == "memory.stat");
  CHECK(db.estimate);
  CHECK(db.anonymous_bytes == 60674048);
  CHECK(db.shmem_bytes == 8388608);
  CHECK_FALSE(db.file_cow_bytes);
  CHECK(contains(db.problems, "/proc/301/smaps_rollup: Is a directory"));

  // The pause container's root is the host's (no overlay in its mountinfo): no rootfs diff.
  const auto& pause = by_id(*r, kPauseA);
  CHECK_FALSE(pause.rootfs_diff_bytes);
  CHECK(pause.anonymous_bytes == 108 * KiB);

  // Largest first; the total is over every estimated container.
  for (std::size_t i = 1; i < r->containers.size(); ++i)
    CHECK(r->containers[i - 1].predicted_bytes >= r->containers[i].predicted_bytes);
  uint64_t total = 0;
  for (const auto& c : r->containers) total += c.predicted_bytes;
  CHECK(r->total_predicted_bytes == total);
  CHECK(r->throughput.source == "assumed");
  CHECK(r->throughput.bytes_per_second == kBareCriuBytesPerSecond);
}

TEST_CASE("checkpoint estimate: free space of the checkpoint directory or its nearest parent",
          "[checkpoint][estimate]") {
  CheckpointOptions opt;
  auto r = estimate_checkpoints(fixture("k8s-systemd-v1"), opt);
  REQUIRE(r);
  // The fixture has /var/lib but no /var/lib/kubelet: free space is taken at /var/lib.
  CHECK(r->space_path == "/var/lib");
  REQUIRE(r->available_bytes);
  CHECK(*r->available_bytes > 0);
  CHECK(r->all_fit == (r->total_predicted_bytes <= *r->available_bytes));
  for (const auto& c : r->containers) CHECK(c.fits == (c.predicted_bytes <= *r->available_bytes));
}

TEST_CASE("checkpoint estimate: a checkpoint directory too small for some containers",
          "[checkpoint][estimate][root]") {
  // A copy of the k8s-systemd-v1 fixture whose /var/lib/kubelet/checkpoints is a real 4 MiB
  // tmpfs (mounted here, as root, and unmounted at the end): the fixture's containers predict
  // 684 KiB to 66 MiB, so the small ones fit and the others do not.
  if (::geteuid() != 0) {
    WARN("not root: no tmpfs to mount, the too-small directory is not tested");
    return;
  }
  testing::TempDir tmp;
  const fs::path root = fs::path(tmp.path()) / "root";
  fs::copy(std::string(NODEHEALTH_FIXTURES) + "/checkpoint/k8s-systemd-v1", root,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  const fs::path dir = root / "var/lib/kubelet/checkpoints";
  fs::create_directories(dir);
  REQUIRE(::mount("nodehealth-test-ckpt-space", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                  "size=4m,mode=0700") == 0);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{dir.string()};

  CheckpointOptions opt;
  auto r = estimate_checkpoints(HostPaths::under(root.string()), opt);
  REQUIRE(r);
  CHECK(r->space_path == "/var/lib/kubelet/checkpoints");
  struct statvfs vfs {};
  REQUIRE(::statvfs(dir.c_str(), &vfs) == 0);
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  CHECK(free_bytes == 4 * 1024 * KiB);
  REQUIRE(r->available_bytes);
  CHECK(*r->available_bytes == free_bytes);
  REQUIRE(r->containers.size() == 5);
  std::size_t fit = 0;
  for (const auto& c : r->containers) {
    INFO(c.cgroup << ": " << c.predicted_bytes);
    CHECK(c.fits == (c.predicted_bytes <= free_bytes));
    fit += c.fits;
  }
  CHECK(fit == 2);  // the two pause containers, 684 KiB each
  CHECK_FALSE(by_id(*r, kApp).fits);
  CHECK(by_id(*r, kPauseA).fits);
  CHECK_FALSE(r->all_fit);
}

TEST_CASE("checkpoint estimate: top N keeps the largest, totals cover all",
          "[checkpoint][estimate]") {
  CheckpointOptions all;
  auto full = estimate_checkpoints(fixture("k8s-systemd-v1"), all);
  REQUIRE(full);
  CheckpointOptions opt;
  opt.top = 2;
  auto r = estimate_checkpoints(fixture("k8s-systemd-v1"), opt);
  REQUIRE(r);
  CHECK(r->estimated == 5);
  REQUIRE(r->containers.size() == 2);
  CHECK(r->containers[0].cgroup == full->containers[0].cgroup);
  CHECK(r->containers[1].cgroup == full->containers[1].cgroup);
  CHECK(r->total_predicted_bytes == full->total_predicted_bytes);
}

TEST_CASE("checkpoint estimate: cgroup v2, cgroupfs driver, CRI-O and its conmon",
          "[checkpoint][estimate]") {
  auto r = estimate_checkpoints(fixture("cgroupfs-v2"), {});
  REQUIRE(r);
  CHECK(r->hierarchy == "cgroup v2 at /sys/fs/cgroup");
  CHECK(r->kubernetes);
  REQUIRE(r->containers.size() == 2);  // crio-conmon-<id> is CRI-O's monitor, not a container
  const auto& api = r->containers[0];
  CHECK(api.kube->runtime == "crio");
  CHECK(api.kube->driver == "cgroupfs");
  CHECK(api.kube->qos == "burstable");
  CHECK(api.cgroup == "/kubepods/burstable/pod7e4f1a2b-3c5d-4e6f-8a9b-0c1d2e3f4a5b/crio-" + kApi);
  CHECK(api.anonymous_bytes == 47868 * KiB);
  CHECK(api.shmem_bytes == 8192 * KiB);
  CHECK_FALSE(api.file_cow_bytes);  // breakdown not asked for
  const auto& cache = r->containers[1];
  CHECK(cache.kube->qos == "guaranteed");
  CHECK(cache.kube->runtime == "");
  CHECK(cache.anonymous_bytes == 11008 * KiB);
}

TEST_CASE("checkpoint estimate: memory.stat fallback on cgroup v2 (anon + shmem + swap)",
          "[checkpoint][estimate]") {
  CheckpointOptions opt;
  opt.force_memory_stat = true;
  auto r = estimate_checkpoints(fixture("cgroupfs-v2"), opt);
  REQUIRE(r);
  REQUIRE(r->containers.size() == 2);
  const auto& api = r->containers[0];
  CHECK(api.source == "memory.stat");
  CHECK(api.estimate);
  CHECK(api.anonymous_bytes == 50147328);
  CHECK(api.shmem_bytes == 8388608);
  CHECK(api.swap_bytes == 1048576);  // memory.swap.current
  CHECK(api.processes == 1);
  // file_dirty is not added: dirty page cache is written back to its file, never dumped.
  const auto& cache = r->containers[1];
  CHECK(cache.memory_bytes() == 11272192);
}

TEST_CASE("checkpoint estimate: a host without Kubernetes", "[checkpoint][estimate]") {
  CheckpointOptions opt;
  opt.file_cow_breakdown = true;
  auto r = estimate_checkpoints(fixture("plain-host"), opt);
  REQUIRE(r);
  CHECK_FALSE(r->kubernetes);
  // Cgroups with processes of their own, not the root: the session and nginx.
  REQUIRE(r->containers.size() == 2);
  CHECK(r->containers[0].cgroup == "/user.slice/user-1000.slice/session-3.scope");
  CHECK_FALSE(r->containers[0].kube);
  CHECK(r->containers[0].anonymous_bytes == (268 + 47868) * KiB);
  CHECK(r->containers[1].cgroup == "/system.slice/nginx.service");
  CHECK(*r->containers[1].file_cow_bytes == 5580 * KiB);
  // Host processes: "/" is not an overlay, there is no rootfs diff.
  CHECK_FALSE(r->containers[0].rootfs_diff_bytes);

  opt.cgroup = "/system.slice";
  auto sub = estimate_checkpoints(fixture("plain-host"), opt);
  REQUIRE(sub);
  REQUIRE(sub->containers.size() == 1);
  CHECK(sub->containers[0].cgroup == "/system.slice/nginx.service");

  opt.cgroup = "/no/such/cgroup";
  auto none = estimate_checkpoints(fixture("plain-host"), opt);
  REQUIRE(none);
  CHECK(none->containers.empty());
  CHECK(contains(none->problems, "/no/such/cgroup/cgroup.procs"));
}

TEST_CASE("checkpoint estimate: no memory cgroup hierarchy is an error naming the reason",
          "[checkpoint][estimate]") {
  auto r = estimate_checkpoints(fixture("no-memory-controller"), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("has no memory controller") != std::string::npos);
}

TEST_CASE("tar_size: headers, data in 512-byte blocks, long names, hard links, bounded",
          "[checkpoint][estimate]") {
  char tmpl[] = "/tmp/nodehealth-tar-test-XXXXXX";
  const fs::path root = ::mkdtemp(tmpl);
  fs::create_directories(root / "a");
  std::ofstream(root / "a" / "f") << std::string(513, 'x');  // 2 blocks
  std::ofstream(root / "empty");                             // 0 blocks
  fs::create_hard_link(root / "a" / "f", root / "link");     // data counted once
  fs::create_symlink("/etc/passwd", root / "sym");           // not followed
  const std::string longname(120, 'n');
  std::ofstream(root / longname) << "y";  // +1024 for the long-name record, 1 block
  auto t = tar_size(root.string(), 1000);
  REQUIRE(t);
  CHECK(t->entries == 6);
  CHECK_FALSE(t->truncated);
  CHECK(t->bytes == 6 * 512 + 1024 + 1024 + 512 + 1024);
  auto bounded = tar_size(root.string(), 2);
  REQUIRE(bounded);
  CHECK(bounded->truncated);
  CHECK(bounded->entries == 2);
  CHECK_FALSE(tar_size((root / "missing").string(), 10));
  CHECK_FALSE(tar_size((root / "empty").string(), 10));
  fs::remove_all(root);
}

TEST_CASE("measure_write_throughput writes, fsyncs and removes its test file",
          "[checkpoint][estimate]") {
  char tmpl[] = "/tmp/nodehealth-measure-test-XXXXXX";
  const fs::path root = ::mkdtemp(tmpl);
  // The directory does not exist: the nearest existing parent is measured.
  auto t = measure_write_throughput((root / "kubelet" / "checkpoints").string(), 4 << 20);
  REQUIRE(t);
  CHECK(t->measured_path == root.string());
  CHECK(t->measured_bytes == 4u << 20);
  REQUIRE(t->measured_bytes_per_second);
  CHECK(*t->measured_bytes_per_second > 0);
  CHECK(t->bytes_per_second <= kBareCriuBytesPerSecond);
  CHECK(t->source == "measured");
  CHECK(fs::is_empty(root));  // the nodehealth-test-* file is gone
  CHECK_FALSE(measure_write_throughput(root.string(), 0));
  fs::remove_all(root);
}

TEST_CASE("predict_seconds: bytes x slowdown / bare rate (facts §6)", "[checkpoint][estimate]") {
  // A 5 GB heap: ~5 s bare, 30-40 s through a runtime.
  CHECK(predict_seconds(5'000'000'000, kBareCriuBytesPerSecond, 1) == Approx(5));
  CHECK(predict_seconds(5'000'000'000, kBareCriuBytesPerSecond, kRuntimeSlowdownLow) == Approx(30));
  CHECK(predict_seconds(5'000'000'000, kBareCriuBytesPerSecond, kRuntimeSlowdownHigh) ==
        Approx(40));
  CHECK(predict_seconds(1, 0, 7) == 0);
}
