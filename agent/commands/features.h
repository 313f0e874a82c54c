// `nodehealth features`: the kernel requirements of Kubernetes features (version rule and direct
// probe), the pod safe-sysctl set and the device plugin directory of this node (facts §5, §7),
// as a table or JSON. See agent/features/features.h for the library behind it.
#pragma once

#include <cstdio>

namespace nodehealth::commands {

// argv[1] is "features". Exit codes: 0 done, 1 a --require'd feature is missing (named on
// stderr), 2 bad usage.
int features(int argc, char** argv);

// The same, writing to `out` and `err` (for tests).
int features(int argc, char** argv, std::FILE* out, std::FILE* err);

}  // namespace nodehealth::commands
