// The agent's recent events: condition changes and OOM kills, bounded, oldest first.
#include <catch2/catch.hpp>

#include "agent/events.h"

using namespace nodehealth;
using namespace std::chrono_literals;

namespace {

const TimePoint kT = TimePoint{} + 1776536418s;

Condition cond(std::string type, ConditionStatus st, TimePoint transition) {
  return {std::move(type), st,         "Reason" + std::string(to_string(st)),
          "message",       transition, transition};
}

std::map<std::string, Condition, std::less<>> by_type(const NodeStatus& s) {
  std::map<std::string, Condition, std::less<>> m;
  for (const auto& c : s.conditions) m[c.type] = c;
  return m;
}

}  // namespace

TEST_CASE("events: a status change is recorded with from, to, reason and its transition time") {
  EventLog log;
  NodeStatus first;
  first.conditions = {cond("MemoryPressure", ConditionStatus::kFalse, kT),
                      cond("DiskPressure", ConditionStatus::kFalse, kT)};
  log.record({}, first, {});  // the first report of each condition is not a change
  CHECK(log.events().empty());

  NodeStatus second;
  second.conditions = {cond("MemoryPressure", ConditionStatus::kTrue, kT + 5s),
                       cond("DiskPressure", ConditionStatus::kFalse, kT)};
  log.record(by_type(first), second, {});
  const auto ev = log.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "ConditionChanged");
  CHECK(ev[0].type == "MemoryPressure");
  CHECK(ev[0].from == "False");
  CHECK(ev[0].to == "True");
  CHECK(ev[0].reason == "ReasonTrue");
  CHECK(ev[0].at == kT + 5s);

  log.record(by_type(second), second, {});  // unchanged: nothing new
  CHECK(log.events().size() == 1);
}

TEST_CASE("events: an OOM kill is recorded with the victim, its cgroup and its pod") {
  EventLog log;
  OomKill k{kT, 4242, "python3", "/kubepods.slice/pod1", "1234-abcd", "c0ffee"};
  log.record({}, NodeStatus{}, {k});
  const auto ev = log.events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "OOMKill");
  CHECK(ev[0].reason == "OOMKilled");
  CHECK(ev[0].message ==
        "pid 4242 (python3) in /kubepods.slice/pod1, pod 1234-abcd, container c0ffee");
  CHECK(ev[0].type.empty());
}

TEST_CASE("events: the log keeps the newest, up to its capacity, oldest first") {
  EventLog log(3);
  for (uint32_t pid = 1; pid <= 5; ++pid)
    log.record({}, NodeStatus{}, {OomKill{kT + pid * 1s, pid, "x", "/a", "", ""}});
  const auto ev = log.events();
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].message == "pid 3 (x) in /a");
  CHECK(ev[2].message == "pid 5 (x) in /a");
}
