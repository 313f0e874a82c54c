// Sinks show what the evaluator decided. They never sample: they are handed the
// newest Sample and NodeStatus after each tick.
#pragma once

#include "nodehealth/condition.h"
#include "nodehealth/sample.h"

namespace nodehealth {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void publish(const Sample& sample, const NodeStatus& status) = 0;
};

}  // namespace nodehealth
