// The evaluator's rules, each pinned with an injected clock (no sleeps).
// Facts cited are rows of shared/reference/facts.md §1.
#include <catch2/catch.hpp>

#include "agent/eval/evaluator.h"

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
  for (const char* name : {"meminfo", "cgroup_memory", "pids", "psi", "filesystem", "network"})
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
  CHECK(*m.hard_threshold == double(100 * kMi));
  CHECK_FALSE(m.met);
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
  CHECK_FALSE(signal(ev, "pid.available").hard_threshold);  // no default pid threshold
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
  CHECK(*signal(ev, "nodefs.available").hard_threshold == 100.0);  // trunc(100.1)
  CHECK_FALSE(signal(ev, "nodefs.available").met);                 // 100 < 100 is false
  s.nodefs->available_bytes = 99;
  ev = eval::evaluate(s, {}, kubelet_defaults(), clock.now());
  CHECK(signal(ev, "nodefs.available").met);
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
