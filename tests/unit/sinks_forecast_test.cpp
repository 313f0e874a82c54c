// The forecast behind the eviction-imminent conditions, as /metrics and /status render it:
// nodehealth_signal_seconds_until_threshold and nodehealth_signal_trend_per_second per signal,
// present only for signals that have a forecast.
#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <sstream>

#include "agent/sinks/metrics.h"
#include "agent/sinks/snapshot.h"

using namespace nodehealth;
using namespace std::chrono_literals;

namespace {

constexpr double kMiB = 1024.0 * 1024;

sinks::Snapshot forecast_snapshot() {
  sinks::Snapshot s;
  s.node_name = "worker-1";
  const TimePoint t = TimePoint{} + 1776536418s;
  s.sample.taken_at = t;
  s.status.evaluated_at = t;

  ThresholdStatus hard;
  hard.kind = "hard";
  hard.configured = "10%";
  hard.value = 6.4 * kMiB;

  SignalValue nodefs;  // falling: 2 MiB/s, 150.5 s to go
  nodefs.name = "nodefs.available";
  nodefs.available = 307.4 * kMiB;
  nodefs.capacity = 1024.0 * kMiB;
  nodefs.thresholds = {hard};
  nodefs.trend_per_second = -2 * kMiB;
  nodefs.until_threshold = 150500ms;

  SignalValue mem;  // rising: a trend, no forecast
  mem.name = "memory.available";
  mem.available = 2048 * kMiB;
  mem.capacity = 8192 * kMiB;
  mem.trend_per_second = 4096.0;

  SignalValue pid;  // below its threshold and still falling: forecast 0
  pid.name = "pid.available";
  pid.unit = SignalUnit::kPids;
  pid.available = 100;
  pid.capacity = 32768;
  pid.trend_per_second = -0.5;
  pid.until_threshold = 0ns;

  SignalValue inodes;  // too little history: neither
  inodes.name = "nodefs.inodesFree";
  inodes.unit = SignalUnit::kInodes;
  inodes.available = 1000;
  inodes.capacity = 2000;

  s.status.signals = {nodefs, mem, pid, inodes};
  return s;
}

// Every series of one metric family in the exposition text, "name{labels} value" lines.
std::vector<std::string> series(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(name + "{") || line.starts_with(name + " ")) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("metrics: seconds_until_threshold only for signals with a forecast", "[sinks]") {
  const auto snap = forecast_snapshot();
  const std::string text =
      prometheus::TextSerializer().Serialize(sinks::render_metrics(&snap, {"1.2.3", "abc"}));
  CHECK(series(text, "nodehealth_signal_seconds_until_threshold") ==
        std::vector<std::string>{
            "nodehealth_signal_seconds_until_threshold{signal=\"nodefs.available\"} 150.5",
            "nodehealth_signal_seconds_until_threshold{signal=\"pid.available\"} 0",
        });
  CHECK(text.find("# TYPE nodehealth_signal_seconds_until_threshold gauge") != std::string::npos);
}

TEST_CASE("metrics: trend_per_second for every signal with a trend, either sign", "[sinks]") {
  const auto snap = forecast_snapshot();
  const std::string text =
      prometheus::TextSerializer().Serialize(sinks::render_metrics(&snap, {"1.2.3", "abc"}));
  CHECK(series(text, "nodehealth_signal_trend_per_second") ==
        std::vector<std::string>{
            "nodehealth_signal_trend_per_second{signal=\"nodefs.available\"} -2097152",
            "nodehealth_signal_trend_per_second{signal=\"memory.available\"} 4096",
            "nodehealth_signal_trend_per_second{signal=\"pid.available\"} -0.5",
        });
  CHECK(text.find("# TYPE nodehealth_signal_trend_per_second gauge") != std::string::npos);
}

TEST_CASE("metrics: no forecast anywhere, no forecast families (no bare HELP/TYPE)", "[sinks]") {
  auto snap = forecast_snapshot();
  for (auto& s : snap.status.signals) {
    s.until_threshold.reset();
    s.trend_per_second.reset();
  }
  const std::string text =
      prometheus::TextSerializer().Serialize(sinks::render_metrics(&snap, {"1.2.3", "abc"}));
  CHECK(text.find("nodehealth_signal_seconds_until_threshold") == std::string::npos);
  CHECK(text.find("nodehealth_signal_trend_per_second") == std::string::npos);
  // The signals themselves are still there.
  CHECK(series(text, "nodehealth_signal_available").size() == 4);
}

TEST_CASE("status JSON and table carry the same forecast", "[sinks]") {
  const auto snap = forecast_snapshot();
  const auto doc = sinks::status_json(snap);
  const auto& sig = doc["signals"];
  REQUIRE(sig.size() == 4);
  CHECK(sig[0]["secondsUntilThreshold"] == 150.5);
  CHECK(sig[0]["trendPerSecond"] == -2 * kMiB);
  CHECK_FALSE(sig[1].contains("secondsUntilThreshold"));
  CHECK(sig[1]["trendPerSecond"] == 4096.0);
  CHECK(sig[2]["secondsUntilThreshold"] == 0.0);
  CHECK_FALSE(sig[3].contains("secondsUntilThreshold"));
  CHECK_FALSE(sig[3].contains("trendPerSecond"));

  const std::string table = sinks::status_table(snap);
  // The Forecast column: whole seconds as a Go duration, "-" without a forecast.
  CHECK(std::regex_search(table, std::regex(R"(nodefs\.available +\S+ .* 2m30s +no\n)")));
  CHECK(std::regex_search(table, std::regex(R"(memory\.available +2Gi +<none> +8Gi +- +no\n)")));
  CHECK(std::regex_search(table, std::regex(R"(pid\.available +100 +<none> +32768 +0s +no\n)")));
}
