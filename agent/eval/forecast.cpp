#include "agent/eval/forecast.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace nodehealth::eval {
namespace {

using std::chrono::nanoseconds;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t ns_since_epoch(TimePoint t) {
  return std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

// Nanoseconds from `from` to `to`, as a double (exact below 2^53 ns, about 104 days).
double ns_between(TimePoint from, TimePoint to) {
  return static_cast<double>(std::chrono::duration_cast<nanoseconds>(to - from).count());
}

// Median of `v` (non-empty); reorders `v`. Mean of the two middle values for an even size.
double median(std::vector<double>& v) {
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  const double upper = *mid;
  if (v.size() % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), mid);
  return lower + (upper - lower) / 2;
}

ForecastOptions sanitize(ForecastOptions o) {
  if (o.bucket <= nanoseconds::zero()) o.bucket = ForecastOptions{}.bucket;
  if (o.window < o.bucket) o.window = o.bucket;
  // The buckets in a window span less than the window itself: a min_span at or near the window
  // (60 s with forecast.window: 1m) could never be met, and no forecast would ever be made.
  if (o.min_span > o.window / 2) o.min_span = o.window / 2;
  return o;
}

}  // namespace

SignalHistory::SignalHistory(ForecastOptions opts)
    : opts_(sanitize(opts)),
      max_buckets_(
          static_cast<std::size_t>(std::max<std::int64_t>(1, opts_.window / opts_.bucket))) {}

std::int64_t SignalHistory::bucket_index(TimePoint t) const {
  return floor_div(ns_since_epoch(t), opts_.bucket.count());
}

void SignalHistory::clear() { buckets_.clear(); }

void SignalHistory::add(TimePoint t, double value) {
  if (!std::isfinite(value)) return;
  if (!buckets_.empty() && t < buckets_.back().last) buckets_.clear();

  const std::int64_t index = bucket_index(t);
  if (buckets_.empty() || buckets_.back().index != index) {
    // Drop what the new bucket pushes out of the window (also after a gap in the samples).
    const auto span = static_cast<std::int64_t>(max_buckets_);
    while (!buckets_.empty() && buckets_.front().index <= index - span) buckets_.pop_front();
    buckets_.push_back(Bucket{index, t, t, 0.0, value, 1});
    return;
  }
  Bucket& b = buckets_.back();
  ++b.count;
  const double n = b.count;
  b.last = t;
  b.mean_offset_ns += (ns_between(b.first, t) - b.mean_offset_ns) / n;
  b.mean_value += (value - b.mean_value) / n;
}

Forecast forecast(const SignalHistory& h, double threshold, TimePoint now) {
  Forecast out;
  const auto& all = h.bucket_data();

  // The buckets in the window ending at `now`; later ones (now before the last sample) are kept.
  const std::int64_t oldest = h.bucket_index(now) - static_cast<std::int64_t>(h.max_buckets());
  auto begin = std::find_if(all.begin(), all.end(),
                            [oldest](const SignalHistory::Bucket& b) { return b.index > oldest; });
  const auto n = static_cast<std::size_t>(all.end() - begin);
  if (n < std::max<std::size_t>(2, h.options().min_buckets)) return out;
  if (all.back().last - begin->first < h.options().min_span) return out;

  // Seconds relative to the first bucket's mean time.
  const SignalHistory::Bucket& base = *begin;
  std::vector<double> x(n), v(n);
  for (std::size_t i = 0; i < n; ++i) {
    const SignalHistory::Bucket& b = begin[static_cast<std::ptrdiff_t>(i)];
    x[i] = (ns_between(base.first, b.first) + b.mean_offset_ns - base.mean_offset_ns) / 1e9;
    v[i] = b.mean_value;
  }

  std::vector<double> work;
  work.reserve(n * (n - 1) / 2);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double dx = x[j] - x[i];
      if (dx > 0) work.push_back((v[j] - v[i]) / dx);  // always > 0: buckets are disjoint
    }
  }
  if (work.empty()) return out;
  const double slope = median(work);

  work.resize(n);
  for (std::size_t i = 0; i < n; ++i) work[i] = v[i] - slope * x[i];
  const double intercept = median(work);

  const double x_now = (ns_between(base.first, now) - base.mean_offset_ns) / 1e9;
  const double at_now = intercept + slope * x_now;
  out.slope_per_second = slope;
  out.trend_at_now = at_now;

  if (!(slope < 0)) return out;  // flat or recovering
  if (at_now <= threshold) {
    out.until_threshold = nanoseconds::zero();
    return out;
  }
  const double ns = (at_now - threshold) / -slope * 1e9;
  if (!(ns < 0x1p63)) return out;  // does not fit in int64 nanoseconds
  out.until_threshold = nanoseconds(std::llround(ns));
  return out;
}

}  // namespace nodehealth::eval
