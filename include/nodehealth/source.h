// A source reads one part of the node into a Sample. Sources never throw and
// never stop the agent: a failure is an Error, which the sampler turns into
// nodehealth_source_up{source}=0 and one log line per state change.
#pragma once

#include <string_view>

#include "nodehealth/result.h"
#include "nodehealth/sample.h"

namespace nodehealth {

class Source {
 public:
  virtual ~Source() = default;
  // Stable name used in config (sources.<name>.enabled), metrics and logs.
  virtual std::string_view name() const = 0;
  // Fills this source's part of `sample`. Leaves it empty on error.
  virtual Result<void> collect(Sample& sample) = 0;
};

}  // namespace nodehealth
