// Time is injected: evaluation and tests never read the clock themselves.
#pragma once

#include <chrono>

namespace nodehealth {

using WallClock = std::chrono::system_clock;
using TimePoint = WallClock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return WallClock::now(); }
};

// A clock tests move by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint{} + std::chrono::hours(24 * 365 * 56))
      : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += std::chrono::duration_cast<WallClock::duration>(d); }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

}  // namespace nodehealth
