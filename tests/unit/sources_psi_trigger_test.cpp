// PSI triggers are armed only on procfs: a --proc-root pointing at a copy of
// /proc (a fixture tree) must never have its files written.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/sources/psi_trigger.h"

using namespace nodehealth;
namespace fs = std::filesystem;

TEST_CASE("psi triggers refuse a pressure file that is not on procfs", "[psi_trigger]") {
  char tmpl[] = "/tmp/nodehealth-trigger-test-XXXXXX";
  const fs::path root = ::mkdtemp(tmpl);
  fs::create_directories(root / "proc" / "pressure");
  const std::string text = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
  std::ofstream(root / "proc" / "pressure" / "memory") << text;
  std::vector<std::string> errors;
  auto triggers =
      sources::arm_psi_triggers(HostPaths::under(root.string()), {"memory", "io"},
                                std::chrono::milliseconds(200), std::chrono::seconds(2), errors);
  CHECK(triggers.empty());
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].ends_with("/proc/pressure/memory is not on procfs"));
  CHECK(errors[1].find("/proc/pressure/io") != std::string::npos);  // absent: open fails
  std::stringstream after;
  after << std::ifstream(root / "proc" / "pressure" / "memory").rdbuf();
  CHECK(after.str() == text);
  fs::remove_all(root);
}
