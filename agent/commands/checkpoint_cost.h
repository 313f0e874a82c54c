// `nodehealth checkpoint-cost`: the predicted checkpoint archive size and dump time of every
// container (agent/checkpoint/checkpoint.h has the models), whether the checkpoint directory's
// filesystem can hold them, and an audit of the archives already there.
#pragma once

#include <cstdio>
#include <string>

#include "agent/checkpoint/checkpoint.h"

namespace nodehealth::commands {

// argv[1] is "checkpoint-cost". Prints to stdout. Exit 0; 1 when there is no memory cgroup
// hierarchy to walk or the checkpoint directory cannot be audited; 2 on bad usage.
int checkpoint_cost(int argc, char** argv);

// The same, writing to `out` and `err` (for tests).
int checkpoint_cost(int argc, char** argv, std::FILE* out, std::FILE* err);

// The table output of a report and an audit (either may be null).
std::string checkpoint_table(const checkpoint::CheckpointReport* report,
                             const checkpoint::CheckpointAudit* audit);

// "64.0 MiB", "512 B": binary units, one decimal.
std::string human_bytes(uint64_t bytes);
// "0.4s", "12s", "3m05s".
std::string human_seconds(double seconds);

}  // namespace nodehealth::commands
