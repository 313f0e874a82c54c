// fork probe ABI: task creations and exits per memory cgroup.
#pragma once

#ifndef __VMLINUX_H__  // user space; the kernel side has the types from vmlinux.h
#include <linux/types.h>
#endif

#define NH_FORK_MAX_CGROUPS 4096

struct nh_fork_counts {
  __u64 forks;  // tasks (processes and threads) created by tasks of the cgroup
  __u64 exits;  // tasks of the cgroup that exited
};

// Index of the node-wide totals in the per-CPU `totals` array.
#define NH_FORK_TOTAL_FORKS 0
#define NH_FORK_TOTAL_EXITS 1
// And of this CPU's wake-up mark: when its fork count reaches the mark, the fork program
// sends one `wake` event (perf buffer) and clears the mark (all ones) until user space sets
// it again. User space writes only this index; the program only reads and clears it.
#define NH_FORK_WAKE_AT 2
#define NH_FORK_TOTALS 3
