// Loader of bpf/reclaim.bpf.c: direct reclaim and memory-cgroup reclaim stalls as
// histograms, read at each tick.
#include "bpf/reclaim.h"
#include "agent/probes/bpf_util.h"
#include "agent/probes/probes.h"
#include "reclaim.skel.h"

namespace nodehealth::probes {
namespace {

constexpr const char* kMemcgBegin = "vmscan/mm_vmscan_memcg_reclaim_begin";
constexpr const char* kMemcgEnd = "vmscan/mm_vmscan_memcg_reclaim_end";

class ReclaimProbe final : public Probe {
 public:
  std::string_view name() const override { return "reclaim"; }
  // Required; the memcg pair is optional (checked in start).
  std::vector<std::string> tracepoints() const override {
    return {"vmscan/mm_vmscan_direct_reclaim_begin", "vmscan/mm_vmscan_direct_reclaim_end"};
  }

  Result<void> start(const ProbeOptions& o) override {
    // Memory-cgroup reclaim where the kernel has its tracepoints (CONFIG_MEMCG); else
    // node-wide direct reclaim only, and no memcg histogram.
    memcg_ = tracepoint_exists(o, kMemcgBegin) && tracepoint_exists(o, kMemcgEnd);
    auto skel = open_load_attach<nh_reclaim, nh_reclaim__destroy>(
        o, nh_reclaim__open_opts, nh_reclaim__load, nh_reclaim__attach,
        [&](nh_reclaim* s) -> Result<void> {
          bpf_program__set_autoload(s->progs.memcg_reclaim_begin, memcg_);
          bpf_program__set_autoload(s->progs.memcg_reclaim_end, memcg_);
          return {};
        });
    if (!skel) return std::unexpected(skel.error());
    skel_ = std::move(*skel);
    return {};
  }

  void collect(Sample& s) override {
    const int fd = bpf_map__fd(skel_->maps.hists);
    s.probes.direct_reclaim = read(fd, NH_RECLAIM_DIRECT);
    if (memcg_) s.probes.memcg_reclaim = read(fd, NH_RECLAIM_MEMCG);
  }

  std::vector<std::pair<std::string, int>> programs() const override {
    return object_programs(skel_->obj);
  }
  uint64_t events_lost() const override { return percpu_sum(bpf_map__fd(skel_->maps.lost), 0); }

 private:
  static std::optional<Log2Histogram> read(int fd, uint32_t kind) {
    nh_hist h{};
    if (bpf_map_lookup_elem(fd, &kind, &h) != 0) return std::nullopt;
    return histogram(h.slots, NH_HIST_SLOTS, h.sum_ns);
  }

  SkelPtr<nh_reclaim, nh_reclaim__destroy> skel_;
  bool memcg_ = false;
};

}  // namespace

std::unique_ptr<Probe> make_reclaim_probe() { return std::make_unique<ReclaimProbe>(); }

}  // namespace nodehealth::probes
