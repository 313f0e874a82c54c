// The eviction-signal forecaster (agent/eval/forecast.h) on synthetic series with an injected
// time base: no clock, no sleeps; noise comes from fixed-seed generators.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <random>

#include "agent/eval/forecast.h"

using namespace nodehealth;
using namespace std::chrono_literals;
using eval::Forecast;
using eval::ForecastOptions;
using eval::SignalHistory;

namespace {

constexpr double kMi = 1024.0 * 1024.0;
constexpr double kGi = 1024.0 * kMi;

// A time base that is not aligned to a bucket boundary.
const TimePoint kBase = FakeClock{}.now() + 370ms;

TimePoint at(double seconds) {
  return kBase + std::chrono::round<WallClock::duration>(std::chrono::duration<double>(seconds));
}

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// Samples f(t) every `step` seconds for t in [t0, t1].
template <typename F>
void feed(SignalHistory& h, double t0, double t1, double step, F f) {
  for (long k = 0;; ++k) {
    const double t = t0 + static_cast<double>(k) * step;
    if (t > t1 + 1e-9) break;
    h.add(at(t), f(t));
  }
}

// Memory falling 1 MiB/s from 4 GiB; 100 MiB threshold (the kubelet's default hard threshold).
double memory(double t) { return 4 * kGi - kMi * t; }
constexpr double kThreshold = 100 * kMi;
// At t = 300 s the line is at 3796 MiB: 3696 s from the threshold.
constexpr double kUntilAt300 = 3696.0;

}  // namespace

TEST_CASE("a linear decline gives the exact time to the threshold", "[forecast][eval]") {
  SignalHistory h;
  feed(h, 0, 300, 1, memory);
  const Forecast f = eval::forecast(h, kThreshold, at(300));
  REQUIRE(f.slope_per_second);
  CHECK(*f.slope_per_second == Approx(-kMi).epsilon(1e-9));
  REQUIRE(f.trend_at_now);
  CHECK(*f.trend_at_now == Approx(memory(300)).epsilon(1e-12));
  REQUIRE(f.until_threshold);
  CHECK(std::abs(seconds(*f.until_threshold) - kUntilAt300) < 1e-3);

  // Asked a minute later with no new sample, the line is extrapolated to the later `now`.
  const Forecast later = eval::forecast(h, kThreshold, at(360));
  REQUIRE(later.until_threshold);
  CHECK(std::abs(seconds(*later.until_threshold) - (kUntilAt300 - 60)) < 1e-3);
}

TEST_CASE("a slower pid.available decline with 2 s sampling", "[forecast][eval]") {
  // 30000 free pids, 2 pids/s leaking, threshold 1000.
  SignalHistory h;
  feed(h, 0, 240, 2, [](double t) { return 30000 - 2 * t; });
  const Forecast f = eval::forecast(h, 1000, at(240));
  REQUIRE(f.until_threshold);
  CHECK(std::abs(seconds(*f.until_threshold) - (30000 - 480 - 1000) / 2.0) < 1e-3);
}

TEST_CASE("uniform noise keeps the forecast within 20%", "[forecast][eval]") {
  for (unsigned seed = 1; seed <= 8; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> noise(-64 * kMi, 64 * kMi);
    SignalHistory h;
    feed(h, 0, 300, 1, [&](double t) { return memory(t) + noise(rng); });
    const Forecast f = eval::forecast(h, kThreshold, at(300));
    REQUIRE(f.slope_per_second);
    CHECK(*f.slope_per_second == Approx(-kMi).epsilon(0.2));
    REQUIRE(f.until_threshold);
    CHECK(seconds(*f.until_threshold) == Approx(kUntilAt300).epsilon(0.2));
  }
}

TEST_CASE("a single huge spike barely moves the forecast", "[forecast][eval]") {
  SignalHistory clean;
  feed(clean, 0, 300, 1, memory);
  const Forecast base = eval::forecast(clean, kThreshold, at(300));
  REQUIRE(base.until_threshold);

  struct Case {
    const char* name;
    double spike_at;
    double spike_value;
  };
  const Case cases[] = {
      {"a failed read (0) mid-window", 150, 0},
      {"a 100x outlier mid-window", 150, 100 * memory(150)},
      {"a failed read (0) in the newest bucket", 299, 0},
      {"a 100x outlier in the oldest bucket", 1, 100 * memory(1)},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      SignalHistory h;
      feed(h, 0, 300, 1,
           [&](double t) { return std::abs(t - c.spike_at) < 1e-9 ? c.spike_value : memory(t); });
      const Forecast f = eval::forecast(h, kThreshold, at(300));
      REQUIRE(f.until_threshold);
      // A failed read to 0 must not read as "already below the threshold".
      CHECK(f.until_threshold->count() > 0);
      CHECK(seconds(*f.until_threshold) == Approx(seconds(*base.until_threshold)).epsilon(0.02));
      CHECK(*f.slope_per_second == Approx(*base.slope_per_second).epsilon(0.02));
    }
  }
}

TEST_CASE("flat and rising series give no forecast", "[forecast][eval]") {
  SECTION("flat") {
    SignalHistory h;
    feed(h, 0, 300, 1, [](double) { return 2 * kGi; });
    const Forecast f = eval::forecast(h, kThreshold, at(300));
    REQUIRE(f.slope_per_second);
    CHECK(*f.slope_per_second == 0.0);
    CHECK(*f.trend_at_now == 2 * kGi);
    CHECK_FALSE(f.until_threshold);
  }
  SECTION("rising") {
    SignalHistory h;
    feed(h, 0, 300, 1, [](double t) { return kGi + 3 * kMi * t; });
    const Forecast f = eval::forecast(h, kThreshold, at(300));
    REQUIRE(f.slope_per_second);
    CHECK(*f.slope_per_second == Approx(3 * kMi));
    CHECK_FALSE(f.until_threshold);
  }
  SECTION("flat below the threshold: the kubelet's own condition reports it") {
    SignalHistory h;
    feed(h, 0, 300, 1, [](double) { return 50 * kMi; });
    const Forecast f = eval::forecast(h, kThreshold, at(300));
    REQUIRE(f.slope_per_second);
    CHECK_FALSE(f.until_threshold);
  }
  SECTION("flat with noise is never imminent") {
    for (unsigned seed = 1; seed <= 8; ++seed) {
      CAPTURE(seed);
      std::mt19937 rng(seed);
      std::uniform_real_distribution<double> noise(-64 * kMi, 64 * kMi);
      SignalHistory h;
      feed(h, 0, 300, 1, [&](double) { return 2 * kGi + noise(rng); });
      const Forecast f = eval::forecast(h, kThreshold, at(300));
      REQUIRE(f.slope_per_second);
      CHECK(std::abs(*f.slope_per_second) < 0.1 * kMi);
      // +-3% noise gives a tiny slope of either sign: at most a forecast of hours.
      if (f.until_threshold) CHECK(*f.until_threshold > 2h);
    }
  }
}

TEST_CASE("too little history gives no forecast", "[forecast][eval]") {
  SECTION("empty") {
    const Forecast f = eval::forecast(SignalHistory{}, kThreshold, at(0));
    CHECK_FALSE(f.slope_per_second);
    CHECK_FALSE(f.until_threshold);
    CHECK_FALSE(f.trend_at_now);
  }
  SECTION("a span under min_span (59 s, 12 buckets)") {
    SignalHistory h;
    feed(h, 0, 59, 1, memory);
    CHECK(h.buckets() >= 6);
    const Forecast f = eval::forecast(h, kThreshold, at(59));
    CHECK_FALSE(f.slope_per_second);
    CHECK_FALSE(f.until_threshold);
    // One more second reaches min_span.
    h.add(at(60), memory(60));
    CHECK(eval::forecast(h, kThreshold, at(60)).until_threshold);
  }
  SECTION("fewer than min_buckets buckets in the window") {
    // One sample a minute: a 5 min window never holds 6 of them.
    SignalHistory sparse;
    feed(sparse, 0, 600, 60, memory);
    CHECK(sparse.buckets() == 5);
    CHECK_FALSE(eval::forecast(sparse, kThreshold, at(600)).slope_per_second);
    // One every 50 s: 6 buckets over 250 s.
    SignalHistory enough;
    feed(enough, 0, 250, 50, memory);
    CHECK(enough.buckets() == 6);
    const Forecast f = eval::forecast(enough, kThreshold, at(250));
    REQUIRE(f.until_threshold);
    CHECK(std::abs(seconds(*f.until_threshold) - (4096 - 250 - 100)) < 1e-3);
  }
  SECTION("a stale history (the source stopped) counts as empty") {
    SignalHistory h;
    feed(h, 0, 300, 1, memory);
    CHECK(eval::forecast(h, kThreshold, at(400)).until_threshold);
    CHECK_FALSE(eval::forecast(h, kThreshold, at(300 + 600)).slope_per_second);
  }
}

TEST_CASE("already below the threshold gives 0", "[forecast][eval]") {
  // Crosses 100 MiB at t = 3996 s; asked at t = 4100 s.
  SignalHistory h;
  feed(h, 3800, 4100, 1, memory);
  const Forecast f = eval::forecast(h, kThreshold, at(4100));
  REQUIRE(f.until_threshold);
  CHECK(*f.until_threshold == 0ns);
  CHECK(*f.trend_at_now < kThreshold);
}

TEST_CASE("jittered and irregular sample times do not bias the forecast", "[forecast][eval]") {
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> jitter(-0.45, 0.45);
  std::uniform_real_distribution<double> coin(0, 1);
  SignalHistory h;
  double last = 0;
  for (int k = 0; k <= 300; ++k) {
    if (k > 0 && k < 300 && coin(rng) < 0.2) continue;  // a fifth of the ticks are missed
    const double t = k == 300 ? 300 : k + jitter(rng);
    h.add(at(t), memory(t));
    last = t;
  }
  REQUIRE(last == 300);
  const Forecast f = eval::forecast(h, kThreshold, at(300));
  REQUIRE(f.slope_per_second);
  CHECK(*f.slope_per_second == Approx(-kMi).epsilon(1e-9));
  REQUIRE(f.until_threshold);
  CHECK(std::abs(seconds(*f.until_threshold) - kUntilAt300) < 1e-3);
}

TEST_CASE("time going backwards resets the history", "[forecast][eval]") {
  SignalHistory h;
  feed(h, 0, 300, 1, memory);
  REQUIRE(h.buckets() == 60);
  REQUIRE(eval::forecast(h, kThreshold, at(300)).until_threshold);

  h.add(at(100), memory(100));
  CHECK(h.buckets() == 1);
  CHECK(h.bucket_data().front().count == 1);
  CHECK_FALSE(eval::forecast(h, kThreshold, at(100)).slope_per_second);

  // A minute of history after the reset gives the forecast back.
  feed(h, 101, 160, 1, memory);
  const Forecast f = eval::forecast(h, kThreshold, at(160));
  REQUIRE(f.until_threshold);
  CHECK(std::abs(seconds(*f.until_threshold) - (4096 - 160 - 100)) < 1e-3);

  SECTION("an equal time is not backwards") {
    const std::size_t before = h.buckets();
    h.add(at(160), memory(160));
    CHECK(h.buckets() == before);
    CHECK(h.bucket_data().back().count >= 2);
  }
}

TEST_CASE("the history stays within window/bucket buckets", "[forecast][eval]") {
  SignalHistory h;
  REQUIRE(h.max_buckets() == 60);
  // An hour of 1 s samples: rising for 50 minutes, then falling 2 MiB/s for 10.
  auto signal = [](double t) {
    return t <= 3000 ? kGi + kMi * t : kGi + kMi * 3000 - 2 * kMi * (t - 3000);
  };
  std::size_t most = 0;
  for (int k = 0; k <= 3600; ++k) {
    h.add(at(k), signal(k));
    most = std::max(most, h.buckets());
  }
  CHECK(most == 60);
  CHECK(h.buckets() == 60);
  // Only the last 5 minutes are kept, so the trend is the recent decline alone.
  CHECK(h.bucket_data().front().first >= at(3300));
  const Forecast f = eval::forecast(h, kThreshold, at(3600));
  REQUIRE(f.slope_per_second);
  CHECK(*f.slope_per_second == Approx(-2 * kMi).epsilon(1e-9));
  REQUIRE(f.until_threshold);
  CHECK(std::abs(seconds(*f.until_threshold) - (signal(3600) - kThreshold) / (2 * kMi)) < 1e-3);
}

TEST_CASE("a step down overshoots, then gives no forecast once it leaves the window",
          "[forecast][eval]") {
  // 2 GiB free, then a 1 GiB drop at t = 300 (a large allocation), then flat again.
  auto signal = [](double t) { return t < 300 ? 2 * kGi : kGi; };
  SignalHistory h;
  feed(h, 0, 299, 1, signal);
  CHECK_FALSE(eval::forecast(h, kThreshold, at(299)).until_threshold);

  // Just after the step the line lags at the old level and does not fall.
  feed(h, 300, 310, 1, signal);
  Forecast f = eval::forecast(h, kThreshold, at(310));
  REQUIRE(f.trend_at_now);
  CHECK(*f.trend_at_now == 2 * kGi);
  CHECK(*f.slope_per_second == 0.0);
  CHECK_FALSE(f.until_threshold);

  // With the step mid-window, more than half of the pairs straddle it: the documented
  // overshoot, a slope of about -step / (0.9 window) from about the new level.
  feed(h, 311, 450, 1, signal);
  f = eval::forecast(h, kThreshold, at(450));
  REQUIRE(f.until_threshold);
  CHECK(*f.slope_per_second == Approx(-kGi / 275).epsilon(0.05));
  CHECK(*f.trend_at_now == Approx(kGi).epsilon(0.05));
  CHECK(*f.until_threshold > 3min);
  CHECK(*f.until_threshold < 5min);

  // It ends before the step leaves the window; after that the history is flat: no forecast.
  int overshoot_ends = -1;
  for (int t = 451; t <= 900; ++t) {
    h.add(at(t), signal(t));
    const Forecast g = eval::forecast(h, kThreshold, at(t));
    if (overshoot_ends < 0 && !g.until_threshold) overshoot_ends = t;
    if (t >= 605) {
      CAPTURE(t);
      REQUIRE(g.slope_per_second);
      REQUIRE(*g.slope_per_second == 0.0);
      REQUIRE_FALSE(g.until_threshold);
    }
  }
  CHECK(overshoot_ends > 450);
  CHECK(overshoot_ends < 480);
}

TEST_CASE("a noisy step down: nothing imminent once the step leaves the window",
          "[forecast][eval]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> noise(-8 * kMi, 8 * kMi);
  SignalHistory h;
  feed(h, 0, 604, 1, [&](double t) { return (t < 300 ? 2 * kGi : kGi) + noise(rng); });
  for (int t = 605; t <= 900; ++t) {
    h.add(at(t), kGi + noise(rng));
    const Forecast f = eval::forecast(h, kThreshold, at(t));
    CAPTURE(t);
    REQUIRE(f.slope_per_second);
    REQUIRE(std::abs(*f.slope_per_second) < 0.05 * kMi);
    // Noise gives a tiny slope of either sign: at most a forecast of hours, never minutes.
    if (f.until_threshold) REQUIRE(*f.until_threshold > 2h);
  }
}

TEST_CASE("a step up (recovery) never gives a forecast", "[forecast][eval]") {
  auto signal = [](double t) { return t < 300 ? kGi : 2 * kGi; };
  SignalHistory h;
  for (int t = 0; t <= 900; ++t) {
    h.add(at(t), signal(t));
    const Forecast f = eval::forecast(h, kThreshold, at(t));
    CAPTURE(t);
    if (t >= 60) REQUIRE(f.slope_per_second);
    if (f.slope_per_second) REQUIRE(*f.slope_per_second >= 0);
    if (t == 450) CHECK(*f.slope_per_second > 0);  // mid-window the step reads as a rise
    REQUIRE_FALSE(f.until_threshold);
  }
}

TEST_CASE("buckets hold the mean of their samples", "[forecast][eval]") {
  SignalHistory h;
  // at(0) is 370 ms into a 5 s bucket.
  h.add(at(0), 10);
  h.add(at(1), 20);
  h.add(at(2), 60);
  REQUIRE(h.buckets() == 1);
  const SignalHistory::Bucket& b = h.bucket_data().front();
  CHECK(b.count == 3);
  CHECK(b.mean_value == Approx(30));
  CHECK(b.mean_offset_ns == Approx(1e9));
  CHECK(b.first == at(0));
  CHECK(b.last == at(2));
  h.add(at(5), 0);  // 5.37 s: the next bucket
  CHECK(h.buckets() == 2);

  SECTION("non-finite values are ignored") {
    h.add(at(6), std::numeric_limits<double>::quiet_NaN());
    h.add(at(7), std::numeric_limits<double>::infinity());
    CHECK(h.buckets() == 2);
    CHECK(h.bucket_data().back().count == 1);
    CHECK(h.bucket_data().back().mean_value == 0);
  }
  SECTION("clear") {
    h.clear();
    CHECK(h.buckets() == 0);
  }
}

TEST_CASE("options: other windows and bad buckets", "[forecast][eval]") {
  SECTION("a zero bucket falls back to 5 s") {
    SignalHistory h(ForecastOptions{.bucket = 0s});
    CHECK(h.options().bucket == 5s);
    CHECK(h.max_buckets() == 60);
  }
  SECTION("a window shorter than a bucket holds one bucket") {
    SignalHistory h(ForecastOptions{.window = 1s, .bucket = 5s});
    CHECK(h.max_buckets() == 1);
    feed(h, 0, 60, 1, memory);
    CHECK(h.buckets() == 1);
  }
  SECTION("a 1 min window (forecast.window's minimum) with the default min_span") {
    // The buckets in a 1 min window span under 60 s, the default min_span: it is lowered to
    // 30 s, or there would never be a forecast.
    SignalHistory h(ForecastOptions{.window = 1min});
    CHECK(h.options().min_span == 30s);
    feed(h, 0, 29, 1, memory);
    CHECK_FALSE(eval::forecast(h, kThreshold, at(29)).slope_per_second);
    feed(h, 30, 600, 1, memory);
    CHECK(h.buckets() == 12);
    const Forecast f = eval::forecast(h, kThreshold, at(600));
    REQUIRE(f.until_threshold);
    CHECK(std::abs(seconds(*f.until_threshold) - (4096 - 600 - 100)) < 1e-3);
  }
  SECTION("a 1 min window of 2 s buckets") {
    SignalHistory h(ForecastOptions{.window = 1min, .bucket = 2s, .min_span = 20s});
    CHECK(h.max_buckets() == 30);
    feed(h, 0, 600, 1, memory);
    CHECK(h.buckets() == 30);
    const Forecast f = eval::forecast(h, kThreshold, at(600));
    REQUIRE(f.until_threshold);
    CHECK(std::abs(seconds(*f.until_threshold) - (4096 - 600 - 100)) < 1e-3);
  }
}
