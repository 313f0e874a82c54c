#include "agent/events.h"

#include <fmt/format.h>

namespace nodehealth {

void EventLog::push(StatusEvent e) {
  events_.push_back(std::move(e));
  while (events_.size() > capacity_) events_.pop_front();
}

std::vector<StatusEvent> EventLog::record(
    const std::map<std::string, Condition, std::less<>>& previous, const NodeStatus& next,
    const std::vector<OomKill>& kills) {
  std::vector<StatusEvent> added;
  for (const auto& k : kills) {
    std::string message = fmt::format("pid {} ({}) in {}", k.pid, k.comm, k.cgroup);
    if (!k.pod_uid.empty()) message += fmt::format(", pod {}", k.pod_uid);
    if (!k.container_id.empty()) message += fmt::format(", container {}", k.container_id);
    added.push_back({k.at, "OOMKill", "", "", "", "OOMKilled", std::move(message)});
  }
  for (const auto& c : next.conditions) {
    auto prev = previous.find(c.type);
    if (prev == previous.end() || prev->second.status == c.status) continue;
    added.push_back({c.last_transition, "ConditionChanged", c.type, to_string(prev->second.status),
                     to_string(c.status), c.reason, c.message});
  }
  for (const auto& e : added) push(e);
  return added;
}

}  // namespace nodehealth
