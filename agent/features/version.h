// Kernel version as Kubernetes reads it (facts §5): utilkernel.GetVersion reads
// /proc/sys/kernel/osrelease, trims surrounding white space and hands it to
// k8s.io/apimachinery's version.ParseGeneric: the leading dotted numbers (an optional "v"
// first), the rest ignored, at least two components. Pure, no I/O.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/result.h"

namespace nodehealth::features {

struct KernelVersion {
  std::vector<uint64_t> components;  // at least two once parsed

  KernelVersion() = default;
  KernelVersion(std::initializer_list<uint64_t> c) : components(c) {}

  std::string to_string() const;  // "5.15.0"
};

// Component-wise comparison, a missing component counting as 0 (so 4.15 == 4.15.0), as
// apimachinery's compareInternal: <0, 0, >0.
int compare(const KernelVersion& a, const KernelVersion& b);
inline bool at_least(const KernelVersion& v, const KernelVersion& min) {
  return compare(v, min) >= 0;
}

// version.ParseGeneric(strings.TrimSpace(osrelease)). Errors carry apimachinery's texts:
//   could not parse "<s>" as version
//   illegal version string "<s>"                               (fewer than two components)
//   illegal zero-prefixed version component "05" in "<s>"      (first component only)
//   illegal non-numeric version component "<c>" in "<s>": ...  (overflowing uint64)
Result<KernelVersion> parse_kernel_version(std::string_view osrelease);

// Go's %q for the error texts: double quotes, backslash escapes for quotes, backslashes and
// control bytes.
std::string go_quote(std::string_view s);

}  // namespace nodehealth::features
