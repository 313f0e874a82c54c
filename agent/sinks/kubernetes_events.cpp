#include "agent/sinks/kubernetes_events.h"

#include <algorithm>

#include <fmt/format.h>

namespace nodehealth::sinks {

namespace {

constexpr std::string_view kOomOverflow = "oom/overflow";

bool is_transition(const std::string& key) { return key.starts_with("condition/"); }
bool is_oom(const std::string& key) { return key.starts_with("oom/") && key != kOomOverflow; }

}  // namespace

EventAggregator::EventAggregator(EventLimits limits, Steady start)
    : limits_(limits), tokens_(limits.burst), tokens_at_(start) {}

EventAggregator::Entry& EventAggregator::slot(const std::string& key, TimePoint now) {
  auto [it, fresh] = events_.try_emplace(key);
  Entry& e = it->second;
  if (fresh && is_oom(key)) ++oom_keys_;
  if (e.count == 0 || now - e.last > limits_.window) {
    // A new Event: the first occurrence, or the first after a quiet window. Occurrences the
    // bucket never let out are counted, not written.
    suppressed_ += e.count - e.written;
    e = Entry{};
    e.first = now;
  }
  ++e.count;
  e.last = now;
  return e;
}

void EventAggregator::transition(const std::string& type, const std::string& status,
                                 const std::string& reason, const std::string& message,
                                 TimePoint now) {
  Entry& e = slot("condition/" + type + "/" + status, now);
  e.reason = reason;
  e.message = fmt::format("{} is now {}: {}", type, status, message);
  e.type = status == "True" ? "Warning" : "Normal";
}

void EventAggregator::oom_kill(const OomKill& k, TimePoint now) {
  std::string key = "oom/" + (!k.pod_uid.empty() ? "pod " + k.pod_uid : "cgroup " + k.cgroup);
  std::string msg = fmt::format("OOM killed pid {} ({}) in cgroup {}", k.pid, k.comm, k.cgroup);
  if (!k.pod_uid.empty()) msg += fmt::format(", pod UID {}", k.pod_uid);
  if (!k.container_id.empty()) msg += fmt::format(", container {}", k.container_id);
  if (!events_.contains(key) && oom_keys_ >= limits_.max_oom_keys) {
    key = kOomOverflow;  // a storm across many cgroups: one Event counts the rest
    msg = fmt::format("OOM kills in more than {} cgroups at once; the latest: {}",
                      limits_.max_oom_keys, msg);
  }
  Entry& e = slot(key, now);
  e.reason = "OOMKilling";
  e.type = "Warning";
  e.message = std::move(msg);
}

void EventAggregator::refill(Steady steady) {
  if (steady > tokens_at_) {
    tokens_ = std::min<double>(limits_.burst,
                               tokens_ + std::chrono::duration<double>(steady - tokens_at_) /
                                             std::chrono::duration<double>(limits_.refill));
    tokens_at_ = steady;
  }
}

std::vector<EventWrite> EventAggregator::due(TimePoint now, Steady steady) {
  refill(steady);
  std::vector<EventWrite> out;
  for (auto it = events_.begin(); it != events_.end();) {
    const Entry& e = it->second;
    if (e.count == e.written && now - e.last > limits_.window) {
      if (is_oom(it->first)) --oom_keys_;
      it = events_.erase(it);  // written in full and quiet: forget
      continue;
    }
    const bool resting = !e.name.empty() && steady - e.written_at < limits_.patch_gap;
    if (e.count > e.written && !resting)
      out.push_back(
          {it->first, e.reason, e.message, e.type, e.count, e.name, e.first, e.last, steady});
    ++it;
  }
  // Transitions first, then Events not yet on the server, then the longest waiting: a busy
  // pod's growing count cannot starve a new one.
  std::stable_sort(out.begin(), out.end(), [](const EventWrite& a, const EventWrite& b) {
    return std::tuple(!is_transition(a.key), !a.name.empty(), a.first) <
           std::tuple(!is_transition(b.key), !b.name.empty(), b.first);
  });
  const auto allowed = size_t(std::max(0.0, tokens_));
  if (out.size() > allowed) out.resize(allowed);
  return out;
}

EventAggregator::Outcome EventAggregator::outcome(long code, bool had_name) {
  if (code >= 200 && code < 300) return Outcome::kWritten;
  if (code == 404 && had_name) return Outcome::kGone;
  if (code == 400 || code == 403 || code == 404 || code == 422) return Outcome::kRejected;
  return Outcome::kFailed;
}

void EventAggregator::sent(const EventWrite& w, Outcome outcome, const std::string& name) {
  tokens_ = std::max(0.0, tokens_ - 1);
  auto it = events_.find(w.key);
  if (it == events_.end() || it->second.first != w.first) return;  // replaced meanwhile
  Entry& e = it->second;
  switch (outcome) {
    case Outcome::kWritten:
      if (w.count > e.written) suppressed_ += w.count - e.written - 1;
      e.written = std::max(e.written, w.count);
      e.name = name;
      e.written_at = w.due_at;
      break;
    case Outcome::kGone:
      e.name.clear();  // the next occurrence creates it anew, with the full count
      break;
    case Outcome::kRejected:
      if (w.count > e.written) rejected_ += w.count - e.written;
      e.written = std::max(e.written, w.count);  // retrying would be refused the same way
      break;
    case Outcome::kFailed:
      break;
  }
}

size_t EventAggregator::pending() const {
  return size_t(std::count_if(events_.begin(), events_.end(),
                              [](const auto& kv) { return kv.second.count > kv.second.written; }));
}

}  // namespace nodehealth::sinks
