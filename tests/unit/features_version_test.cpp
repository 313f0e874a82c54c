// The kernel version as Kubernetes parses /proc/sys/kernel/osrelease (facts §5: leading dotted
// numbers, the rest ignored, at least two components), table-driven.
#include <catch2/catch.hpp>

#include "agent/features/version.h"

using nodehealth::features::compare;
using nodehealth::features::KernelVersion;
using nodehealth::features::parse_kernel_version;

TEST_CASE("facts §5 kernel version: the listed osrelease strings", "[features][version]") {
  struct Row {
    const char* osrelease;
    const char* want;  // nullptr: an error
  };
  const Row rows[] = {
      // facts §5's own examples
      {"5.15.0-1049-azure", "5.15.0"},
      {"5.15.146.1-microsoft-standard-WSL2", "5.15.146.1"},
      {"4.18.0-513.el8.x86_64", "4.18.0"},
      {"5-15-0", nullptr},
      {"6", nullptr},
      // this machine and other real shapes
      {"6.18.44-fc-v657", "6.18.44"},
      {"6.8.0-1015-aws", "6.8.0"},
      {"3.10.0-1160.el7.x86_64", "3.10.0"},
      {"5.10.0-28-cloud-amd64", "5.10.0"},
      {"6.1.0+rpt-rpi-v8", "6.1.0"},
      {"6.6", "6.6"},
      {"6.6.", "6.6"},  // a trailing dot is "the rest"
      {"5.4.0-rc1", "5.4.0"},
      {"v5.15.0", "5.15.0"},   // ParseGeneric takes a leading "v"
      {"5.15.0\n", "5.15.0"},  // TrimSpace before parsing
      {"  5.15.0  ", "5.15.0"},
      {"0.9.3", "0.9.3"},  // "0" alone is a number
      {"", nullptr},
      {"linux-5.15", nullptr},  // must start with the numbers
      {"5.", nullptr},          // one component
      {".5.15", nullptr},
      {"05.15.0", nullptr},   // zero-prefixed first component
      {"5.015.0", "5.15.0"},  // only the first component is checked for leading zeroes
      {"99999999999999999999.1", nullptr},  // overflows uint64
      {"5.15.0\ngarbage", nullptr},         // Go's "." does not match a newline
      {"v 5.15", nullptr},
  };
  for (const Row& r : rows) {
    INFO("osrelease: \"" << r.osrelease << "\"");
    auto v = parse_kernel_version(r.osrelease);
    if (r.want) {
      REQUIRE(v);
      CHECK(v->to_string() == r.want);
    } else {
      CHECK_FALSE(v);
    }
  }
}

TEST_CASE("facts §5 kernel version: apimachinery's error texts", "[features][version]") {
  CHECK(parse_kernel_version("6").error().message == "illegal version string \"6\"");
  CHECK(parse_kernel_version("5-15-0").error().message == "illegal version string \"5-15-0\"");
  CHECK(parse_kernel_version("linux").error().message == "could not parse \"linux\" as version");
  CHECK(parse_kernel_version("05.15").error().message ==
        "illegal zero-prefixed version component \"05\" in \"05.15\"");
  CHECK(parse_kernel_version("99999999999999999999.1")
            .error()
            .message.starts_with("illegal non-numeric version component \"99999999999999999999\""));
  CHECK(parse_kernel_version("bad\x01").error().message ==
        "could not parse \"bad\\x01\" as version");
}

TEST_CASE("facts §5 kernel version: comparison pads missing components with zeroes",
          "[features][version]") {
  CHECK(compare(KernelVersion{4, 15}, KernelVersion{4, 15, 0}) == 0);
  CHECK(compare(KernelVersion{4, 14, 999}, KernelVersion{4, 15}) < 0);
  CHECK(compare(KernelVersion{5, 15, 146, 1}, KernelVersion{5, 15, 146}) > 0);
  CHECK(compare(KernelVersion{5, 9}, KernelVersion{5, 13}) < 0);
  CHECK(compare(KernelVersion{10, 0}, KernelVersion{9, 99}) > 0);
  CHECK(at_least(KernelVersion{5, 13, 0}, KernelVersion{5, 13}));
  CHECK_FALSE(at_least(KernelVersion{5, 12, 19}, KernelVersion{5, 13}));
}
