// The evaluator's rules, each pinned with an injected clock (no sleeps).
// Facts cited are rows of shared/reference/facts.md §1.
#include <catch2/catch.hpp>

#include "agent/checkpoint/checkpoint.h"
#include "agent/eval/evaluator.h"
#include "agent/features/features.h"

using namespace nodehealth;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kMi = 1024 * 1024;
constexpr uint64_t kGi = 1024 * kMi;

eval::Threshold quantity(double q, std::string text) {
  parse::ThresholdValue v;
  v.quantity = q;
  return {v, std::move(text)};
}
eval::Threshold percent(double p, std::string text) {
  parse::ThresholdValue v;
  v.is_percentage = true;
  v.percentage = p;
  return {v, std::move(text)};
}

eval::EvalConfig kubelet_defaults() {
  eval::EvalConfig c;
  c.hard["memory.available"] = quantity(100 * kMi, "100Mi");
  c.hard["nodefs.available"] = percent(0.10, "10%");
  c.hard["nodefs.inodesFree"] = percent(0.05, "5%");
  c.hard["imagefs.available"] = percent(0.15, "15%");
  c.hard["imagefs.inodesFree"] = percent(0.05, "5%");
  return c;
}

FsUsage fs(const char* role, uint64_t cap, uint64_t avail, uint64_t inodes, uint64_t ifree) {
  FsUsage f;
  f.role = role;
  f.path = "/var/lib/kubelet";
  f.capacity_bytes = cap;
  f.available_bytes = avail;
  f.inodes_total = inodes;
  f.inodes_free = ifree;
  return f;
}

// A healthy node: 8Gi of memory, 2Gi working set, 100Gi disk half full.
Sample healthy(TimePoint t) {
  Sample s;
  s.taken_at = t;
  parse::MemInfo mi;
  mi.mem_total_bytes = 8 * kGi;
  s.meminfo = mi;
  s.root_memory = CgroupMemory{CgroupMemory::Version::kV1, "memory.usage_in_bytes", 3 * kGi, kGi};
  s.pids = PidLimits{32768, 192730, 300};
  s.nodefs = fs("nodefs", 100 * kGi, 50 * kGi, 1000000, 900000);
  s.imagefs = fs("imagefs", 100 * kGi, 50 * kGi, 1000000, 900000);
  s.network = NetworkState{true, "eth0", "up", true};
  for (const char* name :
       {"meminfo", "cgroup_memory", "kubepods", "pids", "psi", "filesystem", "network"})
    s.sources.push_back(SourceStatus{name, true, 0.001, ""});
  return s;
}

const Condition& cond(const eval::Evaluation& e, std::string_view type) {
  for (const auto& c : e.status.conditions)
    if (c.type == type) return c;
  FAIL("no condition " << type);
  throw std::logic_error("unreachable");
}

const SignalValue& signal(const eval::Evaluation& e, std::string_view name) {
  for (const auto& s : e.status.signals)
    if (s.name == name) return s;
  FAIL("no signal " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("facts §1 memory.available = MemTotal - (usage - inactive_file)", "[eval]") {
  FakeClock clock;
  auto ev = eval::evaluate(healthy(clock.now()), {}, kubelet_defaults(), clock.now());
  const auto& m = signal(ev, "memory.available");
  REQUIRE(m.available);
  CHECK(*m.available == double(8 * kGi - (3 * kGi - kGi)));
  CHECK(*m.capacity == double(8 * kGi));
  REQUIRE(m.threshold("hard"));
  CHECK(*m.threshold("hard")->value == double(100 * kMi));
  CHECK_FALSE(m.threshold("hard")->met);
}

TEST_CASE("facts §1 working set is clamped at zero when inactive_file exceeds usage", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.root_memory->usage_bytes = kGi;
  s.root_memory->inactive_file_bytes = 2 * kGi;
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(*signal(ev, "memory.available").available == double(8 * kGi));
}

TEST_CASE("facts §1 pid.available = min(pid_max, threads-max) - tasks", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  auto cfg = kubelet_defaults();
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  CHECK(*signal(ev, "pid.available").available == 32768.0 - 300);
  CHECK(*signal(ev, "pid.available").capacity == 32768.0);
  CHECK_FALSE(signal(ev, "pid.available").threshold("hard"));  // no default pid threshold
  s.pids->threads_max = 1000;
  ev = eval::evaluate(s, {}, cfg, clock.now());
  CHECK(*signal(ev, "pid.available").available == 700.0);
}

TEST_CASE("facts §1 percentage thresholds resolve against capacity, truncated", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.nodefs->capacity_bytes = 1001;
  s.nodefs->available_bytes = 100;
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(*signal(ev, "nodefs.available").threshold("hard")->value == 100.0);  // trunc(100.1)
  CHECK_FALSE(signal(ev, "nodefs.available").threshold("hard")->met);        // 100 < 100 is false
  s.nodefs->available_bytes = 99;
  ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(signal(ev, "nodefs.available").threshold("hard")->met);
}

TEST_CASE("facts §1 hard threshold met sets the kubelet's reason and message", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.root_memory->usage_bytes = 8 * kGi;  // working set 7Gi: available 1Gi
  auto cfg = kubelet_defaults();
  cfg.hard["memory.available"] = quantity(2 * kGi, "2Gi");
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  const auto& c = cond(ev, "MemoryPressure");
  CHECK(c.status == ConditionStatus::kTrue);
  CHECK(c.reason == "KubeletHasInsufficientMemory");
  CHECK(c.message == "kubelet has insufficient memory available");
  CHECK(cond(ev, "DiskPressure").reason == "KubeletHasNoDiskPressure");
  CHECK(cond(ev, "DiskPressure").message == "kubelet has no disk pressure");
  CHECK(cond(ev, "PIDPressure").reason == "KubeletHasSufficientPID");
  CHECK(cond(ev, "PIDPressure").message == "kubelet has sufficient PID available");
}

TEST_CASE("facts §1 imagefs threshold alone sets DiskPressure", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.imagefs->available_bytes = 14 * kGi;  // < 15%
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "DiskPressure").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "DiskPressure").reason == "KubeletHasDiskPressure");
}

TEST_CASE("facts §1 transition period: pressure stays True until unmet for the whole period",
          "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.pressure_transition_period = 5min;
  Sample bad = healthy(clock.now());
  bad.nodefs->available_bytes = kGi;  // 1% free
  auto ev = eval::evaluate(bad, {}, cfg, clock.now());
  REQUIRE(cond(ev, "DiskPressure").status == ConditionStatus::kTrue);
  const TimePoint became_true = clock.now();

  clock.advance(1min);  // recovered, but inside the period
  ev = eval::evaluate(healthy(clock.now()), ev.state, cfg, clock.now());
  CHECK(cond(ev, "DiskPressure").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "DiskPressure").last_transition == became_true);

  clock.advance(3min + 59s);  // 4m59s since last met
  ev = eval::evaluate(healthy(clock.now()), ev.state, cfg, clock.now());
  CHECK(cond(ev, "DiskPressure").status == ConditionStatus::kTrue);

  clock.advance(1s);  // exactly 5m since last met
  ev = eval::evaluate(healthy(clock.now()), ev.state, cfg, clock.now());
  CHECK(cond(ev, "DiskPressure").status == ConditionStatus::kFalse);
  CHECK(cond(ev, "DiskPressure").last_transition == clock.now());
}

TEST_CASE("facts §1 transition period restarts when the threshold is met again", "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.pressure_transition_period = 1min;
  Sample bad = healthy(clock.now());
  bad.nodefs->available_bytes = kGi;
  auto ev = eval::evaluate(bad, {}, cfg, clock.now());
  clock.advance(50s);
  bad.taken_at = clock.now();
  ev = eval::evaluate(bad, ev.state, cfg, clock.now());  // met again at 50s
  clock.advance(59s);
  ev = eval::evaluate(healthy(clock.now()), ev.state, cfg, clock.now());
  CHECK(cond(ev, "DiskPressure").status == ConditionStatus::kTrue);
  clock.advance(1s);
  ev = eval::evaluate(healthy(clock.now()), ev.state, cfg, clock.now());
  CHECK(cond(ev, "DiskPressure").status == ConditionStatus::kFalse);
}

TEST_CASE("facts §1 lastHeartbeatTime moves every evaluation, lastTransitionTime only on a flip",
          "[eval]") {
  FakeClock clock;
  const TimePoint start = clock.now();
  auto ev = eval::evaluate(healthy(clock.now()), {}, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "MemoryPressure").last_transition == start);
  clock.advance(10s);
  ev = eval::evaluate(healthy(clock.now()), ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "MemoryPressure").last_heartbeat == clock.now());
  CHECK(cond(ev, "MemoryPressure").last_transition == start);
}

TEST_CASE("a condition is Unknown when a source behind it is down", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.nodefs.reset();
  s.imagefs.reset();
  for (auto& src : s.sources)
    if (src.name == "filesystem") src = SourceStatus{"filesystem", false, 2.0, "statfs hung"};
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  const auto& c = cond(ev, "DiskPressure");
  CHECK(c.status == ConditionStatus::kUnknown);
  CHECK(c.reason == "SignalUnavailable");
  CHECK(c.message == "no data for nodefs.available: source filesystem is down: statfs hung");
  CHECK(cond(ev, "MemoryPressure").status == ConditionStatus::kFalse);
}

TEST_CASE("a met threshold wins over another signal's missing data", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.imagefs.reset();                // imagefs unknown ...
  s.nodefs->available_bytes = kGi;  // ... but nodefs is clearly under pressure
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "DiskPressure").status == ConditionStatus::kTrue);
}

TEST_CASE("a disabled source makes its conditions Unknown with the reason", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.root_memory.reset();
  std::erase_if(s.sources, [](const SourceStatus& st) { return st.name == "cgroup_memory"; });
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "MemoryPressure").status == ConditionStatus::kUnknown);
  CHECK(cond(ev, "MemoryPressure").message ==
        "no data for memory.available: source cgroup_memory is disabled");
}

TEST_CASE("a signal without a threshold never makes its condition Unknown", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.pids.reset();
  for (auto& src : s.sources)
    if (src.name == "pids") src.up = false;
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());  // no pid.available threshold
  CHECK(cond(ev, "PIDPressure").status == ConditionStatus::kFalse);
}

TEST_CASE("a filesystem without inode accounting has no inode signal and stays known", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.nodefs->inodes_total = 0;
  s.nodefs->inodes_free = 0;
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK_FALSE(signal(ev, "nodefs.inodesFree").available);
  CHECK(cond(ev, "DiskPressure").status == ConditionStatus::kFalse);
}

TEST_CASE("PIDPressure turns True below an absolute pid.available threshold", "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.hard["pid.available"] = quantity(32500, "32500");
  Sample s = healthy(clock.now());  // 32468 available
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  CHECK(cond(ev, "PIDPressure").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "PIDPressure").reason == "KubeletHasInsufficientPID");
}

TEST_CASE("network condition: default route, interface state and carrier", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "DefaultRouteUnavailable").status == ConditionStatus::kFalse);
  CHECK(cond(ev, "DefaultRouteUnavailable").reason == "DefaultRouteUp");

  s.network = NetworkState{};
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "DefaultRouteUnavailable").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "DefaultRouteUnavailable").reason == "NoDefaultRoute");

  s.network = NetworkState{true, "eth0", "down", std::nullopt};
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "DefaultRouteUnavailable").reason == "InterfaceDown");
  CHECK(cond(ev, "DefaultRouteUnavailable").message == "default route interface eth0 is down");

  s.network = NetworkState{true, "eth0", "up", false};
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "DefaultRouteUnavailable").reason == "NoCarrier");

  s.network = NetworkState{true, "tun0", "unknown", true};  // virtual links report "unknown"
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "DefaultRouteUnavailable").status == ConditionStatus::kFalse);

  s.network.reset();
  for (auto& src : s.sources)
    if (src.name == "network")
      src = SourceStatus{"network", false, 0, "open /proc/net/route: EACCES"};
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "DefaultRouteUnavailable").status == ConditionStatus::kUnknown);
}

// ---- The kubelet's soft thresholds, grace periods and minimum reclaim -------------------

TEST_CASE(
    "facts §1 a soft threshold sets the condition at once; its grace period only gates "
    "eviction",
    "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  eval::Threshold soft = quantity(2 * kGi, "2Gi");
  soft.grace_period = 90s;
  cfg.soft["memory.available"] = soft;
  Sample s = healthy(clock.now());
  s.root_memory->usage_bytes = 8 * kGi;  // available 1Gi: soft met, hard not
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  CHECK(cond(ev, "MemoryPressure").status == ConditionStatus::kTrue);
  const auto* t = signal(ev, "memory.available").threshold("soft");
  REQUIRE(t);
  CHECK(t->met);
  CHECK_FALSE(t->grace_period_met);
  CHECK(*t->first_observed == clock.now());

  clock.advance(89s);
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK_FALSE(signal(ev, "memory.available").threshold("soft")->grace_period_met);
  clock.advance(1s);
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK(signal(ev, "memory.available").threshold("soft")->grace_period_met);
  CHECK(ev.state.eviction_thresholds.contains("soft/memory.available"));
}

TEST_CASE("facts §1 a soft threshold that clears before its grace period restarts the clock",
          "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  eval::Threshold soft = quantity(2 * kGi, "2Gi");
  soft.grace_period = 60s;
  cfg.soft["memory.available"] = soft;
  Sample bad = healthy(clock.now());
  bad.root_memory->usage_bytes = 8 * kGi;
  auto ev = eval::evaluate(bad, {}, cfg, clock.now());
  clock.advance(30s);
  ev = eval::evaluate(healthy(clock.now()), ev.state, cfg, clock.now());
  CHECK_FALSE(ev.state.first_observed.contains("soft/memory.available"));
  clock.advance(30s);
  ev = eval::evaluate(bad, ev.state, cfg, clock.now());
  CHECK(*signal(ev, "memory.available").threshold("soft")->first_observed == clock.now());
  CHECK_FALSE(signal(ev, "memory.available").threshold("soft")->grace_period_met);
}

TEST_CASE(
    "facts §1 minimum reclaim: a threshold that drove eviction stays met while available < "
    "threshold + minReclaim (the operator is always less than: exactly equal resolves)",
    "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.pressure_transition_period = 0s;  // isolate the minimum-reclaim rule
  cfg.hard["memory.available"].min_reclaim = parse::ThresholdValue{false, double(500 * kMi), 0};
  Sample s = healthy(clock.now());
  s.root_memory->usage_bytes = 9 * kGi - 50 * kMi;  // available 50Mi < 100Mi
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  REQUIRE(signal(ev, "memory.available").threshold("hard")->met);

  clock.advance(10s);
  s.root_memory->usage_bytes = 9 * kGi - 300 * kMi;  // 300Mi: above 100Mi, below 600Mi
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK(signal(ev, "memory.available").threshold("hard")->met);
  CHECK(cond(ev, "MemoryPressure").status == ConditionStatus::kTrue);

  clock.advance(10s);
  s.root_memory->usage_bytes = 9 * kGi - 600 * kMi;  // exactly 600Mi: resolved
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK_FALSE(signal(ev, "memory.available").threshold("hard")->met);
  CHECK(cond(ev, "MemoryPressure").status == ConditionStatus::kFalse);
}

TEST_CASE("facts §1 minimum reclaim applies only to thresholds whose grace period was met",
          "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.pressure_transition_period = 0s;
  eval::Threshold soft = quantity(2 * kGi, "2Gi");
  soft.grace_period = 5min;
  soft.min_reclaim = parse::ThresholdValue{false, double(kGi), 0};
  cfg.soft["memory.available"] = soft;
  Sample s = healthy(clock.now());
  s.root_memory->usage_bytes = 8 * kGi;  // available 1Gi: soft met, in grace period
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  clock.advance(10s);
  s.root_memory->usage_bytes = 7 * kGi - 512 * kMi;  // 2.5Gi: above 2Gi, below 3Gi
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK_FALSE(signal(ev, "memory.available").threshold("soft")->met);
}

TEST_CASE("facts §1 minimum reclaim as a percentage resolves against capacity", "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.pressure_transition_period = 0s;
  cfg.hard["nodefs.available"].min_reclaim = parse::ThresholdValue{true, 0, 0.05};
  Sample s = healthy(clock.now());
  s.nodefs->available_bytes = 5 * kGi;  // < 10Gi
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  CHECK(*signal(ev, "nodefs.available").threshold("hard")->min_reclaim == double(5 * kGi));
  s.nodefs->available_bytes = 14 * kGi;  // < 10Gi + 5Gi
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK(signal(ev, "nodefs.available").threshold("hard")->met);
  s.nodefs->available_bytes = 15 * kGi;
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK_FALSE(signal(ev, "nodefs.available").threshold("hard")->met);
}

TEST_CASE("facts §1 allocatableMemory.available = kubepods limit - kubepods working set",
          "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.hard["allocatableMemory.available"] = quantity(100 * kMi, "100Mi");
  Sample s = healthy(clock.now());
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  CHECK_FALSE(signal(ev, "allocatableMemory.available").available);  // a plain host
  CHECK(cond(ev, "MemoryPressure").status == ConditionStatus::kFalse);

  s.kubepods = KubepodsCgroup{"kubepods.slice", 6 * kGi, 6 * kGi, 32 * kMi, {}, {}};
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  const auto& a = signal(ev, "allocatableMemory.available");
  CHECK(*a.available == double(32 * kMi));
  CHECK(*a.capacity == double(6 * kGi));
  CHECK(cond(ev, "MemoryPressure").status == ConditionStatus::kTrue);
}

// ---- PSI contention (KEP-5394's rule, the agent's own types) -----------------------------

namespace {
parse::Psi psi(double avg10, double avg60) {
  parse::Psi p;
  p.some = {avg10, avg60, 0, 0};
  return p;
}
}  // namespace

TEST_CASE("facts §2 contention sets on avg10 and avg60 at or above, clears on avg60 below",
          "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.memory_contention_percent = 10;
  Sample s = healthy(clock.now());
  s.psi.memory = psi(50, 9.99);  // a burst: avg10 high, avg60 not yet
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  CHECK(cond(ev, "MemoryContention").status == ConditionStatus::kFalse);
  s.psi.memory = psi(10, 10);  // both at the threshold: set
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK(cond(ev, "MemoryContention").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "MemoryContention").reason == "MemoryStallsHigh");
  s.psi.memory = psi(0, 10);  // avg10 dropped, avg60 still at the threshold: stays set
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK(cond(ev, "MemoryContention").status == ConditionStatus::kTrue);
  s.psi.memory = psi(0, 9.9);  // avg60 below: clear
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK(cond(ev, "MemoryContention").status == ConditionStatus::kFalse);
  CHECK(cond(ev, "MemoryContention").reason == "MemoryStallsLow");
}

TEST_CASE("contention: IO and kubepods level, never CPU", "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  Sample s = healthy(clock.now());
  s.psi.cpu = psi(90, 90);  // CPU PSI is inflated by CFS throttling: no condition
  s.psi.io = psi(30, 30);
  s.psi.memory = psi(0, 0);
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  CHECK(cond(ev, "DiskContention").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "DiskContention").reason == "IOStallsHigh");
  for (const auto& c : ev.status.conditions) CHECK(c.type.find("CPU") == std::string::npos);
  for (const auto& c : ev.status.conditions) CHECK(c.type.find("Kubepods") == std::string::npos);

  s.kubepods = KubepodsCgroup{"kubepods.slice", 6 * kGi, kGi, 0, psi(20, 20), psi(0, 0)};
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK(cond(ev, "KubepodsMemoryContention").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "KubepodsDiskContention").status == ConditionStatus::kFalse);
  CHECK(cond(ev, "MemoryContention").status == ConditionStatus::kFalse);
}

TEST_CASE(
    "contention: kubepods level goes Unknown while the kubepods source is down, and away "
    "with the cgroup",
    "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  Sample s = healthy(clock.now());
  s.kubepods = KubepodsCgroup{"kubepods.slice", 6 * kGi, kGi, 0, psi(20, 20), psi(0, 0)};
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  REQUIRE(cond(ev, "KubepodsMemoryContention").status == ConditionStatus::kTrue);

  clock.advance(1s);
  Sample down = healthy(clock.now());
  for (auto& src : down.sources)
    if (src.name == "kubepods") src = SourceStatus{"kubepods", false, 0, "memory.stat: EIO"};
  ev = eval::evaluate(down, ev.state, cfg, clock.now());
  for (const char* type : {"KubepodsMemoryContention", "KubepodsDiskContention"}) {
    INFO(type);
    CHECK(cond(ev, type).status == ConditionStatus::kUnknown);
    CHECK(cond(ev, type).reason == "SignalUnavailable");
    CHECK(cond(ev, type).message == "no data: source kubepods is down: memory.stat: EIO");
    CHECK(cond(ev, type).last_transition == clock.now());
  }
  // Still down a tick later: still Unknown, the transition time kept.
  const auto went_unknown = clock.now();
  clock.advance(1s);
  ev = eval::evaluate(down, ev.state, cfg, clock.now());
  CHECK(cond(ev, "KubepodsMemoryContention").status == ConditionStatus::kUnknown);
  CHECK(cond(ev, "KubepodsMemoryContention").last_transition == went_unknown);

  // Up again without a kubepods cgroup (the kubelet is gone): nothing to report.
  ev = eval::evaluate(healthy(clock.now()), ev.state, cfg, clock.now());
  for (const auto& c : ev.status.conditions) CHECK(c.type.find("Kubepods") == std::string::npos);
  // Down on a node that never had one: no kubepods conditions appear.
  ev = eval::evaluate(down, {}, cfg, clock.now());
  for (const auto& c : ev.status.conditions) CHECK(c.type.find("Kubepods") == std::string::npos);
}

TEST_CASE("contention is Unknown where the kernel has no PSI", "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());  // psi source up, no pressure files
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "MemoryContention").status == ConditionStatus::kUnknown);
  CHECK(cond(ev, "MemoryContention").message ==
        "this kernel reports no pressure stall information (PSI)");
}

// ---- Eviction imminent: forecasts ---------------------------------------------------------

TEST_CASE(
    "eviction imminent: a steady decline within the horizon sets the condition, "
    "recovery clears it",
    "[eval]") {
  FakeClock clock;
  auto cfg = kubelet_defaults();
  cfg.forecast_horizon = 10min;
  Sample s = healthy(clock.now());
  eval::EvalState state;
  // nodefs loses 50Mi/s from 50Gi: reaches the 10Gi threshold in ~13.6 minutes.
  double avail = 50.0 * kGi;
  eval::Evaluation ev;
  for (int i = 0; i < 120; ++i) {
    s.taken_at = clock.now();
    s.nodefs->available_bytes = uint64_t(avail);
    ev = eval::evaluate(s, state, cfg, clock.now());
    state = ev.state;
    avail -= 50.0 * kMi;
    clock.advance(1s);
  }
  CHECK(cond(ev, "DiskEvictionImminent").status == ConditionStatus::kFalse);
  // Faster: 100Mi/s more from here on: the threshold is ~4 minutes away.
  for (int i = 0; i < 300; ++i) {
    s.taken_at = clock.now();
    s.nodefs->available_bytes = uint64_t(avail);
    ev = eval::evaluate(s, state, cfg, clock.now());
    state = ev.state;
    avail -= 100.0 * kMi;
    clock.advance(1s);
  }
  const auto& sig = signal(ev, "nodefs.available");
  REQUIRE(sig.until_threshold);
  CHECK(*sig.until_threshold < std::chrono::nanoseconds(10min));
  CHECK(*sig.trend_per_second < 0);
  CHECK(cond(ev, "DiskEvictionImminent").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "DiskEvictionImminent").reason == "EvictionThresholdForecast");
  CHECK(cond(ev, "DiskEvictionImminent")
            .message.starts_with(
                "nodefs.available is forecast to fall below its hard threshold 10% in "));
  CHECK(cond(ev, "MemoryEvictionImminent").status == ConditionStatus::kFalse);

  // Space freed and flat from here: the trend turns up, the forecast goes away.
  s.nodefs->available_bytes = 80 * kGi;
  for (int i = 0; i < 400; ++i) {
    s.taken_at = clock.now();
    ev = eval::evaluate(s, state, cfg, clock.now());
    state = ev.state;
    clock.advance(1s);
  }
  CHECK_FALSE(signal(ev, "nodefs.available").until_threshold);
  CHECK(cond(ev, "DiskEvictionImminent").status == ConditionStatus::kFalse);
}

// ---- Checkpoint archives (facts §6) --------------------------------------------------------

TEST_CASE("facts §6 checkpoint archives readable by others set CheckpointArchivesExposed",
          "[eval]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.sources.push_back(SourceStatus{"checkpoints", true, 0, ""});
  auto audit = std::make_shared<checkpoint::CheckpointAudit>();
  audit->dir = "/var/lib/kubelet/checkpoints";
  audit->exists = true;
  s.checkpoint_audit = audit;
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "CheckpointArchivesExposed").status == ConditionStatus::kFalse);
  CHECK(cond(ev, "CheckpointArchivesExposed").reason == "CheckpointArchivesPrivate");

  audit->exposed_archives = 2;
  const std::string d = audit->dir + "/";
  audit->findings = {{d + "a.tar", "mode", "mode 0644, want 0600: group and others readable"},
                     {d + "a.tar", "owner", "owned by uid 1000, want root"},
                     {d + "b.tar", "owner", "owned by uid 1000, want root"}};
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "CheckpointArchivesExposed").status == ConditionStatus::kTrue);
  CHECK(cond(ev, "CheckpointArchivesExposed").reason == "CheckpointArchivesReadable");
  CHECK(cond(ev, "CheckpointArchivesExposed").message ==
        "2 checkpoint archive(s) in /var/lib/kubelet/checkpoints readable by users other than "
        "root: a.tar (mode 0644), b.tar (owned by uid 1000)");
  audit->exposed_archives = 5;  // more than are named
  for (const char* n : {"c.tar", "d.tar", "e.tar"})
    audit->findings.push_back({d + n, "mode", "mode 0604, want 0600: others readable"});
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(
      cond(ev, "CheckpointArchivesExposed")
          .message.ends_with(
              "root: a.tar (mode 0644), b.tar (owned by uid 1000), c.tar (mode 0604), and 2 more"));
  audit->findings.clear();

  audit->exposed_archives = 0;
  audit->dir_mode_ok = false;
  audit->dir_mode = 0755;
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "CheckpointArchivesExposed").reason == "CheckpointDirectoryOpen");
  CHECK(cond(ev, "CheckpointArchivesExposed").message.ends_with("(mode 755)"));

  s.checkpoint_audit.reset();  // the source has no audit yet: Unknown
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, "CheckpointArchivesExposed").status == ConditionStatus::kUnknown);
}

// ---- Kernel requirements (facts §5) ---------------------------------------------------------

namespace {

// A features report with the cgroup v2 verdict of a probe and a kubelet configuration.
std::shared_ptr<features::FeatureReport> features_report(std::optional<bool> cgroup_v2,
                                                         const std::string& layout) {
  auto r = std::make_shared<features::FeatureReport>();
  r->cgroup_layout = layout;
  features::FeatureSupport f;
  f.name = "cgroup_v2";
  f.has_version_rule = false;
  f.probe_supported = cgroup_v2;
  r->features.push_back(f);
  return r;
}

bool has_condition(const eval::Evaluation& e, std::string_view type) {
  for (const auto& c : e.status.conditions)
    if (c.type == type) return true;
  return false;
}

}  // namespace

TEST_CASE("facts §5 failCgroupV1 (true by default since 1.35) requires cgroup v2",
          "[eval][features]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.sources.push_back(SourceStatus{"features", true, 0, ""});

  // No kubelet configuration and no requiredFeatures: no condition at all.
  auto plain = features_report(false, "hybrid");
  s.features = plain;
  auto ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK_FALSE(has_condition(ev, eval::kKernelRequirementsMissing));

  // The kubelet's configuration leaves failCgroupV1 unset (true) on a hybrid node: True.
  auto hybrid = features_report(false, "hybrid");
  hybrid->kubelet.found = true;
  hybrid->kubelet.origin = "/var/lib/kubelet/config.yaml";
  hybrid->kubelet.fail_cgroup_v1 = true;
  s.features = hybrid;
  ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  const Condition& c = cond(ev, eval::kKernelRequirementsMissing);
  CHECK(c.status == ConditionStatus::kTrue);
  CHECK(c.reason == "KubeletRequiresCgroupV2");
  CHECK(c.message ==
        "the kubelet's failCgroupV1 is true (not set: the default since Kubernetes 1.35) but this "
        "node has no cgroup v2 at /sys/fs/cgroup (hybrid layout): the kubelet refuses to start");

  // Set explicitly in a file: the message says where.
  auto legacy = features_report(false, "legacy");
  legacy->kubelet = hybrid->kubelet;
  legacy->kubelet.fail_cgroup_v1_origin = "/var/lib/kubelet/config.yaml:7";
  s.features = legacy;
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, eval::kKernelRequirementsMissing)
            .message.starts_with("the kubelet's failCgroupV1 is true (set at "
                                 "/var/lib/kubelet/config.yaml:7) but this node "
                                 "has no cgroup v2 at /sys/fs/cgroup (legacy layout)"));

  // failCgroupV1: false, the kubelet runs on cgroup v1: nothing missing.
  auto allowed = features_report(false, "legacy");
  allowed->kubelet = legacy->kubelet;
  allowed->kubelet.fail_cgroup_v1 = false;
  s.features = allowed;
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, eval::kKernelRequirementsMissing).status == ConditionStatus::kFalse);
  CHECK(cond(ev, eval::kKernelRequirementsMissing).reason == "RequiredFeaturesPresent");

  // failCgroupV1 true on a unified node: False, and it says so.
  auto unified = features_report(true, "unified");
  unified->kubelet = hybrid->kubelet;
  s.features = unified;
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, eval::kKernelRequirementsMissing).status == ConditionStatus::kFalse);
  CHECK(cond(ev, eval::kKernelRequirementsMissing).message ==
        "the kubelet's failCgroupV1 is true and this node has cgroup v2");

  // cgroup v2 unknown: not called missing.
  auto unknown = features_report(std::nullopt, "unknown");
  unknown->kubelet = hybrid->kubelet;
  s.features = unknown;
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, eval::kKernelRequirementsMissing).status == ConditionStatus::kFalse);

  // The features source goes down: the condition stays, Unknown.
  s.features.reset();
  s.sources.back() = SourceStatus{"features", false, 0, "proc root: gone"};
  ev = eval::evaluate(s, ev.state, kubelet_defaults(), clock.now());
  CHECK(cond(ev, eval::kKernelRequirementsMissing).status == ConditionStatus::kUnknown);
}

TEST_CASE("facts §5 allowedUnsafeSysctls the node cannot namespace set KernelRequirementsMissing",
          "[eval][features]") {
  FakeClock clock;
  Sample s = healthy(clock.now());
  s.sources.push_back(SourceStatus{"features", true, 0, ""});
  auto r = features_report(true, "unified");
  r->kubelet.found = true;
  r->kubelet.fail_cgroup_v1 = true;
  features::UnsafeSysctlCheck ok;
  ok.pattern = "net.core.somaxconn";
  ok.accepted = true;
  ok.verdict = features::UnsafeSysctlVerdict::kNamespaced;
  features::UnsafeSysctlCheck partial;
  partial.pattern = "net.core.*";
  partial.accepted = true;
  partial.verdict = features::UnsafeSysctlVerdict::kPartial;
  r->unsafe_sysctls = {ok, partial};
  s.features = r;
  eval::EvalConfig cfg = kubelet_defaults();
  auto ev = eval::evaluate(s, {}, cfg, clock.now());
  // A partial pattern is reported by `features` and the metric, not as missing.
  CHECK(cond(ev, eval::kKernelRequirementsMissing).status == ConditionStatus::kFalse);
  CHECK(cond(ev, eval::kKernelRequirementsMissing).message ==
        "the kubelet's failCgroupV1 is true and this node has cgroup v2; 2 allowedUnsafeSysctls "
        "entries checked, none rejected or unsupported here");

  features::UnsafeSysctlCheck global;
  global.pattern = "net.core.netdev_max_backlog";
  global.accepted = true;
  global.verdict = features::UnsafeSysctlVerdict::kUnsupported;
  global.detail = "present on the host but not in a new network namespace";
  features::UnsafeSysctlCheck rejected = features::check_unsafe_sysctl("kernel.hostname");
  r->unsafe_sysctls = {ok, global, rejected};
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  const Condition& c = cond(ev, eval::kKernelRequirementsMissing);
  CHECK(c.status == ConditionStatus::kTrue);
  CHECK(c.reason == "UnsafeSysctlNotNamespaced");
  CHECK(c.message ==
        "allowedUnsafeSysctls entry \"net.core.netdev_max_backlog\" cannot be set in a pod here: "
        "present on the host but not in a new network namespace; allowedUnsafeSysctls entry "
        "\"kernel.hostname\" is rejected by the kubelet, which then refuses to start: the "
        "sysctls \"kernel.hostname\" are not known to be namespaced");

  // requiredFeatures first: its reason, then every problem in the message.
  cfg.required_features = {"psi"};
  ev = eval::evaluate(s, ev.state, cfg, clock.now());
  CHECK(cond(ev, eval::kKernelRequirementsMissing).reason == "RequiredFeatureMissing");
  CHECK(cond(ev, eval::kKernelRequirementsMissing)
            .message.starts_with("required but not supported here: psi; allowedUnsafeSysctls "
                                 "entry \"net.core.netdev_max_backlog\""));
}
