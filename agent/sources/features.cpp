// Source "features": the kernel's features and the pod safe sysctls it supports
// (facts §5), probed at start and every 10 minutes (a kernel does not change
// under a running agent, but a module load or a remount can), carried into every
// sample between probes. With them, what the kubelet's own configuration asks of
// the kernel (features/kubelet.h): failCgroupV1 and allowedUnsafeSysctls, from
// the kubelet files the agent reads its thresholds from (kubelet.configFile /
// kubelet.configDir, or kubeadm's defaults when present).
#include "agent/features/features.h"
#include "agent/config/config.h"
#include "agent/sandbox/sandbox.h"
#include "agent/sources/sources.h"

#include <spdlog/spdlog.h>

namespace nodehealth::sources {
namespace {

constexpr auto kProbeEvery = std::chrono::minutes(10);

class FeaturesSource final : public Source {
 public:
  FeaturesSource(const HostPaths& paths, std::optional<std::string> kubelet_file,
                 std::optional<std::string> kubelet_dir)
      : paths_(paths),
        kubelet_file_(std::move(kubelet_file)),
        kubelet_dir_(std::move(kubelet_dir)) {}
  std::string_view name() const override { return "features"; }

  Result<void> collect(Sample& sample) override {
    const TimePoint now = sample.taken_at;
    const bool due = now - probed_at_ >= kProbeEvery || now < probed_at_;
    if (report_ && !due) {
      sample.features = report_;
      return {};
    }
    probed_at_ = now;
    features::FeatureOptions opts;
    opts.kubelet = features::load_kubelet_requirements(kubelet_file_, kubelet_dir_);
    if (!opts.kubelet->error.empty() && (!report_ || report_->kubelet.error != opts.kubelet->error))
      spdlog::warn("features: kubelet configuration unreadable: {}", opts.kubelet->error);
    if (!report_ || !sandbox::restricted()) {
      auto report = features::probe_features(paths_, opts);
      if (!report) {
        report_.reset();
        return std::unexpected(report.error());
      }
      report_ = std::make_shared<const features::FeatureReport>(std::move(*report));
    } else if (report_->kubelet != *opts.kubelet) {
      // Under the sandbox the probes (a child in a new network namespace, a test mount,
      // `nft --version`) cannot run: the report from before the sandbox stands, with the
      // kubelet's requirements re-read (files only) and checked against its net.* view.
      auto next = std::make_shared<features::FeatureReport>(*report_);
      next->kubelet = std::move(*opts.kubelet);
      features::check_allowed_unsafe_sysctls(*next, paths_);
      report_ = std::move(next);
    }
    sample.features = report_;
    return {};
  }

 private:
  HostPaths paths_;
  std::optional<std::string> kubelet_file_, kubelet_dir_;
  std::shared_ptr<const features::FeatureReport> report_;
  TimePoint probed_at_{};
};

}  // namespace

std::unique_ptr<Source> make_features_source(const config::Config& cfg, const HostPaths& paths) {
  auto [file, dir] = config::kubelet_files(cfg, paths);
  return std::make_unique<FeaturesSource>(paths, std::move(file), std::move(dir));
}

}  // namespace nodehealth::sources
