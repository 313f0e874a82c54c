// SignalValue::drop_until_met: how far a signal must fall before its nearest threshold is
// met (available < value), which the event sources arm at (agent/wakeups.h).
#include <catch2/catch.hpp>

#include "nodehealth/condition.h"

using namespace nodehealth;

namespace {

SignalValue signal_at(double available, std::vector<std::optional<double>> values) {
  SignalValue v;
  v.name = "pid.available";
  v.unit = SignalUnit::kPids;
  v.available = available;
  for (const auto& value : values) {
    ThresholdStatus t;
    t.kind = v.thresholds.empty() ? "hard" : "soft";
    t.value = value;
    v.thresholds.push_back(t);
  }
  return v;
}

}  // namespace

TEST_CASE("drop_until_met: the smallest whole fall that meets the nearest threshold",
          "[condition]") {
  CHECK(signal_at(1200, {1000}).drop_until_met() == 201u);
  // Standing exactly at the threshold is not met yet: one more task meets it.
  CHECK(signal_at(1000, {1000}).drop_until_met() == 1u);
  // A fractional threshold (a percentage of capacity): 1000 - 1 < 999.5 meets it.
  CHECK(signal_at(1000, {999.5}).drop_until_met() == 1u);
  CHECK(signal_at(1000, {998.5}).drop_until_met() == 2u);
  // The nearest of a hard and a soft threshold, whichever is higher.
  CHECK(signal_at(5000, {1000, 4000}).drop_until_met() == 1001u);
  CHECK(signal_at(5000, {4000, std::nullopt}).drop_until_met() == 1001u);
}

TEST_CASE("drop_until_met: nothing to arm once met, or without a value or threshold",
          "[condition]") {
  CHECK_FALSE(signal_at(999, {1000}).drop_until_met());
  auto met = signal_at(1100, {1000});
  met.thresholds[0].met = true;  // still short of value + minimum reclaim
  CHECK_FALSE(met.drop_until_met());
  CHECK_FALSE(signal_at(1000, {std::nullopt}).drop_until_met());
  CHECK_FALSE(signal_at(1000, {}).drop_until_met());
  auto none = signal_at(1000, {1000});
  none.available.reset();
  CHECK_FALSE(none.drop_until_met());
}
