// Forecast of the time until an eviction signal crosses its threshold, for the "eviction
// imminent" conditions: the agent warns before the kubelet evicts. Pure and deterministic: no
// clock, no I/O; time is whatever the caller passes.
//
// Method. Samples of one signal (memory.available, nodefs.available, pid.available, ...) are
// averaged into fixed time buckets (default 5 s, aligned to the epoch), each remembered as the
// mean of its values at the mean of its sample times, so irregular, jittered sampling does not
// bias the trend. The trend over the last `window` (default 5 min) is a Theil–Sen line: its
// slope is the median of the slopes between every pair of buckets, its intercept the median of
// (v_i - slope * t_i). A median ignores a minority of wild points, so a single-sample spike (a
// failed read, a short-lived allocation) moves one bucket, which touches only n-1 of the
// n(n-1)/2 pairs, and barely moves the forecast, where a least-squares fit would follow it. The
// forecast is the time for that line, starting from its own value at `now`, to fall to the
// threshold: (trend(now) - threshold) / -slope. Times are doubles in seconds relative to the
// first bucket used, so large epoch values lose no precision.
//
// Bounds. A history keeps at most window/bucket buckets (60 by default) in a deque that stops
// growing once the window is full; adding a sample allocates nothing beyond the deque's own
// blocks. A forecast costs O(n^2) time and memory for n buckets (n = 60: at most 1770 pair
// slopes, about 14 KiB, allocated per call; medians by std::nth_element, O(n^2) on average), so
// keep window/bucket in the tens or low hundreds.
//
// No forecast (until_threshold is nullopt) when:
//   - fewer than `min_buckets` buckets lie in the window ending at `now`, or they span less than
//     `min_span` (first to last sample): slope_per_second is nullopt too. A history whose last
//     sample is older than the window (a source that stopped) counts as empty;
//   - the slope is >= 0: the signal is flat or recovering. This holds even when the signal is
//     already below the threshold: the kubelet's own pressure condition reports that case;
//   - the time would not fit in std::chrono::nanoseconds (about 292 years): a falling but
//     practically flat signal.
// When the slope is negative and the trend line at `now` is at or below the threshold, the
// forecast is 0. Callers compare until_threshold with a horizon ("imminent" = within N
// minutes): noise on a flat signal gives a small slope of either sign, so a flat signal can
// have a forecast, but one of hours or days (+-3% uniform noise on 2 GiB: over 6 hours).
//
// Step changes. A step up (a big file deleted, memory freed) makes the pair slopes across it
// positive: the slope rises and the forecast goes away, as it should. A step down is a one-time
// drop, but a line through the window cannot tell it from a decline:
//   - just after the step, few pairs straddle it: the slope stays about 0 and the line lags at
//     the old level (the kubelet's own signal sees the new value; the forecast does not);
//   - while the step sits in about the middle seventh of the window (k(n-k) > n(n-1)/4 for k
//     buckets after it; 35 s of the default 5 min with clean data, and a gradual build-up with
//     noise), more than half of the pairs straddle it and the median slope is about
//     -step / (0.9 window), from about the new level: the forecast OVERSHOOTS and predicts a
//     continued fall, (new level - threshold) / step * 0.9 window away. A 1 GiB drop leaving
//     1 GiB above a 100 MiB threshold reads as "about 4 minutes" for about 35 s;
//   - after that the slope returns to about 0, and once the step has left the window the
//     history is flat again and there is no forecast.
// The overshoot errs on the side of warning early; against a horizon H it reads as imminent
// only when the drop exceeds (0.9 window / H) of the headroom left after it (with H = window:
// a drop of about half the headroom or more in one go).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "nodehealth/clock.h"

namespace nodehealth::eval {

struct ForecastOptions {
  std::chrono::nanoseconds window = std::chrono::minutes(5);  // history used for the trend
  std::chrono::nanoseconds bucket = std::chrono::seconds(5);  // samples averaged per bucket
  // No forecast from less history; at most window/2 (a longer one is lowered to that).
  std::chrono::nanoseconds min_span = std::chrono::seconds(60);
  std::size_t min_buckets = 6;  // (at least 2 are always needed)
};

// Bounded history of one signal: at most window/bucket buckets (each the mean of its samples).
// A bucket <= 0 is replaced by the default (5 s), a window shorter than one bucket by one bucket,
// a min_span above window/2 by window/2.
class SignalHistory {
 public:
  // One bucket: the samples whose time falls in [index * bucket, (index + 1) * bucket) since the
  // epoch.
  struct Bucket {
    std::int64_t index = 0;
    TimePoint first;            // time of the first sample
    TimePoint last;             // time of the last sample
    double mean_offset_ns = 0;  // mean sample time, as nanoseconds after `first`
    double mean_value = 0;      // mean of the values
    std::uint32_t count = 0;    // samples in the bucket
  };

  explicit SignalHistory(ForecastOptions opts = {});

  // `t` must not go backwards: a time before the last sample's clears the history first (the
  // clock was stepped, or the source restarted). Non-finite values (NaN, inf) are ignored.
  void add(TimePoint t, double value);
  void clear();

  std::size_t buckets() const { return buckets_.size(); }
  std::size_t max_buckets() const { return max_buckets_; }
  const std::deque<Bucket>& bucket_data() const { return buckets_; }
  const ForecastOptions& options() const { return opts_; }

  // The bucket index of `t` (floor division of its nanoseconds since the epoch).
  std::int64_t bucket_index(TimePoint t) const;

 private:
  ForecastOptions opts_;
  std::size_t max_buckets_;
  std::deque<Bucket> buckets_;
};

struct Forecast {
  // Robust trend (units per second); nullopt: not enough history.
  std::optional<double> slope_per_second;
  // nullopt: not falling towards the threshold, or not enough history; 0 when already below.
  std::optional<std::chrono::nanoseconds> until_threshold;
  // The trend line's value at `now`; nullopt exactly when slope_per_second is.
  std::optional<double> trend_at_now;
};

// The signal is "available" (falls towards the threshold); time until the robust trend line
// reaches `threshold`, extrapolated from the trend line's value at `now`. Uses the buckets in
// the window ending at `now`; `now` is normally the last sample's time.
Forecast forecast(const SignalHistory& h, double threshold, TimePoint now);

}  // namespace nodehealth::eval
