// biolatency: block I/O latency from issue to completion, as a log2 histogram
// per device, aggregated in the kernel.
//
// Hooks: block:block_rq_issue, block:block_rq_complete (classic tracepoints).
// Frequency: twice per block request. Maps: in-flight LRU hash (dev, sector) ->
// issue time, 16384 entries (~512 KiB); per-device histograms, 256 devices
// (~84 KiB); per-CPU lost counter (requests not tracked because the in-flight
// map could not take it, or devices beyond 256).
#include "common.bpf.h"
#include "biolatency.h"

// LRU: a request that never completes (a removed device) ages out instead of filling the map.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, NH_BIO_MAX_INFLIGHT);
  __type(key, struct nh_bio_key);
  __type(value, __u64);
} inflight SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, NH_BIO_MAX_DEVICES);
  __type(key, __u32);
  __type(value, struct nh_hist);
} hists SEC(".maps");

LOST_COUNTER

SEC("tp/block/block_rq_issue")
int rq_issue(struct trace_event_raw_block_rq *ctx) {
  struct nh_bio_key k = {.sector = ctx->sector, .dev = ctx->dev};
  __u64 ts = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&inflight, &k, &ts, BPF_ANY)) count_lost();
  return 0;
}

SEC("tp/block/block_rq_complete")
int rq_complete(struct trace_event_raw_block_rq_completion *ctx) {
  struct nh_bio_key k = {.sector = ctx->sector, .dev = ctx->dev};
  __u64 *start = bpf_map_lookup_elem(&inflight, &k);
  if (!start) return 0;  // issued before the probe started, or not tracked
  __u64 delta = bpf_ktime_get_ns() - *start;
  bpf_map_delete_elem(&inflight, &k);
  struct nh_hist *h = bpf_map_lookup_elem(&hists, &k.dev);
  if (!h) {
    static const struct nh_hist zero;
    bpf_map_update_elem(&hists, &k.dev, &zero, BPF_NOEXIST);
    h = bpf_map_lookup_elem(&hists, &k.dev);
    if (!h) {
      count_lost();
      return 0;
    }
  }
  HIST_ADD(h, delta);
  return 0;
}
