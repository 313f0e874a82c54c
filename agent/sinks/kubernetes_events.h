// Event aggregation and rate limiting for the Kubernetes sink: no I/O, time passed in, so
// an OOM storm can be replayed in a unit test.
//
// Occurrences with the same key (a condition type and its new status, or the pod / cgroup of
// an OOM kill) within `window` of each other make one Event whose `count` grows: the first
// write creates it, later ones patch count, message and lastTimestamp. Every write takes a
// token from a bucket of `burst` tokens refilled one per `refill`, so whatever happens the
// sink writes at most burst + elapsed/refill Events; and an Event on the server is patched
// again no sooner than `patch_gap` after its last write, so a storm in one pod costs one
// write per gap however often the agent samples. At most `max_keys` OOM events are kept
// apart; kills in further cgroups go into one overflow Event, still counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nodehealth/clock.h"
#include "nodehealth/sample.h"

namespace nodehealth::sinks {

struct EventLimits {
  int burst = 20;
  std::chrono::milliseconds refill{3000};
  std::chrono::nanoseconds window = std::chrono::minutes(10);
  std::chrono::milliseconds patch_gap{1000};
  size_t max_oom_keys = 32;
};

// One Event write the sink may make now.
struct EventWrite {
  std::string key;
  std::string reason, message, type;  // type: Warning | Normal
  uint64_t count = 0;                 // occurrences so far, the Event's count
  std::string name;                   // "" -> create; else patch this Event
  TimePoint first{}, last{};
  std::chrono::steady_clock::time_point due_at{};  // when due() handed it out
};

class EventAggregator {
 public:
  using Steady = std::chrono::steady_clock::time_point;
  EventAggregator(EventLimits limits, Steady start);

  // A condition (its API type) turned `status`: Warning when a problem starts, Normal when
  // it clears.
  void transition(const std::string& type, const std::string& status, const std::string& reason,
                  const std::string& message, TimePoint now);
  void oom_kill(const OomKill& kill, TimePoint now);

  // The writes due, at most as many as there are tokens: transitions first, then the oldest;
  // an Event written less than patch_gap ago waits. Forgets events written in full and quiet
  // for a window.
  std::vector<EventWrite> due(TimePoint now, Steady steady);
  // The outcome of one write from due(); it took a token either way.
  enum class Outcome {
    kWritten,   // the Event `name` now holds the write's count
    kGone,      // 404: the Event expired on the server, create it anew with the next occurrence
    kFailed,    // no answer, 5xx, 409, 429: try again
    kRejected,  // 400, 403, 422: the API will not take it (bad object, RBAC): drop, not retry
  };
  void sent(const EventWrite& w, Outcome outcome, const std::string& name);
  static Outcome outcome(long http_code, bool had_name);  // 0: no answer

  uint64_t suppressed() const { return suppressed_; }  // occurrences that cost no write
  uint64_t rejected() const { return rejected_; }      // occurrences the API refused
  size_t pending() const;                              // events with unwritten occurrences
  size_t size() const { return events_.size(); }

 private:
  struct Entry {
    std::string reason, message, type;
    uint64_t count = 0, written = 0;
    std::string name;
    TimePoint first{}, last{};
    Steady written_at{};  // the last write the server took
  };
  Entry& slot(const std::string& key, TimePoint now);
  void refill(Steady steady);

  EventLimits limits_;
  std::map<std::string, Entry> events_;
  size_t oom_keys_ = 0;
  double tokens_;
  Steady tokens_at_;
  uint64_t suppressed_ = 0, rejected_ = 0;
};

}  // namespace nodehealth::sinks
