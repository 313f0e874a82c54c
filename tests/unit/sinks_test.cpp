// The status document, the table and the metrics rendered from one snapshot.
#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>
#include <nlohmann/json.hpp>

#include "agent/sinks/metrics.h"
#include "agent/sinks/snapshot.h"

using namespace nodehealth;
using namespace std::chrono_literals;

namespace {

sinks::Snapshot snapshot() {
  sinks::Snapshot s;
  s.node_name = "worker-1";
  const TimePoint t = TimePoint{} + 1776536418s;  // 2026-04-18T18:20:18Z
  s.sample.taken_at = t;
  s.sample.sources = {{"meminfo", true, 0.0002, ""}, {"filesystem", false, 2.0, "statfs hung"}};
  parse::Psi psi;
  psi.some = {1.5, 0.5, 0.25, 2500000};
  s.sample.psi.memory = psi;
  s.status.evaluated_at = t;
  s.status.conditions = {{"MemoryPressure", ConditionStatus::kFalse, "KubeletHasSufficientMemory",
                          "kubelet has sufficient memory available", t, t - 3600s}};
  SignalValue mem;
  mem.name = "memory.available";
  mem.available = 1.5 * 1024 * 1024 * 1024;
  mem.capacity = 8.0 * 1024 * 1024 * 1024;
  ThresholdStatus hard;
  hard.kind = "hard";
  hard.configured = "100Mi";
  hard.value = 100.0 * 1024 * 1024;
  mem.thresholds = {hard};
  SignalValue pid;
  pid.name = "pid.available";
  pid.unit = SignalUnit::kPids;
  pid.available = 32000.0;
  pid.capacity = 32768.0;
  s.status.signals = {mem, pid};
  return s;
}

}  // namespace

TEST_CASE("format_bytes prints Kubernetes-style binary quantities", "[sinks]") {
  CHECK(sinks::format_bytes(512) == "512");
  CHECK(sinks::format_bytes(100.0 * 1024 * 1024) == "100Mi");
  CHECK(sinks::format_bytes(1.5 * 1024 * 1024 * 1024) == "1.5Gi");
  CHECK(sinks::format_bytes(-2048) == "-2Ki");
}

TEST_CASE("facts §3 status JSON carries NodeCondition fields in RFC 3339", "[sinks]") {
  const auto doc = sinks::status_json(snapshot());
  CHECK(doc["node"] == "worker-1");
  const auto& c = doc["conditions"][0];
  CHECK(c["type"] == "MemoryPressure");
  CHECK(c["status"] == "False");
  CHECK(c["lastHeartbeatTime"] == "2026-04-18T18:20:18Z");
  CHECK(c["lastTransitionTime"] == "2026-04-18T17:20:18Z");
  CHECK(c["reason"] == "KubeletHasSufficientMemory");
  const auto& mem = doc["signals"][0];
  CHECK(mem["available"] == 1.5 * 1024 * 1024 * 1024);
  CHECK(mem["thresholds"][0]["configured"] == "100Mi");
  CHECK(doc["signals"][1]["thresholds"].empty());
  CHECK(doc["sources"][1]["error"] == "statfs hung");
  CHECK_FALSE(doc["sources"][0].contains("error"));
}

TEST_CASE("status JSON lists the recent events newest first", "[sinks]") {
  auto snap = snapshot();
  const TimePoint t = snap.status.evaluated_at;
  CHECK(sinks::status_json(snap)["events"].empty());
  snap.status.events = {
      {t - 60s, "ConditionChanged", "MemoryPressure", "False", "True",
       "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"},
      {t - 10s, "OOMKill", "", "", "", "OOMKilled", "pid 7 (x) in /a"}};
  const auto events = sinks::status_json(snap)["events"];
  REQUIRE(events.size() == 2);
  CHECK(events[0]["kind"] == "OOMKill");
  CHECK(events[0]["time"] == "2026-04-18T18:20:08Z");
  CHECK_FALSE(events[0].contains("type"));
  CHECK(events[0]["message"] == "pid 7 (x) in /a");
  CHECK(events[1]["type"] == "MemoryPressure");
  CHECK(events[1]["from"] == "False");
  CHECK(events[1]["to"] == "True");
  CHECK(events[1]["reason"] == "KubeletHasInsufficientMemory");
}

TEST_CASE("status table has kubectl's Conditions columns and the signals", "[sinks]") {
  const std::string t = sinks::status_table(snapshot());
  CHECK(t.find("Conditions:\n  Type             Status   LastHeartbeatTime") != std::string::npos);
  CHECK(t.find("Sat, 18 Apr 2026 18:20:18 +0000") != std::string::npos);
  CHECK(t.find("memory.available   1.5Gi       100Mi hard   8Gi") != std::string::npos);
  CHECK(t.find("pid.available      32000       <none>") != std::string::npos);
  CHECK(t.find("filesystem   no    2000.000ms   statfs hung") != std::string::npos);
}

TEST_CASE("metrics: conditions kube-state-metrics style, signals, PSI in base units", "[sinks]") {
  const auto snap = snapshot();
  const std::string text =
      prometheus::TextSerializer().Serialize(sinks::render_metrics(&snap, {"1.2.3", "abc"}));
  CHECK(text.find("nodehealth_build_info{version=\"1.2.3\",commit=\"abc\"} 1") !=
        std::string::npos);
  CHECK(text.find("nodehealth_condition{type=\"MemoryPressure\",status=\"False\"} 1") !=
        std::string::npos);
  CHECK(text.find("nodehealth_condition{type=\"MemoryPressure\",status=\"True\"} 0") !=
        std::string::npos);
  CHECK(text.find("nodehealth_condition{type=\"MemoryPressure\",status=\"Unknown\"} 0") !=
        std::string::npos);
  CHECK(text.find("nodehealth_signal_threshold{signal=\"memory.available\",type=\"hard\"} "
                  "104857600") != std::string::npos);
  CHECK(text.find("nodehealth_signal_threshold{signal=\"pid.available\"") == std::string::npos);
  CHECK(text.find("nodehealth_psi_stall_seconds_total{scope=\"node\",resource=\"memory\",kind="
                  "\"some\"} 2.5") != std::string::npos);
  CHECK(text.find("nodehealth_psi_stall_ratio{scope=\"node\",resource=\"memory\",kind=\"some\","
                  "window=\"10s\"} "
                  "0.015") != std::string::npos);
  CHECK(text.find("nodehealth_source_up{source=\"filesystem\"} 0") != std::string::npos);
  CHECK(text.find("# TYPE nodehealth_psi_stall_seconds_total counter") != std::string::npos);
}

TEST_CASE("metrics before the first sample: build info only", "[sinks]") {
  const auto fams = sinks::render_metrics(nullptr, {"1.2.3", "abc"});
  REQUIRE(fams.size() == 1);
  CHECK(fams[0].name == "nodehealth_build_info");
}
