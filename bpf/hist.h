// A log2 latency histogram shared by the kernel and user space: slot i counts
// observations in [2^i, 2^(i+1)) nanoseconds (slot 0 also holds 0). Fixed-width
// types only: this is an ABI.
#pragma once

#ifndef __VMLINUX_H__  // user space; the kernel side has the types from vmlinux.h
#include <linux/types.h>
#endif

#define NH_HIST_SLOTS 40  // up to 2^40 ns (18 minutes); longer goes to the last slot

struct nh_hist {
  __u64 slots[NH_HIST_SLOTS];
  __u64 sum_ns;
};
