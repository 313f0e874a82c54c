// The prediction against reality (issue 6): a child process with known amounts of touched
// anonymous memory (64 MiB), MAP_SHARED|MAP_ANONYMOUS memory (16 MiB), memfd memory (4 MiB) and
// copy-on-written private file pages (8 MiB written of a 12 MiB MAP_PRIVATE file whose other
// 4 MiB are only read), in a test cgroup nodehealth-test-<pid> under the memory controller.
// The predicted memory must be within 5% of the pages CRIU would dump, counted independently
// from /proc/<pid>/pagemap with CRIU's own rule (criu/mem.c should_dump_page: present or
// swapped pages, not the zero page, and in private file mappings only pages that are no
// longer file pages). Privileged (root, a memory cgroup hierarchy); it skips with a reason
// elsewhere, and fails instead when NODEHEALTH_REQUIRE_PRIVILEGED=1 (CI).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/checkpoint/checkpoint.h"
#include "agent/sources/files.h"
#include "agent/sources/mounts.h"
#include "need.h"

using namespace nodehealth;
using namespace nodehealth::checkpoint;
using nodehealth::testing::need;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMiB = 1 << 20;
constexpr std::size_t kAnon = 64 * kMiB, kShared = 16 * kMiB, kMemfd = 4 * kMiB;
constexpr std::size_t kFile = 12 * kMiB, kFileWritten = 8 * kMiB;

// The memory hierarchy this test can create a cgroup in: the v1 memory controller, or the v2
// root when its children get the memory controller.
std::optional<std::string> memory_hierarchy() {
  auto mounts = sources::read_mounts(HostPaths{});
  if (!mounts) return std::nullopt;
  const auto layout = sources::find_cgroups(*mounts);
  if (layout.v1_memory) return *layout.v1_memory;
  if (layout.v2_root) {
    auto ctl = sources::read_trimmed(*layout.v2_root + "/cgroup.subtree_control");
    if (ctl && (" " + *ctl + " ").find(" memory ") != std::string::npos) return *layout.v2_root;
  }
  return std::nullopt;
}

void write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ::_exit(3);
    c += w;
    n -= static_cast<std::size_t>(w);
  }
}

void touch(char* p, std::size_t n, char v) {
  for (std::size_t off = 0; off < n; off += 4096) p[off] = v;
}

// The child: only syscalls and its own mappings (no malloc after fork). Waits for "go",
// builds its memory, says "r", waits for the parent to close the pipe, exits.
[[noreturn]] void child(int go, int ready, int file_fd) {
  char c;
  if (::read(go, &c, 1) != 1) ::_exit(2);
  auto* anon = static_cast<char*>(
      ::mmap(nullptr, kAnon, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  auto* shared = static_cast<char*>(
      ::mmap(nullptr, kShared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  const int mfd = ::memfd_create("nodehealth-test", MFD_CLOEXEC);
  if (mfd < 0 || ::ftruncate(mfd, kMemfd) != 0) ::_exit(4);
  auto* memfd =
      static_cast<char*>(::mmap(nullptr, kMemfd, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0));
  auto* file =
      static_cast<char*>(::mmap(nullptr, kFile, PROT_READ | PROT_WRITE, MAP_PRIVATE, file_fd, 0));
  if (anon == MAP_FAILED || shared == MAP_FAILED || memfd == MAP_FAILED || file == MAP_FAILED)
    ::_exit(5);
  touch(anon, kAnon, 1);
  touch(shared, kShared, 2);
  touch(memfd, kMemfd, 3);
  touch(file, kFileWritten, 4);  // copy-on-write: anonymous pages in a file mapping
  volatile char sum = 0;
  for (std::size_t off = kFileWritten; off < kFile; off += 4096) sum = sum + file[off];  // clean
  (void)sum;
  write_all(ready, "r", 1);
  while (::read(go, &c, 1) > 0) {
  }
  ::_exit(0);
}

struct PagemapCount {
  uint64_t bytes = 0;
  uint64_t private_anon = 0, private_file_cow = 0, shmem = 0;
};

// The PFN of the shared zero page, as this process sees it (root sees PFNs), or 0.
uint64_t zero_pfn() {
  void* p = ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  volatile char c = *static_cast<char*>(p);  // a read fault maps the zero page
  (void)c;
  uint64_t entry = 0;
  const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (::pread(fd, &entry, 8, static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / 4096 * 8)) != 8)
      entry = 0;
    ::close(fd);
  }
  ::munmap(p, 4096);
  return (entry >> 63) & 1 ? entry & ((1ull << 55) - 1) : 0;
}

// PAGEMAP_SCAN (Linux 6.7, include/uapi/linux/fs.h; newer than Debian 12's kernel headers).
struct PageRegion {
  uint64_t start, end, categories;
};
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
      category_mask, category_anyof_mask, return_mask;
};
constexpr uint64_t kPageIsPresent = 1 << 3, kPageIsSwapped = 1 << 4, kPageIsPfnZero = 1 << 5;
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);

// Bytes of [start, end) that are present or swapped and not the zero page, from the pagemap
// fd's PAGEMAP_SCAN. Fails the test on a kernel without it (only the SANITIZE=1 build has
// mappings this big).
uint64_t scan_present(int pagemap_fd, uint64_t start, uint64_t end) {
  std::vector<PageRegion> regions(4096);
  uint64_t bytes = 0;
  while (start < end) {
    PmScanArg arg{};
    arg.size = sizeof arg;
    arg.start = start;
    arg.end = end;
    arg.vec = reinterpret_cast<uintptr_t>(regions.data());
    arg.vec_len = regions.size();
    arg.category_inverted = kPageIsPfnZero;  // not the zero page ...
    arg.category_mask = kPageIsPfnZero;
    arg.category_anyof_mask = kPageIsPresent | kPageIsSwapped;  // ... and present or swapped
    arg.return_mask = kPageIsPresent | kPageIsSwapped;
    const int n = ::ioctl(pagemap_fd, kPagemapScan, &arg);
    INFO("PAGEMAP_SCAN of a " << (end - start) << "-byte mapping: " << std::strerror(errno));
    REQUIRE(n >= 0);
    for (int i = 0; i < n; ++i)
      bytes +=
          regions[static_cast<std::size_t>(i)].end - regions[static_cast<std::size_t>(i)].start;
    REQUIRE(arg.walk_end > start);
    start = arg.walk_end;
  }
  return bytes;
}

// Counts, from /proc/<pid>/maps and /proc/<pid>/pagemap, the pages CRIU dumps.
PagemapCount count_pagemap(pid_t pid) {
  PagemapCount out;
  const uint64_t zero = zero_pfn();
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  REQUIRE(maps);
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  std::string line;
  std::vector<uint64_t> entries;
  while (std::getline(maps, line)) {
    std::istringstream ls(line);
    std::string range, perms, offset, dev, inode, path;
    ls >> range >> perms >> offset >> dev >> inode;
    std::getline(ls >> std::ws, path);
    if (path == "[vvar]" || path == "[vvar_vclock]" || path == "[vsyscall]") continue;
    const auto dash = range.find('-');
    const uint64_t start = std::stoull(range.substr(0, dash), nullptr, 16);
    const uint64_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    const bool shared = perms[3] == 's';
    const bool file_backed = inode != "0";
    const bool shmem = shared && (path.starts_with("/dev/zero") || path.starts_with("/memfd:") ||
                                  path.starts_with("/SYSV"));
    if (shared && !shmem) continue;  // MAP_SHARED of a real file: it is on disk, not dumped
    // Terabyte-sized reservations are AddressSanitizer's shadow (make test SANITIZE=1): memory
    // of the process like any other (the estimate counts it and CRIU would dump it), but too
    // big for one pread of its pagemap. PAGEMAP_SCAN walks only the populated page tables.
    if (end - start > (uint64_t{64} << 30)) {
      if (!shared && !file_backed) out.private_anon += scan_present(fd, start, end);
      continue;
    }
    const std::size_t pages = (end - start) / 4096;
    entries.resize(pages);
    const ssize_t n = ::pread(fd, entries.data(), pages * 8, static_cast<off_t>(start / 4096 * 8));
    REQUIRE(n == static_cast<ssize_t>(pages * 8));
    for (uint64_t e : entries) {
      const bool present = (e >> 63) & 1, swapped = (e >> 62) & 1, file_page = (e >> 61) & 1;
      if (!present && !swapped) continue;
      if (present && zero && (e & ((1ull << 55) - 1)) == zero) continue;  // the zero page
      if (shmem) {
        out.shmem += 4096;
      } else if (file_backed) {
        if (file_page) continue;  // not yet copied: CRIU leaves it to the file
        out.private_file_cow += 4096;
      } else {
        out.private_anon += 4096;
      }
    }
  }
  ::close(fd);
  out.bytes = out.private_anon + out.private_file_cow + out.shmem;
  return out;
}

// Everything the test creates, removed whatever happens.
struct Cleanup {
  pid_t child = -1;
  int go = -1;
  std::string cgroup, file;
  ~Cleanup() {
    if (go >= 0) ::close(go);
    if (child > 0) {
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
    }
    if (!cgroup.empty())
      for (int i = 0; i < 50 && ::rmdir(cgroup.c_str()) != 0 && errno == EBUSY; ++i)
        ::usleep(20000);
    if (!file.empty()) ::unlink(file.c_str());
  }
};

}  // namespace

TEST_CASE("checkpoint prediction is within 5% of the pages present in pagemap",
          "[checkpoint][privileged]") {
  if (!need(::geteuid() == 0, "needs root (a test cgroup and the PFNs of pagemap)")) return;
  const auto hierarchy = memory_hierarchy();
  if (!need(hierarchy.has_value(), "no memory cgroup hierarchy to create a test cgroup in")) return;

  Cleanup clean;
  const std::string name = "nodehealth-test-" + std::to_string(::getpid());
  clean.file = "/var/tmp/" + name + ".dat";
  {
    std::ofstream f(clean.file, std::ios::binary);
    REQUIRE(f);
    f << std::string(kFile, 'f');
  }
  const int file_fd = ::open(clean.file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(file_fd >= 0);
  int go[2], ready[2];
  REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(go[1]);
    ::close(ready[0]);
    child(go[0], ready[1], file_fd);
  }
  clean.child = pid;
  clean.go = go[1];
  ::close(go[0]);
  ::close(ready[1]);
  ::close(file_fd);

  // Into the test cgroup before it touches anything, so memory.stat charges it there.
  clean.cgroup = *hierarchy + "/" + name;
  REQUIRE(::mkdir(clean.cgroup.c_str(), 0755) == 0);
  {
    std::ofstream procs(clean.cgroup + "/cgroup.procs");
    procs << pid << "\n";
    procs.flush();
    REQUIRE(procs.good());
  }
  REQUIRE(::write(go[1], "g", 1) == 1);
  pollfd pfd{ready[0], POLLIN, 0};
  REQUIRE(::poll(&pfd, 1, 30000) == 1);
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  REQUIRE(c == 'r');
  ::close(ready[0]);

  CheckpointOptions opt;
  opt.cgroup = "/" + name;
  opt.file_cow_breakdown = true;
  opt.rootfs = false;
  opt.checkpoint_dir = "/var/tmp";
  auto r = estimate_checkpoints(HostPaths{}, opt);
  const PagemapCount pages = count_pagemap(pid);
  REQUIRE(r);
  CHECK_FALSE(r->kubernetes);
  REQUIRE(r->containers.size() == 1);
  const auto& e = r->containers[0];
  CAPTURE(e.anonymous_bytes, e.shmem_bytes, e.swap_bytes, e.file_cow_bytes.value_or(0));
  CAPTURE(pages.private_anon, pages.private_file_cow, pages.shmem, pages.bytes);
  CHECK(e.cgroup == "/" + name);
  CHECK(e.processes == 1);
  CHECK(e.source == "smaps_rollup");

  // What the child touched is all there, in both counts.
  const uint64_t touched = kAnon + kShared + kMemfd + kFileWritten;
  CHECK(pages.bytes >= touched);
  CHECK(pages.shmem >= kShared + kMemfd);
  CHECK(pages.private_file_cow >= kFileWritten);

  // The prediction: memory within 5% of pagemap, and so is the whole archive.
  const double memory_error =
      std::abs(static_cast<double>(e.memory_bytes()) - static_cast<double>(pages.bytes)) /
      static_cast<double>(pages.bytes);
  const double archive_error =
      std::abs(static_cast<double>(e.predicted_bytes) - static_cast<double>(pages.bytes)) /
      static_cast<double>(pages.bytes);
  CHECK(memory_error < 0.05);
  CHECK(archive_error < 0.05);
  // Component by component: shared memory (Pss_Shmem), the CoW'd file pages (smaps), and the
  // private anonymous rest.
  CHECK(std::abs(static_cast<double>(e.shmem_bytes) - static_cast<double>(pages.shmem)) <
        0.05 * static_cast<double>(pages.shmem));
  REQUIRE(e.file_cow_bytes);
  CHECK(std::abs(static_cast<double>(*e.file_cow_bytes) -
                 static_cast<double>(pages.private_file_cow)) <
        0.05 * static_cast<double>(pages.private_file_cow));
  // The 4 MiB of the file that were only read are clean page cache: in neither count.
  CHECK(e.anonymous_bytes + e.shmem_bytes < pages.bytes + kFile - kFileWritten);

  // The memory.stat fallback on the same cgroup: an estimate, charged only what the child
  // touched after it moved (not the pages it shares with this process since fork).
  opt.force_memory_stat = true;
  auto est = estimate_checkpoints(HostPaths{}, opt);
  REQUIRE(est);
  REQUIRE(est->containers.size() == 1);
  const auto& f = est->containers[0];
  CAPTURE(f.anonymous_bytes, f.shmem_bytes);
  CHECK(f.estimate);
  CHECK(f.memory_bytes() >= touched * 95 / 100);
  CHECK(f.memory_bytes() <= pages.bytes * 105 / 100);
  CHECK(f.shmem_bytes >= kShared + kMemfd);
}

TEST_CASE("checkpoint estimate: a process that exits mid-walk is reported, never fatal",
          "[checkpoint][estimate]") {
  // A cgroup.procs that still lists a process the kernel has reaped (as when it exits between
  // the listing and the read), next to a live one, read through the real /proc.
  const pid_t dead = ::fork();
  REQUIRE(dead >= 0);
  if (dead == 0) ::_exit(0);
  REQUIRE(::waitpid(dead, nullptr, 0) == dead);

  char tmpl[] = "/tmp/nodehealth-vanish-test-XXXXXX";
  const fs::path sys = ::mkdtemp(tmpl);
  auto mounts = sources::read_mounts(HostPaths{});
  REQUIRE(mounts);
  const auto layout = sources::find_cgroups(*mounts);
  const std::string mount = layout.v1_memory ? *layout.v1_memory : layout.v2_root.value_or("");
  if (!need(!mount.empty() && mount.starts_with("/sys/"), "no cgroup hierarchy under /sys")) {
    fs::remove_all(sys);
    return;
  }
  const fs::path cg = sys / fs::path(mount.substr(5)) / "nodehealth-test-vanish";
  fs::create_directories(cg);
  std::ofstream(sys / fs::path(mount.substr(5)) / "cgroup.controllers") << "memory\n";
  std::ofstream(cg / "cgroup.procs") << dead << "\n" << ::getpid() << "\n";
  std::ofstream(cg / "memory.stat") << "total_rss 4096\ntotal_shmem 0\nanon 4096\nshmem 0\n";

  CheckpointOptions opt;
  opt.cgroup = "/nodehealth-test-vanish";
  opt.rootfs = false;
  opt.checkpoint_dir = "/tmp";
  auto r = estimate_checkpoints(HostPaths::under("/", "/proc", sys.string()), opt);
  fs::remove_all(sys);
  REQUIRE(r);
  REQUIRE(r->containers.size() == 1);
  const auto& e = r->containers[0];
  CHECK(e.processes == 1);  // this process
  CHECK(e.vanished == 1);
  CHECK(e.anonymous_bytes > 0);
  REQUIRE(e.problems.size() == 1);
  CHECK(e.problems[0] == "1 process exited during the walk (pid " + std::to_string(dead) + ")");
}
