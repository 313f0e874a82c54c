// Helpers shared by the probes' kernel side. Included by *.bpf.c only.
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

// kernfs_node's parent pointer was renamed __parent (RCU-protected) in 6.15;
// both shapes, resolved by CO-RE at load time.
struct kernfs_node___pre615 {
  struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn) {
  if (bpf_core_field_exists(struct kernfs_node___pre615, parent))
    return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
  return BPF_CORE_READ(kn, __parent);
}

// The kernfs node of the task's memory cgroup (v1 memory hierarchy, or the
// unified one when the memory controller is there). The id is the inode number
// of the cgroup's directory, which user space resolves to a path.
static __always_inline struct kernfs_node *task_memcg_kn(struct task_struct *t) {
  int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
  return BPF_CORE_READ(t, cgroups, subsys[id], cgroup, kn);
}

// floor(log2(v)) for v > 0, 0 for v == 0; at most 63.
static __always_inline __u32 log2_u64(__u64 v) {
  __u32 r = 0;
  if (v >> 32) { v >>= 32; r += 32; }
  if (v >> 16) { v >>= 16; r += 16; }
  if (v >> 8) { v >>= 8; r += 8; }
  if (v >> 4) { v >>= 4; r += 4; }
  if (v >> 2) { v >>= 2; r += 2; }
  if (v >> 1) { r += 1; }
  return r;
}

// Adds one observation of `ns` to a log2 histogram.
#define HIST_ADD(h, ns)                                              \
  do {                                                               \
    __u32 _slot = log2_u64(ns);                                      \
    if (_slot >= NH_HIST_SLOTS) _slot = NH_HIST_SLOTS - 1;           \
    __sync_fetch_and_add(&(h)->slots[_slot], 1);                     \
    __sync_fetch_and_add(&(h)->sum_ns, (ns));                        \
  } while (0)

// One per-CPU counter of events the probe could not record (map full, ring
// buffer full): nodehealth_probe_events_lost_total.
#define LOST_COUNTER                                                 \
  struct {                                                           \
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                         \
    __uint(max_entries, 1);                                          \
    __type(key, __u32);                                              \
    __type(value, __u64);                                            \
  } lost SEC(".maps");                                               \
  static __always_inline void count_lost(void) {                     \
    __u32 zero = 0;                                                  \
    __u64 *v = bpf_map_lookup_elem(&lost, &zero);                    \
    if (v) *v += 1;                                                  \
  }

char LICENSE[] SEC("license") = "GPL";
