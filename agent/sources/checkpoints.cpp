// Source "checkpoints": the kubelet's checkpoint directory audited every minute
// (one lstat per entry: mode, owner, size of every archive; an archive holds
// every memory page of its container, so one readable by others is a leak), and
// the predicted cost of checkpointing each container every 10 minutes (a walk
// of the memory cgroups and each process's smaps_rollup). Between refreshes the
// previous results are carried into every sample.
#include "agent/checkpoint/checkpoint.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

constexpr auto kAuditEvery = std::chrono::minutes(1);
constexpr auto kEstimateEvery = std::chrono::minutes(10);

class CheckpointsSource final : public Source {
 public:
  CheckpointsSource(const HostPaths& paths, std::string dir)
      : paths_(paths), dir_(std::move(dir)) {}
  std::string_view name() const override { return "checkpoints"; }

  Result<void> collect(Sample& sample) override {
    const TimePoint now = sample.taken_at;
    if (!audit_ || now - audited_at_ >= kAuditEvery || now < audited_at_) {
      audited_at_ = now;
      auto audit = checkpoint::audit_checkpoint_dir(paths_, dir_);
      if (!audit) {
        audit_.reset();
        return std::unexpected(audit.error());
      }
      audit_ = std::make_shared<const checkpoint::CheckpointAudit>(std::move(*audit));
    }
    if (now - estimated_at_ >= kEstimateEvery || now < estimated_at_ ||
        estimated_at_ == TimePoint{}) {
      estimated_at_ = now;
      checkpoint::CheckpointOptions opts;
      opts.checkpoint_dir = dir_;
      opts.top = 20;  // bounded label set on /metrics
      auto report = checkpoint::estimate_checkpoints(paths_, opts);
      // No memory cgroup hierarchy: no estimate, the audit still stands.
      report_ = report ? std::make_shared<const checkpoint::CheckpointReport>(std::move(*report))
                       : nullptr;
    }
    sample.checkpoint_audit = audit_;
    sample.checkpoint_report = report_;
    return {};
  }

 private:
  HostPaths paths_;
  std::string dir_;
  std::shared_ptr<const checkpoint::CheckpointAudit> audit_;
  std::shared_ptr<const checkpoint::CheckpointReport> report_;
  TimePoint audited_at_{}, estimated_at_{};
};

}  // namespace

std::unique_ptr<Source> make_checkpoints_source(const HostPaths& paths, std::string dir) {
  return std::make_unique<CheckpointsSource>(paths,
                                             dir.empty() ? checkpoint::kDefaultCheckpointDir : dir);
}

}  // namespace nodehealth::sources
