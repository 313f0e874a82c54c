// The newest evaluated state of the node, shared read-only with every reader
// (HTTP handlers, the metrics collector) and replaced whole once per tick.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "nodehealth/condition.h"
#include "nodehealth/sample.h"
#include "nodehealth/sink.h"

namespace nodehealth::sinks {

struct Snapshot {
  std::string node_name;
  Sample sample;
  NodeStatus status;
};

class SnapshotStore final : public Sink {
 public:
  explicit SnapshotStore(std::string node_name) : node_name_(std::move(node_name)) {}
  void publish(const Sample& sample, const NodeStatus& status) override;
  std::shared_ptr<const Snapshot> get() const;  // nullptr before the first tick

 private:
  std::string node_name_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;
};

// The /status document and `nodehealth status -o json`: conditions as Kubernetes
// NodeCondition JSON, then the signals, sources, filesystems and network behind them.
nlohmann::ordered_json status_json(const Snapshot& snap);

// `nodehealth status`: the Conditions section as `kubectl describe node` prints
// it, then the signals (value, threshold, capacity) and the sources.
std::string status_table(const Snapshot& snap);

// "1.5Gi", "100Mi", "512" (binary units, as Kubernetes quantities print).
std::string format_bytes(double bytes);

}  // namespace nodehealth::sinks
