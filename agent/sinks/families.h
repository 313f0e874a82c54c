// Building Prometheus metric families by hand, for the collectors that render a
// snapshot at scrape time (sinks/metrics.cpp, features, checkpoint).
#pragma once

#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

namespace nodehealth::sinks {

// Appends one sample to `f`: a counter or a gauge value, by the family's type.
inline void add_sample(prometheus::MetricFamily& f,
                       std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace nodehealth::sinks
