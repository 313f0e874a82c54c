// reclaim probe ABI: direct reclaim stalls (a task allocating memory had to
// reclaim pages itself before it could go on).
#pragma once

#include "hist.h"

#define NH_RECLAIM_MAX_INFLIGHT 10240
