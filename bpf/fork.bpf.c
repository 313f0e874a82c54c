// fork: task creations and exits, counted in the kernel per memory cgroup (the
// forking task's for a fork, the exiting task's for an exit) and node-wide.
//
// Hooks: sched:sched_process_fork, sched:sched_process_exit (BTF raw
// tracepoints where the kernel has them, else the classic tracepoints). Frequency: once per task creation / exit (thousands per second
// on a busy node). Maps: hash cgroup id -> counts, 4096 entries (~130 KiB);
// per-CPU totals and wake-up marks; per-CPU lost counter (a cgroup that finds the
// hash full is counted in the totals and as lost); a perf event array for the
// wake-ups (one 8-byte event when a CPU's forks reach its mark: user space sets the
// marks so that the node's task count cannot grow by the PID signal's headroom
// without one CPU reaching its mark first, and samples at once).
#include "common.bpf.h"
#include "fork.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, NH_FORK_MAX_CGROUPS);
  __type(key, __u64);
  __type(value, struct nh_fork_counts);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, NH_FORK_TOTALS);
  __type(key, __u32);
  __type(value, __u64);
} totals SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} wake SEC(".maps");

LOST_COUNTER

// After a fork: this CPU's fork count against its mark.
static __always_inline void maybe_wake(void *ctx, __u64 forks) {
  __u32 idx = NH_FORK_WAKE_AT;
  __u64 *at = bpf_map_lookup_elem(&totals, &idx);
  if (!at || forks < *at) return;
  *at = ~0ULL;  // once, until user space sets the mark again
  bpf_perf_event_output(ctx, &wake, BPF_F_CURRENT_CPU, &forks, sizeof forks);
}

static __always_inline void count(void *ctx, __u64 id, int exit) {
  __u32 idx = exit ? NH_FORK_TOTAL_EXITS : NH_FORK_TOTAL_FORKS;
  __u64 *total = bpf_map_lookup_elem(&totals, &idx);
  if (total) {
    *total += 1;
    if (!exit) maybe_wake(ctx, *total);
  }
  struct nh_fork_counts *c = bpf_map_lookup_elem(&counts, &id);
  if (!c) {
    struct nh_fork_counts zero = {};
    bpf_map_update_elem(&counts, &id, &zero, BPF_NOEXIST);  // may race another CPU: fine
    c = bpf_map_lookup_elem(&counts, &id);
    if (!c) {
      count_lost();
      return;
    }
  }
  if (exit)
    __sync_fetch_and_add(&c->exits, 1);
  else
    __sync_fetch_and_add(&c->forks, 1);
}

// BTF raw tracepoints (preferred): the task is passed in, its fields are read
// directly (no helper call per field) and no trace record is assembled.
static __always_inline __u64 memcg_id_btf(struct task_struct *t) {
  int i = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
  return t->cgroups->subsys[i]->cgroup->kn->id;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork_btf, struct task_struct *parent) {
  count(ctx, memcg_id_btf(parent), 0);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit_btf, struct task_struct *p) {
  count(ctx, memcg_id_btf(p), 1);
  return 0;
}

// Classic tracepoints (fallback where BTF raw tracepoints cannot attach).
static __always_inline __u64 memcg_id_current(void) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  return BPF_CORE_READ(task_memcg_kn(t), id);
}

SEC("tp/sched/sched_process_fork")
int process_fork(void *ctx) {
  count(ctx, memcg_id_current(), 0);
  return 0;
}

SEC("tp/sched/sched_process_exit")
int process_exit(void *ctx) {
  count(ctx, memcg_id_current(), 1);
  return 0;
}
