// The agent's Prometheus metrics, rendered from a snapshot (the endpoint renders the newest one
// once and serves that text until the next; a scrape never walks /proc).
#pragma once

#include <memory>
#include <vector>

#include <prometheus/metric_family.h>

#include "agent/sinks/snapshot.h"

namespace nodehealth::sinks {

struct BuildInfo {
  std::string version, commit;
};

// The node's families for one snapshot (nullptr: before the first, build info only).
std::vector<prometheus::MetricFamily> render_metrics(const Snapshot* snap, const BuildInfo& build);

}  // namespace nodehealth::sinks
