// reclaim: reclaim stalls of allocating tasks, counted and timed in log2 histograms:
// node-wide direct reclaim, and memory-cgroup reclaim (a cgroup at its limit, the
// usual stall of a container).
//
// Hooks: vmscan:mm_vmscan_direct_reclaim_begin / _end, and
// vmscan:mm_vmscan_memcg_reclaim_begin / _end (classic tracepoints; the memcg pair
// exists only with CONFIG_MEMCG and is not loaded where it is missing). Frequency:
// twice per stall (none on a node with free memory and no cgroup at its limit;
// thousands per second under heavy memory pressure). Maps: in-flight LRU hash
// (kind, tid) -> start, 10240 entries (~320 KiB; an LRU, so it cannot fill for
// good); two histograms (~660 bytes); per-CPU lost counter (stalls not timed
// because the in-flight map could not take them).
#include "common.bpf.h"
#include "reclaim.h"

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, NH_RECLAIM_MAX_INFLIGHT);
  __type(key, __u64);
  __type(value, __u64);
} inflight SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, NH_RECLAIM_KINDS);
  __type(key, __u32);
  __type(value, struct nh_hist);
} hists SEC(".maps");

LOST_COUNTER

static __always_inline void begin(__u32 kind) {
  __u64 key = ((__u64)kind << 32) | (__u32)bpf_get_current_pid_tgid();
  __u64 ts = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&inflight, &key, &ts, BPF_ANY)) count_lost();
}

static __always_inline void end(__u32 kind) {
  __u64 key = ((__u64)kind << 32) | (__u32)bpf_get_current_pid_tgid();
  __u64 *start = bpf_map_lookup_elem(&inflight, &key);
  if (!start) return;  // began before the probe loaded, or not tracked
  __u64 delta = bpf_ktime_get_ns() - *start;
  bpf_map_delete_elem(&inflight, &key);
  struct nh_hist *h = bpf_map_lookup_elem(&hists, &kind);
  if (h) HIST_ADD(h, delta);
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_begin")
int reclaim_begin(void *ctx) {
  begin(NH_RECLAIM_DIRECT);
  return 0;
}

SEC("tp/vmscan/mm_vmscan_direct_reclaim_end")
int reclaim_end(void *ctx) {
  end(NH_RECLAIM_DIRECT);
  return 0;
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_begin")
int memcg_reclaim_begin(void *ctx) {
  begin(NH_RECLAIM_MEMCG);
  return 0;
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_end")
int memcg_reclaim_end(void *ctx) {
  end(NH_RECLAIM_MEMCG);
  return 0;
}
