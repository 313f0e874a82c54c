// The agent's short history of what it saw happen: condition changes and OOM kills, newest
// kept, bounded, published with every NodeStatus (/status "events", the status page).
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <vector>

#include "nodehealth/condition.h"
#include "nodehealth/sample.h"

namespace nodehealth {

class EventLog {
 public:
  static constexpr std::size_t kDefaultCapacity = 50;
  explicit EventLog(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // Records the OOM kills of this sample, and each condition of `next` whose status differs
  // from the one in `previous` (a condition new in `next` is a first report, not a change);
  // returns what it recorded, oldest first.
  std::vector<StatusEvent> record(const std::map<std::string, Condition, std::less<>>& previous,
                                  const NodeStatus& next, const std::vector<OomKill>& kills);
  // Oldest first.
  std::vector<StatusEvent> events() const { return {events_.begin(), events_.end()}; }

 private:
  void push(StatusEvent e);

  std::size_t capacity_;
  std::deque<StatusEvent> events_;
};

}  // namespace nodehealth
