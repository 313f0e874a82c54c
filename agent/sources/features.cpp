// Source "features": the kernel's features and the pod safe sysctls it supports
// (facts §5), probed at start and every 10 minutes (a kernel does not change
// under a running agent, but a module load or a remount can), carried into every
// sample between probes.
#include "agent/features/features.h"
#include "agent/sandbox/sandbox.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

constexpr auto kProbeEvery = std::chrono::minutes(10);

class FeaturesSource final : public Source {
 public:
  explicit FeaturesSource(const HostPaths& paths) : paths_(paths) {}
  std::string_view name() const override { return "features"; }

  Result<void> collect(Sample& sample) override {
    const TimePoint now = sample.taken_at;
    // Under the sandbox the probes (a child in a new network namespace, a test mount,
    // `nft --version`) cannot run: the report from before the sandbox stands.
    const bool refresh =
        !sandbox::restricted() && (now - probed_at_ >= kProbeEvery || now < probed_at_);
    if (!report_ || refresh) {
      probed_at_ = now;
      auto report = features::probe_features(paths_);
      if (!report) {
        report_.reset();
        return std::unexpected(report.error());
      }
      report_ = std::make_shared<const features::FeatureReport>(std::move(*report));
    }
    sample.features = report_;
    return {};
  }

 private:
  HostPaths paths_;
  std::shared_ptr<const features::FeatureReport> report_;
  TimePoint probed_at_{};
};

}  // namespace

std::unique_ptr<Source> make_features_source(const HostPaths& paths) {
  return std::make_unique<FeaturesSource>(paths);
}

}  // namespace nodehealth::sources
