// The cgroup v1 memory threshold notifier: never registered outside cgroupfs; on the live
// controller, a level already crossed is reported. (Its events: tests/e2e/test_wakeups.py.)
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <optional>

#include "agent/sources/memcg_threshold.h"
#include "agent/sources/mounts.h"
#include "need.h"
#include "temp_dir.h"

using namespace nodehealth;

TEST_CASE("a memory.usage_in_bytes outside cgroupfs is refused and nothing is written",
          "[memcg_threshold]") {
  testing::TempDir d;
  const std::string usage = d.path() + "/memory.usage_in_bytes";
  std::ofstream(usage) << "1048576\n";
  auto t = sources::MemoryThreshold::open(usage);
  REQUIRE_FALSE(t);
  CHECK(t.error().message == usage + " is not on cgroupfs");
  CHECK_FALSE(std::ifstream(d.path() + "/cgroup.event_control").good());
  CHECK_FALSE(sources::MemoryThreshold::open(d.path() + "/absent"));
}

// On the live v1 memory controller (root): a level below the usage is reported as already
// past (the kernel will not signal its upward crossing), a level far above is not; and each
// registration is this test's own eventfd, gone when the notifier goes.
TEST_CASE("arming reports a level the usage is already past", "[memcg_threshold][privileged]") {
  std::optional<std::string> usage;
  if (auto mounts = sources::read_mounts(HostPaths{}))
    if (auto v1 = sources::find_cgroups(*mounts).v1_memory) usage = *v1 + "/memory.usage_in_bytes";
  if (!testing::need(usage && ::geteuid() == 0, "root and the cgroup v1 memory controller")) return;
  auto t = sources::MemoryThreshold::open(*usage);
  REQUIRE(t);
  CHECK(t->wants(1 << 20, 8 << 20));  // nothing armed
  auto past = t->arm(1 << 20);        // 1 MiB: the root cgroup uses more
  REQUIRE(past);
  CHECK(*past);
  CHECK(t->fd() >= 0);
  CHECK(t->wants(1 << 20, 8 << 20));  // spent at once: re-armed at the next chance
  const uint64_t far = 1ull << 50;    // 1 PiB
  auto below = t->arm(far);
  REQUIRE(below);
  CHECK_FALSE(*below);
  CHECK(t->armed_at() == far);
  CHECK_FALSE(t->wants(far + (4 << 20), 8 << 20));  // within the step
  CHECK(t->wants(far + (16 << 20), 8 << 20));
  t->disarm();
  CHECK(t->fd() == -1);
  CHECK(t->wants(far, 8 << 20));
}
