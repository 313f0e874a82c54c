// The bench's measurement floor: programs that do nothing, on the hooks the
// probes use, so that `run_time_ns / run_cnt` of an empty program on this kernel
// and machine (the cost of the stats' own clock reads and of the dispatch) can be
// read next to each probe's figure. Loaded only by tests/bench/bpf/floor.cpp.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork_btf) { return 0; }

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit_btf) { return 0; }

SEC("tp_btf/block_rq_complete")
int BPF_PROG(rq_complete_btf) { return 0; }

SEC("tp/sched/sched_process_fork")
int process_fork(void *ctx) { return 0; }

SEC("tp/sched/sched_process_exit")
int process_exit(void *ctx) { return 0; }

SEC("tp/block/block_rq_issue")
int rq_issue(void *ctx) { return 0; }

SEC("tp/block/block_rq_complete")
int rq_complete(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
