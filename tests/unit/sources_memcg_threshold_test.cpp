// The cgroup v1 memory threshold notifier is never registered outside cgroupfs. (Its
// registration with the kernel needs the v1 memory controller: tests/e2e/test_wakeups.py.)
#include <catch2/catch.hpp>

#include <fstream>

#include "agent/sources/memcg_threshold.h"
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
