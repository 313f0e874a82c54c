// The fork probe's choice of exported cgroups: the busiest per tick, sticky for a while,
// never more than the cap (a bounded label set), with an injected clock.
#include <catch2/catch.hpp>

#include "agent/probes/top_cgroups.h"

using nodehealth::probes::TopCgroups;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {
const TopCgroups::Clock::time_point t0{};
}

TEST_CASE("the busiest cgroups of a tick join; idle ones do not", "[probes]") {
  TopCgroups top(2, minutes(5), 50);
  top.observe({{5, 100}, {0, 101}, {9, 102}, {7, 103}}, t0);
  CHECK(top.ids() == std::vector<uint64_t>{102, 103});
  top.observe({{0, 100}, {0, 101}, {0, 102}, {0, 103}}, t0 + seconds(1));
  CHECK(top.ids() == std::vector<uint64_t>{102, 103});  // sticky
}

TEST_CASE("a cgroup leaves when it was last selected longer ago than keep", "[probes]") {
  TopCgroups top(20, minutes(5), 50);
  top.observe({{3, 1}}, t0);
  top.observe({{4, 2}}, t0 + minutes(4));
  top.observe({}, t0 + minutes(5));
  CHECK(top.ids() == std::vector<uint64_t>{1, 2});
  top.observe({}, t0 + minutes(5) + seconds(1));
  CHECK(top.ids() == std::vector<uint64_t>{2});
  top.observe({{1, 2}}, t0 + minutes(9));  // selected again: kept from now
  top.observe({}, t0 + minutes(13));
  CHECK(top.ids() == std::vector<uint64_t>{2});
}

TEST_CASE("many short-lived busy cgroups never export more than the cap", "[probes]") {
  TopCgroups top(20, minutes(5), 50);
  uint64_t next = 1000;
  for (int tick = 0; tick < 300; ++tick) {  // 5 minutes of ticks, 20 new busy cgroups each
    std::vector<std::pair<uint64_t, uint64_t>> recent;
    for (int i = 0; i < 40; ++i) recent.emplace_back(i < 20 ? 100 : 1, next++);
    top.observe(std::move(recent), t0 + seconds(tick));
    REQUIRE(top.ids().size() <= 50);
  }
  // The survivors are the most recent selections: the last two ticks' 20 each, then 10.
  const auto ids = top.ids();
  REQUIRE(ids.size() == 50);
  CHECK(ids.back() == next - 21);  // the last tick's busiest 20 were next-40 .. next-21
  // Of the tick before those two, the 10 with the largest ids (ties go by id).
  CHECK(ids.front() == next - 3 * 40 + 10);
}

TEST_CASE("a forgotten cgroup leaves at once", "[probes]") {
  TopCgroups top(20, minutes(5), 50);
  top.observe({{3, 7}, {3, 8}}, t0);
  top.forget(7);
  CHECK(!top.contains(7));
  CHECK(top.contains(8));
  CHECK(top.ids() == std::vector<uint64_t>{8});
}
