// Loader of bpf/drops.bpf.c: dropped packets per drop reason, the reasons' names
// read from the kernel's BTF (enum skb_drop_reason), read at each tick.
#include <algorithm>
#include <cctype>

#include "agent/probes/bpf_util.h"
#include "agent/probes/probes.h"
#include "bpf/drops.h"
#include "drops.skel.h"

namespace nodehealth::probes {
namespace {

// "SKB_DROP_REASON_NO_SOCKET" -> "no_socket": the label value.
std::string reason_label(std::string name) {
  constexpr std::string_view kPrefix = "SKB_DROP_REASON_";
  if (name.starts_with(kPrefix)) name.erase(0, kPrefix.size());
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

class DropsProbe final : public Probe {
 public:
  std::string_view name() const override { return "drops"; }
  std::vector<std::string> tracepoints() const override { return {"skb/kfree_skb"}; }

  Result<void> start(const ProbeOptions& o) override {
    const auto reasons = kernel_enum(o, "skb_drop_reason");
    if (reasons.empty())
      return fail("the kernel has no enum skb_drop_reason in BTF (drop reasons need 5.17+)");
    int consumed = -1;
    for (const auto& [value, name] : reasons) {
      if (value < 0 || value >= NH_DROP_REASONS - 1) continue;
      names_[static_cast<uint32_t>(value)] = reason_label(name);
      if (name == "SKB_CONSUMED" || name == "SKB_DROP_REASON_CONSUMED") consumed = int(value);
    }
    names_[NH_DROP_REASONS - 1] = "other";
    auto skel = open_load_attach<nh_drops, nh_drops__destroy>(
        o, nh_drops__open_opts, nh_drops__load, nh_drops__attach, [&](nh_drops* s) -> Result<void> {
          s->rodata->consumed_reason = consumed;
          return {};
        });
    if (!skel) return std::unexpected(skel.error());
    skel_ = std::move(*skel);
    return {};
  }

  void collect(Sample& s) override {
    const int fd = bpf_map__fd(skel_->maps.reasons);
    auto& out = s.probes.drops_by_reason.emplace();
    for (const auto& [reason, label] : names_) {
      const uint64_t n = percpu_sum(fd, reason);
      if (n > 0) out[label] += n;
    }
  }

  std::vector<std::pair<std::string, int>> programs() const override {
    return object_programs(skel_->obj);
  }
  uint64_t events_lost() const override { return 0; }  // counters only: nothing to lose

 private:
  SkelPtr<nh_drops, nh_drops__destroy> skel_;
  std::map<uint32_t, std::string> names_;
};

}  // namespace

std::unique_ptr<Probe> make_drops_probe() { return std::make_unique<DropsProbe>(); }

}  // namespace nodehealth::probes
