// Runs every enabled source once per tick into one Sample, timing each, and
// logs a source's state changes (up -> down with the reason, down -> up), not
// every failing tick.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nodehealth/clock.h"
#include "nodehealth/sample.h"
#include "nodehealth/source.h"

namespace nodehealth::sources {

class Sampler {
 public:
  explicit Sampler(std::vector<std::unique_ptr<Source>> sources);
  Sample sample(TimePoint now);

 private:
  std::vector<std::unique_ptr<Source>> sources_;
  std::map<std::string, std::string, std::less<>> last_error_;  // "" = was up
};

}  // namespace nodehealth::sources
