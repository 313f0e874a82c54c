// Prometheus families for what the eBPF probes saw (rendered at scrape time from the
// newest sample, like every other family).
#pragma once

#include <vector>

#include <prometheus/metric_family.h>

#include "nodehealth/sample.h"

namespace nodehealth::probes {

std::vector<prometheus::MetricFamily> probe_metrics(const ProbeSample& p);

// The histogram buckets exported: upper bounds 2^kFirstBucket .. 2^kLastBucket ns, then +Inf.
inline constexpr int kFirstBucket = 12;  // 4.096 us
inline constexpr int kLastBucket = 35;   // 34.4 s

}  // namespace nodehealth::probes
