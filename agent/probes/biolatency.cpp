// Loader of bpf/biolatency.bpf.c: per-device block I/O latency histograms, read at
// each tick.
#include <sys/sysmacros.h>

#include <fstream>

#include "agent/probes/bpf_util.h"
#include "agent/probes/probes.h"
#include "biolatency.skel.h"
#include "bpf/biolatency.h"

namespace nodehealth::probes {
namespace {

constexpr const char* kIssue = "block/block_rq_issue";

class BiolatencyProbe final : public Probe {
 public:
  std::string_view name() const override { return "biolatency"; }
  // Completion is needed either way; issue only by the classic pair (checked in start()).
  std::vector<std::string> tracepoints() const override { return {"block/block_rq_complete"}; }

  Result<void> start(const ProbeOptions& o) override {
    // One BTF raw tracepoint at completion, timed from the request's own timestamps,
    // where the kernel describes it; else the classic issue/complete pair.
    const bool btf = tp_btf_arg_is_pointer(o, "block_rq_complete", 0);
    if (!btf && !tracepoint_exists(o, kIssue))
      return fail(std::string("tracepoint ") + kIssue +
                  " does not exist on this kernel (the classic programs need it)");
    auto skel = open_load_attach<nh_biolatency, nh_biolatency__destroy>(
        o, nh_biolatency__open_opts, nh_biolatency__load, nh_biolatency__attach,
        [&](nh_biolatency* s) -> Result<void> {
          bpf_program__set_autoload(s->progs.rq_complete_btf, btf);
          bpf_program__set_autoload(s->progs.rq_issue, !btf);
          bpf_program__set_autoload(s->progs.rq_complete, !btf);
          if (btf) bpf_map__set_max_entries(s->maps.inflight, 1);  // unused
          return {};
        });
    if (!skel) return std::unexpected(skel.error());
    skel_ = std::move(*skel);
    sys_ = o.sys_root;
    return {};
  }

  void collect(Sample& s) override {
    const int fd = bpf_map__fd(skel_->maps.hists);
    for (uint32_t dev : map_keys<uint32_t>(fd, NH_BIO_MAX_DEVICES)) {
      nh_hist h{};
      if (bpf_map_lookup_elem(fd, &dev, &h) != 0) continue;
      s.probes.block_latency[device_name(dev)] = histogram(h.slots, NH_HIST_SLOTS, h.sum_ns);
    }
  }

  std::vector<std::pair<std::string, int>> programs() const override {
    return object_programs(skel_->obj);
  }
  uint64_t events_lost() const override { return percpu_sum(bpf_map__fd(skel_->maps.lost), 0); }

 private:
  // The kernel's dev_t (major << 20 | minor) to the device's name from
  // /sys/dev/block/<major>:<minor>/uevent (DEVNAME), else "major:minor".
  std::string device_name(uint32_t dev) {
    if (auto it = names_.find(dev); it != names_.end()) return it->second;
    const unsigned major = dev >> 20, minor = dev & ((1U << 20) - 1);
    const std::string id = std::to_string(major) + ":" + std::to_string(minor);
    std::string name = id;
    std::ifstream f(sys_ + "/dev/block/" + id + "/uevent");
    for (std::string line; std::getline(f, line);)
      if (line.starts_with("DEVNAME=")) name = line.substr(8);
    if (names_.size() < NH_BIO_MAX_DEVICES) names_[dev] = name;
    return name;
  }

  SkelPtr<nh_biolatency, nh_biolatency__destroy> skel_;
  std::string sys_;
  std::map<uint32_t, std::string> names_;
};

}  // namespace

std::unique_ptr<Probe> make_biolatency_probe() { return std::make_unique<BiolatencyProbe>(); }

}  // namespace nodehealth::probes
