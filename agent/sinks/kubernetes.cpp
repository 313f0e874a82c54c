#include "agent/sinks/kubernetes.h"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <prometheus/metric_family.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "agent/eval/evaluator.h"
#include "agent/features/features.h"
#include "agent/parse/quantity.h"
#include "agent/sinks/families.h"

namespace nodehealth::sinks {

using json = nlohmann::json;

namespace {

// Every type the agent may have written, under its API name (for stale removal).
std::vector<std::string> agent_api_types() {
  namespace e = eval;
  std::vector<std::string> out;
  for (const char* t :
       {e::kMemoryPressure, e::kDiskPressure, e::kPIDPressure, e::kDefaultRouteUnavailable,
        e::kMemoryContention, e::kDiskContention, e::kKubepodsMemoryContention,
        e::kKubepodsDiskContention, e::kMemoryEvictionImminent, e::kDiskEvictionImminent,
        e::kPIDEvictionImminent, e::kCheckpointArchivesExposed, e::kKernelRequirementsMissing,
        e::kRecentOOMKills, e::kForkStorm, e::kSlowDisk, e::kPacketDrops})
    out.push_back(api_condition_type(t));
  return out;
}

std::optional<TimePoint> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  if (!strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  // A TimePoint counts nanoseconds in 64 bits: years 1678..2261 only.
  if (tm.tm_year < 1678 - 1900 || tm.tm_year > 2261 - 1900) return std::nullopt;
  return WallClock::from_time_t(timegm(&tm));
}

}  // namespace

Result<NodeView> parse_node(std::string_view body) {
  const json node = json::parse(body, nullptr, false);
  if (node.is_discarded() || !node.is_object()) return fail("not a JSON object");
  NodeView out;
  const auto meta = node.find("metadata");
  if (meta == node.end() || !meta->is_object()) return fail("no metadata");
  if (auto uid = meta->find("uid"); uid != meta->end() && uid->is_string()) out.uid = *uid;
  if (auto labels = meta->find("labels"); labels != meta->end() && labels->is_object()) {
    for (const auto& [k, v] : labels->items())
      if (v.is_string()) out.labels.emplace(k, v.get<std::string>());
  }
  const auto status = node.find("status");
  if (status == node.end() || !status->is_object()) return out;
  const auto conds = status->find("conditions");
  if (conds == status->end() || !conds->is_array()) return out;
  const auto known = agent_api_types();
  auto str = [](const json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  for (const auto& c : *conds) {
    if (!c.is_object()) continue;
    Condition a;
    a.type = str(c, "type");
    if (std::find(known.begin(), known.end(), a.type) == known.end()) continue;
    const std::string st = str(c, "status");
    if (st == "True") {
      a.status = ConditionStatus::kTrue;
    } else if (st == "False") {
      a.status = ConditionStatus::kFalse;
    } else {
      a.status = ConditionStatus::kUnknown;
    }
    a.reason = str(c, "reason");
    a.message = str(c, "message");
    if (auto t = parse_rfc3339(str(c, "lastTransitionTime"))) a.last_transition = *t;
    out.conditions.push_back(std::move(a));
  }
  return out;
}

std::string api_condition_type(const std::string& t) {
  if (t == eval::kMemoryPressure) return "MemoryEvictionThresholdMet";
  if (t == eval::kDiskPressure) return "DiskEvictionThresholdMet";
  if (t == eval::kPIDPressure) return "PIDEvictionThresholdMet";
  return t;
}

bool foreign_condition_type(const std::string& t) {
  return t == "Ready" || t == "MemoryPressure" || t == "DiskPressure" || t == "PIDPressure" ||
         t == "NetworkUnavailable";
}

struct KubernetesSink::Stats {
  std::mutex mu;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> requests;
  double last_success = 0;
  std::atomic<uint64_t> events_suppressed{0}, events_rejected{0};
  std::atomic<int> up{0};
  std::atomic<double> backoff_seconds{0};  // the current retry delay, 0 when healthy
};

namespace {

class KubeMetrics final : public prometheus::Collectable {
 public:
  explicit KubeMetrics(std::shared_ptr<KubernetesSink::Stats> s) : s_(std::move(s)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::shared_ptr<KubernetesSink::Stats> s_;
};

}  // namespace

std::vector<prometheus::MetricFamily> KubeMetrics::Collect() const {
  using prometheus::MetricType;
  prometheus::MetricFamily req{"nodehealth_kubernetes_requests_total",
                               "Requests to the Kubernetes API by verb, resource and HTTP code "
                               "(\"error\": no response).",
                               MetricType::Counter,
                               {}};
  prometheus::MetricFamily up{"nodehealth_kubernetes_up",
                              "1 when the last request to the Kubernetes API succeeded.",
                              MetricType::Gauge,
                              {}};
  prometheus::MetricFamily last{"nodehealth_kubernetes_last_success_timestamp_seconds",
                                "When a request to the Kubernetes API last succeeded.",
                                MetricType::Gauge,
                                {}};
  prometheus::MetricFamily backoff{
      "nodehealth_kubernetes_backoff_seconds",
      "The delay before the next retry of a failed Kubernetes API request; 0 when it answers.",
      MetricType::Gauge,
      {}};
  prometheus::MetricFamily rej{"nodehealth_kubernetes_events_rejected_total",
                               "Event occurrences dropped because the API refused their write "
                               "(400, 403, 422: a bad object or missing RBAC).",
                               MetricType::Counter,
                               {}};
  prometheus::MetricFamily sup{"nodehealth_kubernetes_events_suppressed_total",
                               "Event writes saved by aggregation and rate limiting.",
                               MetricType::Counter,
                               {}};
  {
    std::lock_guard lock(s_->mu);
    for (const auto& [k, n] : s_->requests)
      add_sample(req,
                 {{"verb", std::get<0>(k)}, {"resource", std::get<1>(k)}, {"code", std::get<2>(k)}},
                 double(n));
    if (s_->last_success > 0) add_sample(last, {}, s_->last_success);
  }
  add_sample(up, {}, s_->up.load());
  add_sample(backoff, {}, s_->backoff_seconds.load());
  add_sample(sup, {}, double(s_->events_suppressed.load()));
  add_sample(rej, {}, double(s_->events_rejected.load()));
  std::vector<prometheus::MetricFamily> out;
  for (auto* f : {&req, &up, &last, &backoff, &sup, &rej})
    if (!f->metric.empty()) out.push_back(std::move(*f));
  return out;
}

KubernetesSink::KubernetesSink(std::unique_ptr<kube::Client> client, KubeOptions opts)
    : client_(std::move(client)),
      opts_(std::move(opts)),
      stats_(std::make_shared<Stats>()),
      metrics_(std::make_shared<KubeMetrics>(stats_)),
      events_(opts_.events, std::chrono::steady_clock::now()) {}

KubernetesSink::~KubernetesSink() {
  stop();
  if (worker_.joinable()) worker_.join();
}

void KubernetesSink::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  client_->set_deadline(std::chrono::steady_clock::now() + opts_.shutdown_timeout);
  cv_.notify_all();
}

void KubernetesSink::start() {
  started_ = WallClock::now();
  worker_ = std::thread([this] { run(); });
}

void KubernetesSink::publish(const Sample& sample, const NodeStatus& status) {
  std::lock_guard lock(mu_);
  const TimePoint now = status.evaluated_at;
  std::vector<Cond> next;
  for (const auto& c : status.conditions) {
    const std::string type = api_condition_type(c.type);
    if (foreign_condition_type(type)) continue;
    Cond d{type, to_string(c.status), c.reason, c.message, c.last_transition};
    if (auto it = published_.find(type); it != published_.end() && it->second != d.status)
      events_.transition(type, d.status, c.reason, c.message, now);  // Warning or Normal
    published_[type] = d.status;
    next.push_back(std::move(d));
  }
  for (const auto& k : sample.oom_kills) events_.oom_kill(k, now);
  if (opts_.feature_labels && sample.features && sample.features != labelled_) {
    // A new report (every 10 minutes): the labels it stands for. Without a report (the
    // features source off or failing) the Node keeps what it has.
    FeatureLabels fl = feature_labels(*sample.features);
    if (!fl.skipped.empty() && !labelled_)
      spdlog::warn("kubernetes: node labels: {} name(s) are not valid label names, left out: {}",
                   fl.skipped.size(), fmt::join(fl.skipped, "; "));
    labelled_ = sample.features;
    wanted_labels_ = std::move(fl.labels);
  }
  desired_ = std::move(next);
  dirty_ = true;
  cv_.notify_all();
}

void KubernetesSink::record(const std::string& verb, const std::string& resource, long code) {
  std::lock_guard lock(stats_->mu);
  ++stats_->requests[{verb, resource, code > 0 ? std::to_string(code) : "error"}];
  if (code >= 200 && code < 300) {
    stats_->last_success =
        std::chrono::duration<double>(WallClock::now().time_since_epoch()).count();
    stats_->up = 1;
  } else {
    stats_->up = 0;
  }
}

std::chrono::milliseconds KubernetesSink::backoff(int failures) {
  // 200ms, 400ms, ... capped at 7s, each +-20% so a fleet does not retry in step.
  const int n = std::min(failures - 1, 16);
  auto d =
      std::min<int64_t>(opts_.backoff_min.count() << std::max(n, 0), opts_.backoff_max.count());
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> j(0.8, 1.2);
  const auto wait = std::chrono::milliseconds(int64_t(double(d) * j(rng)));
  stats_->backoff_seconds = std::chrono::duration<double>(wait).count();
  return wait;
}

bool KubernetesSink::adopt() {
  auto r = client_->request("GET", "/api/v1/nodes/" + opts_.node);
  record("get", "nodes", r ? r->code : 0);
  if (!r || r->code != 200) {
    if (!api_down_logged_)
      spdlog::warn(
          "kubernetes: cannot read node {}: {}", opts_.node,
          r ? fmt::format("HTTP {}: {}", r->code, r->body.substr(0, 200)) : r.error().message);
    api_down_logged_ = true;
    return false;
  }
  auto node = parse_node(r->body);
  if (!node) {
    spdlog::warn("kubernetes: node {}: unreadable response: {}", opts_.node, node.error().message);
    return false;
  }
  uid_ = node->uid;
  for (const auto& c : node->conditions) {
    Cond a{c.type, to_string(c.status), c.reason, c.message, c.last_transition};
    adopted_[c.type] = a;
  }
  spdlog::info("kubernetes: node {} read from {}: adopted {} condition(s) of the agent's types",
               opts_.node, client_->config().origin, adopted_.size());
  if (opts_.feature_labels) {
    node_labels_ = owned_labels(node->labels);
    spdlog::info("kubernetes: node labels: the node has {} label(s) under {} and {}",
                 node_labels_.size(), kFeatureLabelPrefix, kSysctlLabelPrefix);
  }
  api_down_logged_ = false;
  return true;
}

std::vector<KubernetesSink::Cond> KubernetesSink::effective(TimePoint now) {
  std::vector<Cond> desired;
  {
    std::lock_guard lock(mu_);
    desired = desired_;
  }
  for (auto& d : desired) {
    auto it = adopted_.find(d.type);
    if (it == adopted_.end()) continue;
    const Cond& a = it->second;
    if (a.status == d.status) {
      d.transition = a.transition;  // the same status as before the restart: keep its time
    } else if (a.status == "True" && now - started_ < opts_.adopt_grace) {
      d = a;  // not yet watched long enough to call it healthy
    } else {
      adopted_.erase(it);  // a real transition: the agent's own time from now on
    }
  }
  return desired;
}

bool KubernetesSink::patch_status(TimePoint now) {
  std::vector<Cond> desired = effective(now);
  json conds = json::array();
  std::map<std::string, std::string> sent;
  for (auto& d : desired) {
    conds.push_back({{"type", d.type},
                     {"status", d.status},
                     {"reason", d.reason},
                     {"message", d.message},
                     {"lastHeartbeatTime", format_rfc3339(now)},
                     {"lastTransitionTime", format_rfc3339(d.transition)}});
    sent[d.type] = d.status + "/" + d.reason;
  }
  if (opts_.remove_stale) {
    for (const auto& [type, a] : adopted_) {
      if (!sent.contains(type)) conds.push_back({{"type", type}, {"$patch", "delete"}});
    }
  }
  const json body = {{"status", {{"conditions", conds}}}};
  auto r = client_->request("PATCH", "/api/v1/nodes/" + opts_.node + "/status",
                            "application/strategic-merge-patch+json", body.dump());
  record("patch", "nodes/status", r ? r->code : 0);
  if (r && r->code >= 200 && r->code < 300) {
    if (api_down_logged_ || !ever_patched_)
      spdlog::info("kubernetes: node {} status patched ({} conditions){}", opts_.node,
                   desired.size(), api_down_logged_ ? " after a failure" : "");
    api_down_logged_ = false;
    ever_patched_ = true;
    failures_ = 0;
    stats_->backoff_seconds = 0;
    sent_ = std::move(sent);
    last_patch_ = now;
    if (opts_.feature_labels) see_labels(r->body);  // the answer is the whole Node
    if (opts_.remove_stale)
      std::erase_if(adopted_, [&](const auto& kv) { return !sent_.contains(kv.first); });
    return true;
  }
  last_error_ = r ? fmt::format("HTTP {}: {}", r->code, r->body.substr(0, 200)) : r.error().message;
  {
    std::lock_guard lock(mu_);
    stopping_ = stopping_ || stop_;
  }
  if (stopping_) return false;  // cut by the shutdown deadline: final_write() tells
  ++failures_;
  auto wait = backoff(failures_);
  if (r && r->retry_after) wait = std::max<std::chrono::milliseconds>(wait, *r->retry_after);
  stats_->backoff_seconds = std::chrono::duration<double>(wait).count();
  retry_at_ = std::chrono::steady_clock::now() + wait;
  if (!api_down_logged_)
    spdlog::warn("kubernetes: patching node {} failed, retrying with backoff: {}", opts_.node,
                 last_error_);
  api_down_logged_ = true;
  return false;
}

void KubernetesSink::flush_events(TimePoint now) {
  std::vector<EventWrite> todo;
  {
    std::lock_guard lock(mu_);
    todo = events_.due(now, std::chrono::steady_clock::now());
  }
  const std::string base = "/api/v1/namespaces/" + opts_.events_namespace + "/events";
  for (const EventWrite& ev : todo) {
    Result<kube::Response> r = fail("not sent");
    std::string name = ev.name;
    if (name.empty()) {
      name = fmt::format(
          "{}.{:x}", opts_.node,
          std::chrono::duration_cast<std::chrono::nanoseconds>(WallClock::now().time_since_epoch())
              .count());
      json body = {{"apiVersion", "v1"},
                   {"kind", "Event"},
                   {"metadata", {{"name", name}, {"namespace", opts_.events_namespace}}},
                   {"involvedObject",
                    {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", opts_.node}, {"uid", uid_}}},
                   {"reason", ev.reason},
                   {"message", ev.message},
                   {"type", ev.type},
                   {"count", ev.count},
                   {"firstTimestamp", format_rfc3339(ev.first)},
                   {"lastTimestamp", format_rfc3339(ev.last)},
                   {"source", {{"component", "nodehealth"}, {"host", opts_.node}}},
                   {"reportingComponent", "nodehealth"},
                   {"reportingInstance", opts_.node}};
      r = client_->request("POST", base, "application/json", body.dump());
      record("create", "events", r ? r->code : 0);
    } else {
      json body = {
          {"count", ev.count}, {"message", ev.message}, {"lastTimestamp", format_rfc3339(ev.last)}};
      r = client_->request("PATCH", base + "/" + name, "application/strategic-merge-patch+json",
                           body.dump());
      record("patch", "events", r ? r->code : 0);
    }
    const auto outcome = EventAggregator::outcome(r ? r->code : 0, !ev.name.empty());
    {
      std::lock_guard lock(mu_);
      events_.sent(ev, outcome, name);
      stats_->events_suppressed = events_.suppressed();
      stats_->events_rejected = events_.rejected();
    }
    if (outcome == EventAggregator::Outcome::kRejected && !events_rejected_logged_) {
      events_rejected_logged_ = true;  // once: RBAC or a bad object does not fix itself
      spdlog::warn("kubernetes: events: the API refuses them, dropping: HTTP {}: {}", r->code,
                   r->body.substr(0, 200));
    }
    if (outcome == EventAggregator::Outcome::kFailed) break;  // the status backoff covers it
  }
}

void KubernetesSink::see_labels(const std::string& body) {
  auto node = parse_node(body);
  if (node) node_labels_ = owned_labels(node->labels);
}

void KubernetesSink::sync_labels() {
  if (!opts_.feature_labels) return;
  Labels want;
  {
    std::lock_guard lock(mu_);
    if (!wanted_labels_) return;  // no features report yet
    want = *wanted_labels_;
  }
  const LabelChange change = label_change(node_labels_, want);
  if (change.empty()) return;
  const auto steady = std::chrono::steady_clock::now();
  if (steady < label_retry_at_) return;
  auto r = client_->request("PATCH", "/api/v1/nodes/" + opts_.node, "application/merge-patch+json",
                            label_patch(change));
  record("patch", "nodes", r ? r->code : 0);
  if (r && r->code >= 200 && r->code < 300) {
    spdlog::info("kubernetes: node labels: set {}, removed {} node={}", change.set.size(),
                 change.remove.size(), opts_.node);
    if (labels_down_logged_) spdlog::info("kubernetes: node labels: written after a failure");
    auto node = parse_node(r->body);
    if (node) {
      node_labels_ = owned_labels(node->labels);
    } else {  // an answer without the Node: what the patch did
      for (const auto& [k, v] : change.set) node_labels_[k] = v;
      for (const auto& k : change.remove) node_labels_.erase(k);
    }
    label_failures_ = 0;
    labels_down_logged_ = false;
    labels_refused_.clear();
    return;
  }
  const std::string error =
      r ? fmt::format("HTTP {}: {}", r->code, r->body.substr(0, 200)) : r.error().message;
  const long code = r ? r->code : 0;
  const bool transient = code == 0 || code == 408 || code == 409 || code == 429 || code >= 500;
  if (transient) {
    ++label_failures_;
    auto wait = backoff(label_failures_);
    if (r && r->retry_after) wait = std::max<std::chrono::milliseconds>(wait, *r->retry_after);
    stats_->backoff_seconds = std::chrono::duration<double>(wait).count();
    label_retry_at_ = steady + wait;
    if (!labels_down_logged_)
      spdlog::warn("kubernetes: patching the labels of node {} failed, retrying with backoff: {}",
                   opts_.node, error);
    labels_down_logged_ = true;
    return;
  }
  // Refused: RBAC, a bad object. Not fixed by retrying at once; checked again each heartbeat.
  label_failures_ = 0;
  label_retry_at_ = steady + opts_.heartbeat;
  if (error != labels_refused_)
    spdlog::warn("kubernetes: node labels: the API refuses them, retrying every {}: {}",
                 parse::format_duration(opts_.heartbeat), error);
  labels_refused_ = error;
  labels_down_logged_ = true;
}

bool KubernetesSink::unsent(const std::vector<Cond>& want) const {
  for (const auto& d : want) {
    auto it = sent_.find(d.type);
    if (it == sent_.end() || it->second != d.status + "/" + d.reason) return true;
  }
  return false;
}

void KubernetesSink::run() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (stop_) break;
    }
    const auto steady = std::chrono::steady_clock::now();
    const TimePoint now = WallClock::now();
    if (!adopted_done_) {
      if (steady >= retry_at_) {
        if (adopt()) {
          adopted_done_ = true;
          failures_ = 0;
          stats_->backoff_seconds = 0;
        } else {
          ++failures_;
          retry_at_ = steady + backoff(failures_);
        }
      }
    } else {
      const std::vector<Cond> want = effective(now);
      const bool have = !want.empty();
      const bool changed = unsent(want);
      const bool heartbeat_due = !ever_patched_ || now - last_patch_ >= opts_.heartbeat;
      if (have && (changed || heartbeat_due) && steady >= retry_at_) patch_status(now);
      if (failures_ == 0) {
        sync_labels();
        flush_events(now);
      }
    }
    // Sleep until something changes, a retry or a heartbeat is due, or tokens refill.
    std::unique_lock lock(mu_);
    if (stop_) break;
    auto wake = steady + std::chrono::seconds(1);
    if (failures_ > 0) wake = std::min(wake, std::max(retry_at_, steady));
    cv_.wait_until(lock, wake, [&] { return stop_ || (dirty_ && failures_ == 0); });
    dirty_ = false;
  }
  final_write();
}

// Stopping: the request in flight has ended (answered, or cut at the shutdown deadline); one
// last write of a change the API has not seen yet, within what is left of the deadline, even
// while the API was failing (a refused connection costs nothing, a hung one the deadline).
void KubernetesSink::final_write() {
  stopping_ = true;
  if (!adopted_done_) {
    std::lock_guard lock(mu_);
    if (!desired_.empty())
      spdlog::warn("kubernetes: final status of node {} not written: the node was never read",
                   opts_.node);
    return;
  }
  const TimePoint now = WallClock::now();
  const std::vector<Cond> want = effective(now);
  if (want.empty()) return;
  if (!unsent(want)) {
    spdlog::info("kubernetes: node {} has the newest status, nothing left to write", opts_.node);
    return;
  }
  const std::string bound = fmt::format("{}ms", opts_.shutdown_timeout.count());
  if (client_->deadline_passed()) {
    spdlog::warn(
        "kubernetes: final status of node {} not written: the shutdown deadline of {} passed "
        "(last error: {})",
        opts_.node, bound, last_error_.empty() ? "none" : last_error_);
    return;
  }
  if (patch_status(now))
    spdlog::info("kubernetes: final status of node {} written ({} conditions)", opts_.node,
                 want.size());
  else
    spdlog::warn(
        "kubernetes: final status of node {} not written within the shutdown deadline "
        "of {}: {}",
        opts_.node, bound, last_error_);
}

}  // namespace nodehealth::sinks
