// reclaim: direct reclaim stalls, counted and timed in a log2 histogram.
//
// Hooks: vmscan:mm_vmscan_direct_reclaim_begin / _end (classic tracepoints).
// Frequency: twice per stall (none on a node with free memory; thousands per
// second under heavy memory pressure). Maps: in-flight hash tid -> start,
// 10240 entries (~240 KiB); one histogram; per-CPU lost counter.
#include "common.bpf.h"
#include "reclaim.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, NH_RECLAIM_MAX_INFLIGHT);
  __type(key, __u32);
  __type(value, __u64);
} inflight SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct nh_hist);
} hist SEC(".maps");

LOST_COUNTER

SEC("tp/vmscan/mm_vmscan_direct_reclaim_begin")
int reclaim_begin(void *ctx) {
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  __u64 ts = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&inflight, &tid, &ts, BPF_ANY)) count_lost();
  return 0;
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_end")
int reclaim_end(void *ctx) {
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  __u64 *start = bpf_map_lookup_elem(&inflight, &tid);
  if (!start) return 0;
  __u64 delta = bpf_ktime_get_ns() - *start;
  bpf_map_delete_elem(&inflight, &tid);
  __u32 zero = 0;
  struct nh_hist *h = bpf_map_lookup_elem(&hist, &zero);
  if (h) HIST_ADD(h, delta);
  return 0;
}
