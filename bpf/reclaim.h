// reclaim probe ABI: reclaim stalls, where a task allocating memory had to reclaim
// pages itself before it could go on: node-wide direct reclaim (the node is short of
// free memory) and memory-cgroup reclaim (the task's cgroup is at its limit).
#pragma once

#include "hist.h"

#define NH_RECLAIM_MAX_INFLIGHT 10240

// Kinds of stall: the index of the histogram in the `hists` array, and the high
// 32 bits of the in-flight key (tid in the low 32 bits).
#define NH_RECLAIM_DIRECT 0
#define NH_RECLAIM_MEMCG 1
#define NH_RECLAIM_KINDS 2
