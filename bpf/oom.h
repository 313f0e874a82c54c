// oom probe ABI: one event per OOM kill, sent through a ring buffer.
#pragma once

#ifndef __VMLINUX_H__  // user space; the kernel side has the types from vmlinux.h
#include <linux/types.h>
#endif

#define NH_OOM_COMM_LEN 16
#define NH_OOM_DEPTH 10      // cgroup path components kept, leaf first
#define NH_OOM_NAME_LEN 128  // bytes per component (cri-containerd-<64 hex>.scope is 85)

struct nh_oom_event {
  __u64 cgroup_id;  // kernfs id (inode) of the victim's memory cgroup
  __u32 pid;
  __u32 depth;      // components filled in names[] (leaf first)
  __u32 truncated;  // 1 when the path was deeper than NH_OOM_DEPTH
  __u32 from_task;  // 1: cgroup of the victim itself; 0: of the task that triggered the kill
  char comm[NH_OOM_COMM_LEN];
  char names[NH_OOM_DEPTH][NH_OOM_NAME_LEN];
};
