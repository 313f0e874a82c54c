// oom: one ring-buffer event per OOM kill, with the victim's pid, comm and
// memory cgroup path.
//
// Hook: oom:mark_victim (BTF raw tracepoint with the victim's task_struct where
// the kernel has it, 6.8+; else the classic tracepoint, whose cgroup is the one
// of the task that triggered the kill). Frequency: once per OOM kill.
// Maps: ring buffer 256 KiB (~230 events in flight), per-CPU lost counter.
#include "common.bpf.h"
#include "oom.h"

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} events SEC(".maps");

LOST_COUNTER

static __always_inline void emit(struct task_struct *t, __u32 pid, __u32 from_task) {
  struct nh_oom_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_lost();
    return;
  }
  e->pid = pid;
  e->from_task = from_task;
  e->truncated = 0;
  BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
  struct kernfs_node *kn = task_memcg_kn(t);
  e->cgroup_id = BPF_CORE_READ(kn, id);
  __u32 depth = 0;
  for (int i = 0; i < NH_OOM_DEPTH; i++) {
    if (!kn) break;
    struct kernfs_node *parent = kn_parent(kn);
    if (!parent) break;  // the root's own name is not part of the path
    const char *name = BPF_CORE_READ(kn, name);
    if (bpf_probe_read_kernel_str(e->names[i], NH_OOM_NAME_LEN, name) < 0) e->names[i][0] = 0;
    depth++;
    kn = parent;
  }
  if (kn && kn_parent(kn)) e->truncated = 1;
  e->depth = depth;
  bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim_btf, struct task_struct *task) {
  emit(task, BPF_CORE_READ(task, tgid), 1);
  return 0;
}

SEC("tp/oom/mark_victim")
int mark_victim_tp(struct trace_event_raw_mark_victim *ctx) {
  emit((struct task_struct *)bpf_get_current_task(), ctx->pid, 0);
  return 0;
}
