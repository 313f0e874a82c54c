// An eBPF probe: one bpf/<name>.bpf.c program set, loaded into the kernel by
// agent/probes/<name>.cpp (the only includer of its generated skeleton).
//
// Lifecycle, the same for every probe (ProbeSet enforces the order):
//   check  what the probe needs (BTF, its tracepoints, ring buffers), before loading;
//   open   the skeleton (with an external BTF file when configured);
//   set    read-only data, then choose fallbacks with bpf_program__set_autoload;
//   load   into the kernel (the verifier runs here);
//   attach to the tracepoints.
// A probe that fails any step is down with the reason; the others and the rest of
// the agent go on. Kernel handles are owned by RAII (skeleton destroy detaches and
// frees everything), so a probe that is destroyed leaves nothing in the kernel.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/result.h"
#include "nodehealth/sample.h"

namespace nodehealth {

struct ProbeOptions {
  std::string btf_path;           // external BTF for kernels without /sys/kernel/btf/vmlinux
  std::string tracefs;            // where tracefs is mounted ("" = not found)
  std::string memcg_hierarchy;    // host path of the memory cgroup hierarchy, for cgroup paths
  std::string sys_root = "/sys";  // the host's /sys, for device names
  std::vector<std::string> missing_tracepoints;  // tests: treat these "cat/name" as absent
  bool no_tp_btf = false;  // tests: as on kernels without BTF raw tracepoints (the fallbacks)
};

class Probe {
 public:
  virtual ~Probe() = default;
  // Stable name used in config (probes.<name>.enabled), metrics and logs.
  virtual std::string_view name() const = 0;
  // The tracepoints ("category/name") the probe attaches to; checked before loading.
  virtual std::vector<std::string> tracepoints() const = 0;
  // Open, set read-only data, choose fallbacks, load and attach.
  virtual Result<void> start(const ProbeOptions& opts) = 0;
  // A file descriptor that becomes readable when events wait (a ring buffer), or -1
  // when the probe is read at each tick only.
  virtual int event_fd() const { return -1; }
  // Consumes waiting events (called when event_fd() is readable, and before collect).
  virtual void drain() {}
  // Makes event_fd() readable before the node's task count can have grown by `tasks` from
  // now (0: never). Called after every sample with the tasks that would meet the
  // pid.available threshold (SignalValue::drop_until_met), so that a fork burst toward it is
  // sampled at once. Probes that see forks implement it.
  virtual void wake_on_task_growth(uint64_t /*tasks*/) {}
  // Adds the probe's data to the sample (map reads; the events drained since the last call).
  virtual void collect(Sample& sample) = 0;
  // The loaded programs' fds, for their own cost (bpf_prog_info) and lost-event counts.
  virtual std::vector<std::pair<std::string, int>> programs() const = 0;
  // Events the kernel side could not record, cumulative.
  virtual uint64_t events_lost() const = 0;
};

}  // namespace nodehealth
