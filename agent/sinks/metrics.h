// The agent's Prometheus metrics: one Collectable that renders the newest
// snapshot at scrape time. A scrape costs a render, never a walk of /proc.
#pragma once

#include <memory>
#include <vector>

#include <prometheus/collectable.h>

#include "agent/sinks/snapshot.h"

namespace nodehealth::sinks {

struct BuildInfo {
  std::string version, commit;
};

class MetricsCollector final : public prometheus::Collectable {
 public:
  MetricsCollector(const SnapshotStore& store, BuildInfo build)
      : store_(store), build_(std::move(build)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const SnapshotStore& store_;
  BuildInfo build_;
};

// The same families for one snapshot (also used by tests).
std::vector<prometheus::MetricFamily> render_metrics(const Snapshot* snap, const BuildInfo& build);

}  // namespace nodehealth::sinks
