// What every probe loader shares: skeleton ownership, libbpf errors as values,
// per-CPU map reads, program stats, the memory-cgroup id -> path resolver, and the
// kernel checks done before loading.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/probe.h"
#include "nodehealth/result.h"
#include "nodehealth/sample.h"

namespace nodehealth::probes {

// A skeleton owned by RAII: destroying it detaches the links and frees maps and programs.
template <typename Skel, void (*Destroy)(Skel*)>
struct SkelDeleter {
  void operator()(Skel* s) const {
    if (s) Destroy(s);
  }
};
template <typename Skel, void (*Destroy)(Skel*)>
using SkelPtr = std::unique_ptr<Skel, SkelDeleter<Skel, Destroy>>;

// "what: <strerror of -err>" for a libbpf call that returned a negative errno.
Error bpf_error(std::string_view what, int err);

// libbpf open options with the external BTF path when one is configured.
struct OpenOpts {
  explicit OpenOpts(const ProbeOptions& o);
  bpf_object_open_opts opts{};
  std::string btf;
};

// Sum of a per-CPU u64 value over all CPUs; 0 when unreadable.
uint64_t percpu_sum(int map_fd, uint32_t key);
// Every key of a hash map (bounded by `limit`).
template <typename Key>
std::vector<Key> map_keys(int map_fd, std::size_t limit) {
  std::vector<Key> keys;
  Key k{}, next{};
  const void* prev = nullptr;
  while (keys.size() < limit && bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    keys.push_back(next);
    k = next;
    prev = &k;
  }
  return keys;
}

// The programs of a skeleton's object, with their fds (loaded ones only).
std::vector<std::pair<std::string, int>> object_programs(const bpf_object* obj);
// run_time_ns / run_cnt of each program (bpf_prog_info).
std::vector<ProgramStats> program_stats(const std::vector<std::pair<std::string, int>>& progs);

// A log2 histogram from the kernel's struct nh_hist layout (slots then sum_ns).
Log2Histogram histogram(const __u64* slots, std::size_t n, uint64_t sum_ns);

// Memory-cgroup kernfs ids (the inode numbers of the cgroup directories) to paths
// relative to the hierarchy's root ("/" for the root). Rebuilt by walking the
// hierarchy when an unknown id is asked for, at most every `min_rescan`.
class CgroupResolver {
 public:
  explicit CgroupResolver(std::string hierarchy,
                          std::chrono::nanoseconds min_rescan = std::chrono::seconds(5));
  // The path, or "" when the id is unknown (a removed cgroup).
  std::string path(uint64_t id);

 private:
  void rescan();
  std::string root_;
  std::chrono::nanoseconds min_rescan_;
  std::chrono::steady_clock::time_point last_scan_{};
  bool scanned_ = false;
  std::map<uint64_t, std::string> paths_;
};

// Checks before loading: BTF (the kernel's or the configured file) and each tracepoint
// under tracefs. The error names what is missing.
Result<void> check_requirements(const ProbeOptions& opts, const std::vector<std::string>& tps);
// Whether the tracepoint "category/name" exists under tracefs (and is not hidden by
// ProbeOptions::missing_tracepoints, the tests' override).
bool tracepoint_exists(const ProbeOptions& opts, std::string_view tp);
// Whether the kernel's BTF has a type of this name and kind (BTF_KIND_*).
bool kernel_btf_has(const ProbeOptions& opts, std::string_view name, int kind);
// Names of an enum in the kernel's BTF by value ("SKB_DROP_REASON_NO_SOCKET" -> 3 gives
// {3, "SKB_DROP_REASON_NO_SOCKET"}); empty when the enum is not there.
std::map<int64_t, std::string> kernel_enum(const ProbeOptions& opts, std::string_view enum_name);

}  // namespace nodehealth::probes

namespace nodehealth::probes {

// Whether the BTF raw tracepoint `name` (btf_trace_<name>) passes a pointer as its
// argument `index` (0-based, after the context) on this kernel: tells which shape
// of a tracepoint's arguments a tp_btf program may rely on.
bool tp_btf_arg_is_pointer(const ProbeOptions& opts, std::string_view name, int index);

// open -> configure (read-only data, autoload choices) -> load -> attach, with the
// step that failed in the error. The skeleton is destroyed on any failure.
template <typename Skel, void (*Destroy)(Skel*), typename Open, typename Load, typename Attach,
          typename Configure>
Result<SkelPtr<Skel, Destroy>> open_load_attach(const ProbeOptions& o, Open open, Load load,
                                                Attach attach, Configure configure) {
  OpenOpts opts(o);
  SkelPtr<Skel, Destroy> skel(open(&opts.opts));
  if (!skel) return std::unexpected(bpf_error("open", errno ? errno : EINVAL));
  if (auto r = configure(skel.get()); !r) return std::unexpected(r.error());
  if (int err = load(skel.get()); err) return std::unexpected(bpf_error("load", err));
  if (int err = attach(skel.get()); err) return std::unexpected(bpf_error("attach", err));
  return skel;
}

}  // namespace nodehealth::probes
