// Which cgroups the fork probe exports: the ones creating the most tasks lately, each kept
// a while after its last burst, and never more than a fixed number at once, so the label
// set of nodehealth_process_{forks,exits}_total stays bounded however many short-lived
// cgroups a node runs. Pure: the clock is passed in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace nodehealth::probes {

class TopCgroups {
 public:
  using Clock = std::chrono::steady_clock;
  // `per_tick`: the busiest cgroups of one tick that join the set; `keep`: how long a
  // cgroup stays after its last selection; `cap`: the most cgroups exported at once (the
  // least recently selected go first).
  TopCgroups(std::size_t per_tick, Clock::duration keep, std::size_t cap)
      : per_tick_(per_tick), keep_(keep), cap_(cap) {}

  // One tick: (tasks created since the last tick, cgroup id) of every cgroup seen.
  void observe(std::vector<std::pair<uint64_t, uint64_t>> recent, Clock::time_point now);
  // Forget a cgroup (removed from the kernel map).
  void forget(uint64_t id) { selected_.erase(id); }
  bool contains(uint64_t id) const { return selected_.contains(id); }
  // The exported cgroup ids, ascending.
  std::vector<uint64_t> ids() const;

 private:
  std::size_t per_tick_;
  Clock::duration keep_;
  std::size_t cap_;
  std::map<uint64_t, Clock::time_point> selected_;  // id -> last selected
};

}  // namespace nodehealth::probes
