// fork: task creations and exits, counted in the kernel per memory cgroup (the
// forking task's for a fork, the exiting task's for an exit) and node-wide.
//
// Hooks: sched:sched_process_fork, sched:sched_process_exit (BTF raw
// tracepoints where the kernel has them, else the classic tracepoints). Frequency: once per task creation / exit (thousands per second
// on a busy node). Maps: hash cgroup id -> counts, 4096 entries (~130 KiB);
// per-CPU totals; per-CPU lost counter (a cgroup that finds the hash full is
// counted in the totals and as lost).
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
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} totals SEC(".maps");

LOST_COUNTER

static __always_inline void count(__u64 id, int exit) {
  __u32 idx = exit ? NH_FORK_TOTAL_EXITS : NH_FORK_TOTAL_FORKS;
  __u64 *total = bpf_map_lookup_elem(&totals, &idx);
  if (total) *total += 1;
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
  count(memcg_id_btf(parent), 0);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit_btf, struct task_struct *p) {
  count(memcg_id_btf(p), 1);
  return 0;
}

// Classic tracepoints (fallback where BTF raw tracepoints cannot attach).
static __always_inline __u64 memcg_id_current(void) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  return BPF_CORE_READ(task_memcg_kn(t), id);
}

SEC("tp/sched/sched_process_fork")
int process_fork(void *ctx) {
  count(memcg_id_current(), 0);
  return 0;
}

SEC("tp/sched/sched_process_exit")
int process_exit(void *ctx) {
  count(memcg_id_current(), 1);
  return 0;
}
