// biolatency probe ABI: block request latency (issue to completion) per device.
#pragma once

#include "hist.h"

#define NH_BIO_MAX_INFLIGHT 16384
#define NH_BIO_MAX_DEVICES 256

struct nh_bio_key {  // a request in flight
  __u64 sector;
  __u32 dev;  // the kernel's dev_t: major << 20 | minor
  __u32 pad;
};
