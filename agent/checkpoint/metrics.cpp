// checkpoint_metrics: the checkpoint families, built from a report and an audit (either may be
// absent). Families without samples are left out, as in agent/sinks/metrics.cpp.
#include <prometheus/metric_family.h>

#include "agent/sinks/families.h"

#include "agent/checkpoint/checkpoint.h"

namespace nodehealth::checkpoint {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

}  // namespace

std::vector<MetricFamily> checkpoint_metrics(const CheckpointReport* report,
                                             const CheckpointAudit* audit) {
  std::vector<MetricFamily> out;
  if (report) {
    // One series per row of the report (its largest containers, options.top), all three
    // families with the same labels.
    MetricFamily bytes{"nodehealth_checkpoint_predicted_bytes",
                       "Predicted size of a checkpoint archive of the container (or cgroup): its "
                       "anonymous and shared memory, swap, rootfs diff, log and metadata; the "
                       "largest containers only.",
                       MetricType::Gauge,
                       {}};
    MetricFamily seconds{"nodehealth_checkpoint_predicted_seconds",
                         "Predicted time a checkpoint of the container (or cgroup) keeps it "
                         "frozen: the predicted size x 7 (a container runtime's overhead) / bare "
                         "CRIU's dump rate (1 GB/s); the largest containers only.",
                         MetricType::Gauge,
                         {}};
    MetricFamily fits{"nodehealth_checkpoint_fits",
                      "1 when the predicted checkpoint archive of the container (or cgroup) "
                      "fits in the free space of the checkpoint directory's filesystem, 0 when "
                      "it does not; absent while the free space is unknown; the largest "
                      "containers only.",
                      MetricType::Gauge,
                      {}};
    for (const auto& c : report->containers) {
      const std::vector<ClientMetric::Label> labels = {
          {"pod_uid", c.kube ? c.kube->pod_uid : ""},
          {"container_id", c.kube ? c.kube->container_id : ""},
          {"cgroup", c.cgroup}};
      sinks::add_sample(bytes, labels, static_cast<double>(c.predicted_bytes));
      sinks::add_sample(seconds, labels, c.predicted_seconds);
      if (report->available_bytes) sinks::add_sample(fits, labels, c.fits ? 1 : 0);
    }
    for (auto* f : {&bytes, &seconds, &fits})
      if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  if (audit) {
    MetricFamily count{"nodehealth_checkpoint_archives",
                       "Files in the checkpoint directory (nothing deletes them).",
                       MetricType::Gauge,
                       {}};
    sinks::add_sample(count, {}, static_cast<double>(audit->archives.size()));
    out.push_back(std::move(count));
    MetricFamily bytes{"nodehealth_checkpoint_archive_bytes",
                       "Total size of the files in the checkpoint directory.",
                       MetricType::Gauge,
                       {}};
    sinks::add_sample(bytes, {}, static_cast<double>(audit->archive_bytes));
    out.push_back(std::move(bytes));
    MetricFamily exposed{"nodehealth_checkpoint_exposed_archives",
                         "Checkpoint archives readable or writable by someone other than root "
                         "(mode wider than 0600 or not root-owned): each holds every memory "
                         "page of its container.",
                         MetricType::Gauge,
                         {}};
    sinks::add_sample(exposed, {}, static_cast<double>(audit->exposed_archives));
    out.push_back(std::move(exposed));
    if (audit->exists) {
      MetricFamily ok{"nodehealth_checkpoint_dir_mode_ok",
                      "1 when the checkpoint directory is root-owned with mode 0700 (or "
                      "stricter), 0 otherwise; absent while the directory does not exist.",
                      MetricType::Gauge,
                      {}};
      sinks::add_sample(ok, {}, audit->dir_mode_ok ? 1 : 0);
      out.push_back(std::move(ok));
    }
  }
  return out;
}

}  // namespace nodehealth::checkpoint
