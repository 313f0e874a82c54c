// drops probe ABI: packets freed with a drop reason, counted per reason.
#pragma once

#ifndef __VMLINUX_H__  // user space; the kernel side has the types from vmlinux.h
#include <linux/types.h>
#endif

// Reasons are the values of the kernel's enum skb_drop_reason (names read from
// BTF in user space); values at or above this bound are counted in the last slot.
#define NH_DROP_REASONS 256
