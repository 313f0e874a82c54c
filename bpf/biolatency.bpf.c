// biolatency: block I/O latency from issue to completion, as a log2 histogram
// per device, aggregated in the kernel.
//
// Hooks: block:block_rq_complete as a BTF raw tracepoint where the kernel has
// one: the request is passed in and carries the kernel's own timestamps, so one
// program per request does the work, with no in-flight map. It times from
// rq->io_start_time_ns (the issue, set where block_rq_issue fires whenever the
// queue keeps statistics: writeback throttling, BFQ, blk-iolatency) and
// otherwise from rq->start_time_ns (the request's allocation, set whenever the
// queue keeps I/O accounting, queue/iostats=1); a request with neither is
// counted as lost. Elsewhere, block:block_rq_issue and block:block_rq_complete
// as classic tracepoints, with the issue time kept in an in-flight map.
// Frequency: once per block request (twice with the classic pair). Maps:
// in-flight LRU hash (dev, sector) -> issue time, 16384 entries (~512 KiB; one
// entry when the BTF program runs); per-device histograms, 256 devices
// (~84 KiB); per-CPU lost counter (requests not timed or not tracked because the
// in-flight map could not take them, or devices beyond 256).
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

static __always_inline void observe(__u32 dev, __u64 delta) {
  struct nh_hist *h = bpf_map_lookup_elem(&hists, &dev);
  if (!h) {
    static const struct nh_hist zero;
    bpf_map_update_elem(&hists, &dev, &zero, BPF_NOEXIST);
    h = bpf_map_lookup_elem(&hists, &dev);
    if (!h) {
      count_lost();
      return;
    }
  }
  HIST_ADD(h, delta);
}

SEC("tp/block/block_rq_complete")
int rq_complete(struct trace_event_raw_block_rq_completion *ctx) {
  struct nh_bio_key k = {.sector = ctx->sector, .dev = ctx->dev};
  __u64 *start = bpf_map_lookup_elem(&inflight, &k);
  if (!start) return 0;  // issued before the probe started, or not tracked
  __u64 delta = bpf_ktime_get_ns() - *start;
  bpf_map_delete_elem(&inflight, &k);
  observe(k.dev, delta);
  return 0;
}

// Before 5.17 the request pointed at its disk itself.
struct request___pre517 {
  struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

// The whole disk's dev_t as the classic tracepoints report it: major << 20 | minor.
static __always_inline __u32 rq_dev(struct request *rq) {
  struct gendisk *disk;
  if (bpf_core_field_exists(struct request___pre517, rq_disk))
    disk = ((struct request___pre517 *)rq)->rq_disk;
  else
    disk = rq->q->disk;
  if (!disk) return 0;
  return ((__u32)disk->major << 20) | (__u32)disk->first_minor;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(rq_complete_btf, struct request *rq) {
  // Direct reads: the BTF program gets the kernel's pointer (no helper per field).
  __u64 start = rq->io_start_time_ns;
  if (!start) start = rq->start_time_ns;
  __u64 now = bpf_ktime_get_ns();
  if (!start || start > now) {
    count_lost();  // the queue keeps neither timestamp
    return 0;
  }
  observe(rq_dev(rq), now - start);
  return 0;
}
