// The probe conditions, pure: RecentOOMKills, ForkStorm, SlowDisk, PacketDrops from
// constructed samples and an injected clock.
#include <catch2/catch.hpp>

#include "agent/eval/evaluator.h"

using namespace nodehealth;
using std::chrono::seconds;

namespace {

Sample with_probes(TimePoint t, std::initializer_list<const char*> names) {
  Sample s;
  s.taken_at = t;
  for (const char* n : names) s.probes.probes.push_back(ProbeState{n, true, "", 0, {}});
  return s;
}

const Condition* find(const eval::Evaluation& e, std::string_view type) {
  for (const auto& c : e.status.conditions)
    if (c.type == type) return &c;
  return nullptr;
}

Log2Histogram hist(std::size_t slot, uint64_t n) {
  Log2Histogram h;
  h.slots.assign(40, 0);
  h.slots[slot] = n;
  return h;
}

}  // namespace

TEST_CASE("probe conditions exist only while their probe is enabled", "[eval][probes]") {
  FakeClock clock;
  const auto e = eval::evaluate(Sample{}, {}, {}, clock.now());
  for (const char* t : {"RecentOOMKills", "ForkStorm", "SlowDisk", "PacketDrops"})
    CHECK(find(e, t) == nullptr);
  Sample s = with_probes(clock.now(), {"oom"});
  s.probes.probes.push_back(ProbeState{"fork", false, "tracepoint x does not exist", 0, {}});
  const auto e2 = eval::evaluate(s, {}, {}, clock.now());
  REQUIRE(find(e2, "RecentOOMKills"));
  CHECK(find(e2, "RecentOOMKills")->status == ConditionStatus::kFalse);
  REQUIRE(find(e2, "ForkStorm"));
  CHECK(find(e2, "ForkStorm")->status == ConditionStatus::kUnknown);
  CHECK(find(e2, "ForkStorm")->reason == "ProbeDown");
  CHECK(find(e2, "ForkStorm")->message ==
        "no data: probe fork is down: tracepoint x does not exist");
}

TEST_CASE("RecentOOMKills is True within the window after a kill and clears by itself",
          "[eval][probes]") {
  FakeClock clock;
  eval::EvalConfig cfg;
  cfg.oom_window = std::chrono::minutes(5);
  Sample s = with_probes(clock.now(), {"oom"});
  OomKill k;
  k.at = clock.now();
  k.pid = 4242;
  k.comm = "java";
  k.cgroup = "/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope";
  k.pod_uid = "1";
  s.oom_kills.push_back(k);
  auto e = eval::evaluate(s, {}, cfg, clock.now());
  const Condition* c = find(e, "RecentOOMKills");
  REQUIRE(c);
  CHECK(c->status == ConditionStatus::kTrue);
  CHECK(c->reason == "OOMKillsObserved");
  CHECK(c->message ==
        "1 OOM kill(s) in the last 5m0s; last: pid 4242 (java) in cgroup "
        "/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope, pod UID 1");
  s.oom_kills.clear();
  clock.advance(std::chrono::minutes(4));
  e = eval::evaluate(s, e.state, cfg, clock.now());
  CHECK(find(e, "RecentOOMKills")->status == ConditionStatus::kTrue);
  clock.advance(std::chrono::minutes(2));
  e = eval::evaluate(s, e.state, cfg, clock.now());
  CHECK(find(e, "RecentOOMKills")->status == ConditionStatus::kFalse);
  CHECK(find(e, "RecentOOMKills")->last_transition == clock.now());
}

TEST_CASE("ForkStorm follows the node's task creation rate over 30s", "[eval][probes]") {
  FakeClock clock;
  eval::EvalConfig cfg;
  cfg.fork_storm_rate = 1000;
  eval::EvalState st;
  uint64_t forks = 0;
  auto step = [&](uint64_t per_second) {
    clock.advance(seconds(1));
    forks += per_second;
    Sample s = with_probes(clock.now(), {"fork"});
    s.probes.forks_total = forks;
    auto e = eval::evaluate(s, st, cfg, clock.now());
    st = e.state;
    return *find(e, "ForkStorm");
  };
  CHECK(step(100).message == "collecting the fork rate");
  for (int i = 0; i < 40; ++i) step(100);
  CHECK(step(100).status == ConditionStatus::kFalse);
  Condition c;
  for (int i = 0; i < 40; ++i) c = step(5000);
  CHECK(c.status == ConditionStatus::kTrue);
  CHECK(c.reason == "ForkRateHigh");
  CHECK(c.message == "5000 tasks created per second over the last 30s (threshold 1000/s)");
  for (int i = 0; i < 40; ++i) c = step(10);
  CHECK(c.status == ConditionStatus::kFalse);
}

TEST_CASE("SlowDisk judges each device's p99 over the last minute", "[eval][probes]") {
  FakeClock clock;
  eval::EvalConfig cfg;
  cfg.slow_disk_p99 = std::chrono::milliseconds(100);
  eval::EvalState st;
  Log2Histogram vda = hist(17, 0), loop0 = hist(17, 0);  // slot 17: 131-262 us
  auto step = [&] {
    clock.advance(seconds(1));
    Sample s = with_probes(clock.now(), {"biolatency"});
    s.probes.block_latency["vda"] = vda;
    s.probes.block_latency["loop0"] = loop0;
    auto e = eval::evaluate(s, st, cfg, clock.now());
    st = e.state;
    return *find(e, "SlowDisk");
  };
  for (int i = 0; i < 10; ++i) {
    vda.slots[17] += 100;
    step();
  }
  CHECK(step().status == ConditionStatus::kFalse);
  // loop0: 50 requests of ~0.5-1 s (slot 29) within the window.
  for (int i = 0; i < 10; ++i) {
    loop0.slots[29] += 5;
    vda.slots[17] += 100;
    step();
  }
  Condition c = step();
  CHECK(c.status == ConditionStatus::kTrue);
  CHECK_THAT(c.message, Catch::StartsWith("I/O latency above 100ms at the 99th percentile: loop0 "
                                          "p99 10"));
  CHECK_THAT(c.message, Catch::Contains("over 50 requests"));
  // A minute later without new slow requests the window holds none: clear.
  for (int i = 0; i < 70; ++i) {
    vda.slots[17] += 100;
    c = step();
  }
  CHECK(c.status == ConditionStatus::kFalse);
}

TEST_CASE("SlowDisk ignores a device with fewer than 20 requests in the window", "[eval][probes]") {
  FakeClock clock;
  eval::EvalConfig cfg;
  eval::EvalState st;
  Sample s = with_probes(clock.now(), {"biolatency"});
  s.probes.block_latency["sdb"] = hist(35, 19);  // 19 requests of ~34 s
  auto e = eval::evaluate(s, st, cfg, clock.now());
  CHECK(find(e, "SlowDisk")->status == ConditionStatus::kFalse);
}

TEST_CASE("PacketDrops compares the drop rate with its threshold and names top reasons",
          "[eval][probes]") {
  FakeClock clock;
  eval::EvalConfig cfg;
  cfg.drop_rate = 100;
  eval::EvalState st;
  uint64_t nf = 0, nosock = 0;
  Condition c;
  for (int i = 0; i < 20; ++i) {
    clock.advance(seconds(1));
    nf += 500;
    nosock += 5;
    Sample s = with_probes(clock.now(), {"drops"});
    s.probes.drops_by_reason =
        std::map<std::string, uint64_t, std::less<>>{{"netfilter_drop", nf}, {"no_socket", nosock}};
    auto e = eval::evaluate(s, st, cfg, clock.now());
    st = e.state;
    c = *find(e, "PacketDrops");
  }
  CHECK(c.status == ConditionStatus::kTrue);
  CHECK(c.message ==
        "505 packets dropped per second (threshold 100/s); most since start: netfilter_drop, "
        "no_socket");
}

TEST_CASE("histogram_quantile interpolates inside the log2 bucket", "[eval][probes]") {
  CHECK_FALSE(eval::histogram_quantile(hist(3, 0), 0.99));
  // 100 observations in [1024, 2048) ns: p50 is the bucket's middle.
  CHECK(*eval::histogram_quantile(hist(10, 100), 0.5) == Approx(1536));
  Log2Histogram h = hist(10, 99);
  h.slots[20] = 1;
  CHECK(*eval::histogram_quantile(h, 0.99) == Approx(2048));
  CHECK(*eval::histogram_quantile(h, 1.0) == Approx(2097152));
}
