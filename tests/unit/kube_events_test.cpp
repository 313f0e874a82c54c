// The Kubernetes sink's Event aggregation and rate limit, replayed with injected time: an
// OOM storm of 1000 kills in one second, transitions, windows, expired Events.
#include <catch2/catch.hpp>

#include <map>

#include "agent/sinks/kubernetes_events.h"

using namespace nodehealth;
using namespace std::chrono_literals;
using sinks::EventAggregator;
using sinks::EventWrite;

namespace {

// Plays the sink's worker: flushes what is due, "writes" it (the server keeps name ->
// count), and counts the writes.
struct Server {
  EventAggregator agg;
  TimePoint now = TimePoint{} + std::chrono::hours(24 * 365 * 56);
  EventAggregator::Steady steady = EventAggregator::Steady{} + 1000h;
  std::map<std::string, EventWrite> events;  // name -> the last write
  int writes = 0, next = 0;

  explicit Server(sinks::EventLimits l = {}) : agg(l, EventAggregator::Steady{} + 1000h) {}
  void advance(std::chrono::nanoseconds d) {
    now += std::chrono::duration_cast<WallClock::duration>(d);
    steady += d;
  }
  std::vector<EventWrite> flush() {
    auto due = agg.due(now, steady);
    for (const auto& w : due) {
      const std::string name = w.name.empty() ? "ev" + std::to_string(next++) : w.name;
      events[name] = w;
      ++writes;
      agg.sent(w, EventAggregator::Outcome::kWritten, name);
    }
    return due;
  }
  uint64_t total(const std::string& reason) const {
    uint64_t n = 0;
    for (const auto& [_, w] : events) n += w.reason == reason ? w.count : 0;
    return n;
  }
};

OomKill kill(int i, const std::string& pod) {
  return {{}, uint32_t(1000 + i), "stress", "/kubepods.slice/pod" + pod, pod, "c0"};
}

}  // namespace

TEST_CASE("1000 OOM kills of one pod in a second: a handful of writes, every kill counted",
          "[kube]") {
  Server s;
  // The worker flushes whenever the agent publishes (every 50 ms, as events sample) while the
  // pod is killed 1000 times within the second.
  for (int batch = 0; batch < 20; ++batch) {
    for (int i = 0; i < 50; ++i) {
      s.agg.oom_kill(kill(batch * 50 + i, "p1"), s.now);
      s.advance(1ms);
    }
    s.flush();
  }
  const int in_storm = s.writes;
  for (int t = 0; t < 60; ++t) {
    s.advance(1s);
    s.flush();
  }
  INFO("writes during the storm " << in_storm << ", in all " << s.writes);
  CHECK(in_storm == 1);           // created; the patch waits for the gap
  CHECK(s.writes == 2);           // then one patch with the whole count
  REQUIRE(s.events.size() == 1);  // one Event, created once and patched
  const EventWrite& ev = s.events.begin()->second;
  CHECK(ev.count == 1000);
  CHECK(ev.type == "Warning");
  CHECK(ev.reason == "OOMKilling");
  CHECK(ev.message ==
        "OOM killed pid 1999 (stress) in cgroup /kubepods.slice/podp1, pod UID p1, "
        "container c0");
  CHECK(s.agg.suppressed() == uint64_t(1000 - s.writes));
  CHECK(s.agg.pending() == 0);
}

TEST_CASE("a storm in one pod is patched once per gap, however often the agent publishes",
          "[kube]") {
  Server s;
  // One kill every 50 ms for 10 s, a flush after each: 200 kills.
  for (int i = 0; i < 200; ++i) {
    s.agg.oom_kill(kill(i, "p1"), s.now);
    s.flush();
    s.advance(50ms);
  }
  INFO("writes " << s.writes);
  CHECK(s.writes >= 10);  // the count follows, a second behind at most
  CHECK(s.writes <= 11);  // the create and one patch per second, not one per flush
  s.advance(1s);
  s.flush();
  CHECK(s.events.begin()->second.count == 200);
  CHECK(s.agg.pending() == 0);
}

TEST_CASE("1000 OOM kills in 1000 pods in a second: the token bucket bounds the writes", "[kube]") {
  Server s;
  for (int i = 0; i < 1000; ++i) {
    s.agg.oom_kill(kill(i, "pod-" + std::to_string(i)), s.now);
    s.advance(1ms);
    if (i % 100 == 99) s.flush();
  }
  CHECK(s.writes == 20);  // the whole burst, no more
  // Then one token every 3 s: 10 more in the next 30 s.
  for (int t = 0; t < 30; ++t) {
    s.advance(1s);
    s.flush();
  }
  CHECK(s.writes >= 29);
  CHECK(s.writes <= 31);
  for (int t = 0; t < 60; ++t) {
    s.advance(1s);
    s.flush();
  }
  // 32 pods apart, the other 968 kills in one overflow Event: 33 Events, each written once.
  CHECK(s.writes == 33);
  CHECK(s.events.size() == 33);
  CHECK(s.total("OOMKilling") == 1000);
  CHECK(s.agg.pending() == 0);
  size_t overflow = 0;
  for (const auto& [_, w] : s.events) {
    if (w.key != "oom/overflow") continue;
    ++overflow;
    CHECK(w.count == 968);
    CHECK_THAT(w.message, Catch::StartsWith("OOM kills in more than 32 cgroups at once; the "
                                            "latest: OOM killed pid 1999"));
  }
  CHECK(overflow == 1);
}

TEST_CASE("transitions: Warning when a problem starts, Normal when it clears, ahead of OOM kills",
          "[kube]") {
  Server s;
  for (int i = 0; i < 40; ++i) s.agg.oom_kill(kill(i, "pod-" + std::to_string(i)), s.now);
  s.flush();
  REQUIRE(s.writes == 20);  // the bucket is empty
  s.agg.transition("DiskEvictionThresholdMet", "True", "KubeletHasDiskPressure", "nodefs low",
                   s.now);
  CHECK(s.flush().empty());
  s.advance(3s);  // one token
  auto due = s.flush();
  REQUIRE(due.size() == 1);
  CHECK(due[0].type == "Warning");
  CHECK(due[0].reason == "KubeletHasDiskPressure");
  CHECK(due[0].message == "DiskEvictionThresholdMet is now True: nodefs low");
  s.agg.transition("DiskEvictionThresholdMet", "False", "KubeletHasNoDiskPressure", "fine", s.now);
  s.advance(3s);
  due = s.flush();
  REQUIRE(due.size() == 1);
  CHECK(due[0].type == "Normal");
}

TEST_CASE("a repeat within the window patches the Event; after it, a new Event", "[kube]") {
  Server s;
  s.agg.transition("SlowDisk", "True", "DiskLatencyHigh", "sda p99 900ms", s.now);
  auto first = s.flush();
  REQUIRE(first.size() == 1);
  CHECK(first[0].name.empty());  // created
  s.advance(5min);
  s.agg.transition("SlowDisk", "True", "DiskLatencyHigh", "sda p99 800ms", s.now);
  auto again = s.flush();
  REQUIRE(again.size() == 1);
  CHECK(again[0].name == "ev0");  // patched
  CHECK(again[0].count == 2);
  s.advance(11min);
  CHECK(s.flush().empty());
  CHECK(s.agg.size() == 0);  // written in full and quiet for a window: forgotten
  s.agg.transition("SlowDisk", "True", "DiskLatencyHigh", "sda p99 700ms", s.now);
  auto fresh = s.flush();
  REQUIRE(fresh.size() == 1);
  CHECK(fresh[0].name.empty());
  CHECK(fresh[0].count == 1);
}

TEST_CASE("an Event gone from the server is created anew with its full count; failures wait",
          "[kube]") {
  Server s;
  s.agg.oom_kill(kill(1, "p"), s.now);
  s.flush();
  s.agg.oom_kill(kill(2, "p"), s.now);
  CHECK(s.agg.due(s.now, s.steady).empty());  // patched a moment ago: it waits for the gap
  s.advance(1s);
  auto due = s.agg.due(s.now, s.steady);
  REQUIRE(due.size() == 1);
  CHECK(due[0].name == "ev0");
  s.agg.sent(due[0], EventAggregator::outcome(404, true), "");  // expired on the server
  s.agg.oom_kill(kill(3, "p"), s.now);
  due = s.agg.due(s.now, s.steady);
  REQUIRE(due.size() == 1);
  CHECK(due[0].name.empty());
  CHECK(due[0].count == 3);
  s.agg.sent(due[0], EventAggregator::outcome(500, false), "");  // pending, cost a token
  CHECK(s.agg.pending() == 1);
  due = s.agg.due(s.now, s.steady);
  REQUIRE(due.size() == 1);
  CHECK(due[0].count == 3);
}

TEST_CASE("Events the API refuses (RBAC, a bad object) are dropped, not retried forever",
          "[kube]") {
  using O = EventAggregator::Outcome;
  CHECK(EventAggregator::outcome(201, false) == O::kWritten);
  CHECK(EventAggregator::outcome(404, true) == O::kGone);
  CHECK(EventAggregator::outcome(404, false) == O::kRejected);  // no such namespace
  CHECK(EventAggregator::outcome(403, false) == O::kRejected);
  CHECK(EventAggregator::outcome(422, true) == O::kRejected);
  CHECK(EventAggregator::outcome(0, false) == O::kFailed);
  CHECK(EventAggregator::outcome(409, false) == O::kFailed);
  CHECK(EventAggregator::outcome(429, false) == O::kFailed);
  CHECK(EventAggregator::outcome(503, false) == O::kFailed);
  Server s;
  for (int i = 0; i < 5; ++i) s.agg.oom_kill(kill(i, "p"), s.now);
  auto due = s.agg.due(s.now, s.steady);
  REQUIRE(due.size() == 1);
  s.agg.sent(due[0], EventAggregator::outcome(403, false), "");
  CHECK(s.agg.rejected() == 5);
  CHECK(s.agg.pending() == 0);
  CHECK(s.agg.due(s.now, s.steady).empty());
  s.agg.oom_kill(kill(6, "p"), s.now);  // a new occurrence is tried again (RBAC may be fixed)
  due = s.agg.due(s.now, s.steady);
  REQUIRE(due.size() == 1);
  CHECK(due[0].count == 6);
}
