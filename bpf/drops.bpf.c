// drops: packets dropped by the kernel, counted per drop reason.
//
// Hook: skb:kfree_skb (classic tracepoint; its `reason` field exists since 5.17).
// Frequency: once per freed-as-dropped packet. SKB_CONSUMED (reason 1 where the
// kernel reports consumed packets through this tracepoint) is not a drop and is
// skipped. Maps: per-CPU array of 256 counters (2 KiB per CPU).
#include "common.bpf.h"
#include "drops.h"

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, NH_DROP_REASONS);
  __type(key, __u32);
  __type(value, __u64);
} reasons SEC(".maps");

// Set by user space from BTF: the value of SKB_DROP_REASON_CONSUMED / SKB_CONSUMED,
// or -1 when this kernel has none.
const volatile __s32 consumed_reason = -1;

SEC("tp/skb/kfree_skb")
int kfree_skb(struct trace_event_raw_kfree_skb *ctx) {
  __u32 reason = (__u32)BPF_CORE_READ(ctx, reason);
  if ((__s32)reason == consumed_reason) return 0;
  if (reason >= NH_DROP_REASONS) reason = NH_DROP_REASONS - 1;
  __u64 *v = bpf_map_lookup_elem(&reasons, &reason);
  if (v) *v += 1;
  return 0;
}
