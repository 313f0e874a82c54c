#include "nodehealth/condition.h"

#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace nodehealth {

std::optional<uint64_t> SignalValue::drop_until_met() const {
  if (!available || any_met()) return std::nullopt;
  std::optional<double> nearest;  // the highest: the first a falling signal meets
  for (const ThresholdStatus& t : thresholds)
    if (t.value && (!nearest || *t.value > *nearest)) nearest = t.value;
  if (!nearest || *available < *nearest) return std::nullopt;
  // available - d < value for the smallest whole d: d > available - value.
  return static_cast<uint64_t>(std::floor(*available - *nearest)) + 1;
}

const char* to_string(ConditionStatus s) {
  switch (s) {
    case ConditionStatus::kTrue:
      return "True";
    case ConditionStatus::kFalse:
      return "False";
    case ConditionStatus::kUnknown:
      break;
  }
  return "Unknown";
}

const char* to_string(SignalUnit u) {
  switch (u) {
    case SignalUnit::kBytes:
      return "bytes";
    case SignalUnit::kInodes:
      return "inodes";
    case SignalUnit::kPids:
      break;
  }
  return "pids";
}

std::string format_rfc3339(TimePoint t) {
  const std::time_t secs =
      WallClock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace nodehealth
