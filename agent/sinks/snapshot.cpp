#include "agent/sinks/snapshot.h"

#include "agent/parse/quantity.h"

#include <cmath>
#include <ctime>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace nodehealth::sinks {

void SnapshotStore::publish(const Sample& sample, const NodeStatus& status) {
  auto snap = std::make_shared<const Snapshot>(Snapshot{node_name_, sample, status});
  std::lock_guard lock(mu_);
  current_ = std::move(snap);
}

std::shared_ptr<const Snapshot> SnapshotStore::get() const {
  std::lock_guard lock(mu_);
  return current_;
}

namespace {

nlohmann::ordered_json optional_number(const std::optional<double>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

// kubectl's time layout: "Mon, 02 Jan 2006 15:04:05 -0700".
std::string kubectl_time(TimePoint t) {
  const std::time_t secs = WallClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string format_value(const std::optional<double>& v, SignalUnit unit) {
  if (!v) return "<none>";
  if (unit == SignalUnit::kBytes) return format_bytes(*v);
  return fmt::format("{:.0f}", *v);
}

// A table with left-aligned columns separated by three spaces, as kubectl prints.
std::string render_table(const std::vector<std::vector<std::string>>& rows, size_t indent) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent, ' ');
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string format_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  const bool negative = bytes < 0;
  double v = std::fabs(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  const char* sign = negative ? "-" : "";
  if (u == 0) return fmt::format("{}{:.0f}", sign, v);
  std::string num = fmt::format("{:.1f}", v);
  if (num.ends_with(".0")) num.resize(num.size() - 2);
  return fmt::format("{}{}{}", sign, num, kUnits[u]);
}

nlohmann::ordered_json status_json(const Snapshot& snap) {
  using json = nlohmann::ordered_json;
  json doc;
  doc["node"] = snap.node_name;
  doc["sampledAt"] = format_rfc3339(snap.sample.taken_at);
  json conditions = json::array();
  for (const auto& c : snap.status.conditions) {
    conditions.push_back({{"type", c.type},
                          {"status", to_string(c.status)},
                          {"lastHeartbeatTime", format_rfc3339(c.last_heartbeat)},
                          {"lastTransitionTime", format_rfc3339(c.last_transition)},
                          {"reason", c.reason},
                          {"message", c.message}});
  }
  doc["conditions"] = std::move(conditions);
  json events = json::array();  // newest first
  for (auto it = snap.status.events.rbegin(); it != snap.status.events.rend(); ++it) {
    json e = {{"time", format_rfc3339(it->at)}, {"kind", it->kind}};
    if (!it->type.empty()) e["type"] = it->type;
    if (!it->from.empty()) e["from"] = it->from;
    if (!it->to.empty()) e["to"] = it->to;
    e["reason"] = it->reason;
    e["message"] = it->message;
    events.push_back(std::move(e));
  }
  doc["events"] = std::move(events);
  json signals = json::array();
  for (const auto& s : snap.status.signals) {
    json thresholds = json::array();
    for (const auto& t : s.thresholds) {
      json th = {{"type", t.kind},
                 {"value", optional_number(t.value)},
                 {"configured", t.configured},
                 {"met", t.met}};
      if (t.min_reclaim) th["minimumReclaim"] = *t.min_reclaim;
      if (t.kind == "soft") th["gracePeriod"] = parse::format_duration(t.grace_period);
      if (t.first_observed) th["firstObserved"] = format_rfc3339(*t.first_observed);
      th["gracePeriodMet"] = t.grace_period_met;
      thresholds.push_back(std::move(th));
    }
    json sig = {{"signal", s.name},
                {"unit", to_string(s.unit)},
                {"available", optional_number(s.available)},
                {"capacity", optional_number(s.capacity)},
                {"thresholds", std::move(thresholds)}};
    if (s.trend_per_second) sig["trendPerSecond"] = *s.trend_per_second;
    if (s.until_threshold)
      sig["secondsUntilThreshold"] = std::chrono::duration<double>(*s.until_threshold).count();
    signals.push_back(std::move(sig));
  }
  doc["signals"] = std::move(signals);
  json sources = json::array();
  for (const auto& s : snap.sample.sources) {
    json src = {{"name", s.name}, {"up", s.up}, {"durationSeconds", s.duration_seconds}};
    if (!s.up) src["error"] = s.error;
    sources.push_back(std::move(src));
  }
  doc["sources"] = std::move(sources);
  if (!snap.sample.probes.probes.empty()) {
    json probes = json::array();
    for (const auto& p : snap.sample.probes.probes) {
      json j = {{"name", p.name}, {"up", p.up}, {"eventsLost", p.events_lost}};
      if (!p.up) j["error"] = p.error;
      probes.push_back(std::move(j));
    }
    doc["probes"] = std::move(probes);
  }
  if (!snap.sample.oom_kills.empty()) {
    json kills = json::array();
    for (const auto& k : snap.sample.oom_kills)
      kills.push_back({{"time", format_rfc3339(k.at)},
                       {"pid", k.pid},
                       {"comm", k.comm},
                       {"cgroup", k.cgroup},
                       {"podUID", k.pod_uid},
                       {"containerID", k.container_id}});
    doc["oomKills"] = std::move(kills);
  }
  json filesystems = json::array();
  for (const auto* fs : {&snap.sample.nodefs, &snap.sample.imagefs}) {
    if (!*fs) continue;
    const FsUsage& f = **fs;
    filesystems.push_back({{"role", f.role},
                           {"path", f.path},
                           {"mountPoint", f.mount_point},
                           {"device", f.device},
                           {"readOnly", f.read_only}});
  }
  doc["filesystems"] = std::move(filesystems);
  if (snap.sample.network) {
    const NetworkState& n = *snap.sample.network;
    doc["network"] = {{"defaultRoute", n.default_route},
                      {"interface", n.interface},
                      {"operstate", n.operstate},
                      {"carrier", n.carrier ? json(*n.carrier) : json(nullptr)}};
  }
  return doc;
}

std::string status_table(const Snapshot& snap) {
  std::vector<std::vector<std::string>> cond{
      {"Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message"},
      {"----", "------", "-----------------", "------------------", "------", "-------"}};
  for (const auto& c : snap.status.conditions) {
    cond.push_back({c.type, to_string(c.status), kubectl_time(c.last_heartbeat),
                    kubectl_time(c.last_transition), c.reason, c.message});
  }
  std::vector<std::vector<std::string>> sig{
      {"Signal", "Available", "Thresholds", "Capacity", "Forecast", "Met"},
      {"------", "---------", "----------", "--------", "--------", "---"}};
  for (const auto& s : snap.status.signals) {
    std::vector<std::string> shown, met;
    for (const auto& t : s.thresholds) {
      std::string text = format_value(t.value, s.unit);
      if (t.configured.ends_with('%')) text += " (" + t.configured + ")";
      text += " " + t.kind;
      if (t.kind == "soft") text += " " + parse::format_duration(t.grace_period);
      shown.push_back(std::move(text));
      if (t.met) met.push_back(t.kind + (t.grace_period_met ? "" : " (in grace period)"));
    }
    std::string forecast = "-";
    if (s.until_threshold)
      forecast = parse::format_duration(
          std::chrono::duration_cast<std::chrono::seconds>(*s.until_threshold));
    sig.push_back({s.name, format_value(s.available, s.unit),
                   shown.empty() ? "<none>" : fmt::format("{}", fmt::join(shown, ", ")),
                   format_value(s.capacity, s.unit), forecast,
                   met.empty() ? "no" : fmt::format("{}", fmt::join(met, ", "))});
  }
  std::vector<std::vector<std::string>> src{{"Source", "Up", "Duration", "Error"},
                                            {"------", "--", "--------", "-----"}};
  for (const auto& s : snap.sample.sources) {
    src.push_back(
        {s.name, s.up ? "yes" : "no", fmt::format("{:.3f}ms", s.duration_seconds * 1e3), s.error});
  }
  std::string out = fmt::format("Node: {}\n", snap.node_name);
  out += "Conditions:\n" + render_table(cond, 2);
  out += "Signals:\n" + render_table(sig, 2);
  out += "Sources:\n" + render_table(src, 2);
  return out;
}

}  // namespace nodehealth::sinks
