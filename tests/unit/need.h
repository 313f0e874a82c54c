// Test helper shared by the unit tests that need a privileged facility (root, a cgroup
// controller, a kernel feature): skips with the reason, or fails instead when
// NODEHEALTH_REQUIRE_PRIVILEGED=1, as CI runs them.
#pragma once

#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

namespace nodehealth::testing {

// True to go on; false (after a WARN) to skip the rest of the test case.
inline bool need(bool ok, const std::string& reason) {
  if (ok) return true;
  const char* req = std::getenv("NODEHEALTH_REQUIRE_PRIVILEGED");
  if (req && std::string(req) == "1") FAIL("required facility missing: " << reason);
  WARN("skipped: " << reason);
  return false;
}

}  // namespace nodehealth::testing
