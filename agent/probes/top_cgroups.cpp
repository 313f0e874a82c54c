#include "agent/probes/top_cgroups.h"

#include <algorithm>

namespace nodehealth::probes {

void TopCgroups::observe(std::vector<std::pair<uint64_t, uint64_t>> recent, Clock::time_point now) {
  const std::size_t n = std::min(per_tick_, recent.size());
  std::partial_sort(recent.begin(), recent.begin() + static_cast<std::ptrdiff_t>(n), recent.end(),
                    [](const auto& a, const auto& b) { return a > b; });
  for (std::size_t i = 0; i < n; ++i)
    if (recent[i].first > 0) selected_[recent[i].second] = now;
  std::erase_if(selected_, [&](const auto& e) { return now - e.second > keep_; });
  if (selected_.size() <= cap_) return;
  // Over the cap: keep the most recently selected (ties: the larger id, for determinism).
  std::vector<std::pair<Clock::time_point, uint64_t>> order;
  order.reserve(selected_.size());
  for (const auto& [id, at] : selected_) order.emplace_back(at, id);
  std::sort(order.begin(), order.end());
  for (std::size_t i = 0; i < order.size() - cap_; ++i) selected_.erase(order[i].second);
}

std::vector<uint64_t> TopCgroups::ids() const {
  std::vector<uint64_t> out;
  out.reserve(selected_.size());
  for (const auto& [id, at] : selected_) out.push_back(id);
  return out;
}

}  // namespace nodehealth::probes
