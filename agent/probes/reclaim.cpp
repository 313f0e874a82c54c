// Loader of bpf/reclaim.bpf.c: direct reclaim stalls as a histogram, read at each tick.
#include "bpf/reclaim.h"
#include "agent/probes/bpf_util.h"
#include "agent/probes/probes.h"
#include "reclaim.skel.h"

namespace nodehealth::probes {
namespace {

class ReclaimProbe final : public Probe {
 public:
  std::string_view name() const override { return "reclaim"; }
  std::vector<std::string> tracepoints() const override {
    return {"vmscan/mm_vmscan_direct_reclaim_begin", "vmscan/mm_vmscan_direct_reclaim_end"};
  }

  Result<void> start(const ProbeOptions& o) override {
    auto skel = open_load_attach<nh_reclaim, nh_reclaim__destroy>(
        o, nh_reclaim__open_opts, nh_reclaim__load, nh_reclaim__attach,
        [](nh_reclaim*) -> Result<void> { return {}; });
    if (!skel) return std::unexpected(skel.error());
    skel_ = std::move(*skel);
    return {};
  }

  void collect(Sample& s) override {
    uint32_t zero = 0;
    nh_hist h{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.hist), &zero, &h) == 0)
      s.probes.direct_reclaim = histogram(h.slots, NH_HIST_SLOTS, h.sum_ns);
  }

  std::vector<std::pair<std::string, int>> programs() const override {
    return object_programs(skel_->obj);
  }
  uint64_t events_lost() const override { return percpu_sum(bpf_map__fd(skel_->maps.lost), 0); }

 private:
  SkelPtr<nh_reclaim, nh_reclaim__destroy> skel_;
};

}  // namespace

std::unique_ptr<Probe> make_reclaim_probe() { return std::make_unique<ReclaimProbe>(); }

}  // namespace nodehealth::probes
