// The Kubernetes sink: keeps the agent's own condition types in the Node's status and
// writes Events for their transitions and for OOM kills.
//
// All API traffic runs on one worker thread of its own; publish() (the agent's loop)
// only hands over the newest state, so the newest state always wins and nothing queues.
//   - PATCH /api/v1/nodes/{name}/status, strategic merge patch, only the agent's types
//     (the kubelet's MemoryPressure/DiskPressure/PIDPressure are written under the agent's
//     own names, and Ready/MemoryPressure/DiskPressure/PIDPressure/NetworkUnavailable are
//     never written), within a second of a change, else a heartbeat every heartbeatInterval;
//   - failures retry with exponential backoff (200 ms doubling to 7 s, jittered, a 429's
//     Retry-After honoured);
//   - on start the Node is read and the agent's existing conditions adopted: their
//     lastTransitionTime is kept while the status agrees, and a True one is not turned False
//     before the agent has watched for the adoption grace period (no false healthy window);
//   - Events are aggregated per reason and object, and rate-limited by a token bucket
//     (kubernetes_events.h);
//   - with feature_labels, PATCH /api/v1/nodes/{name} (a merge patch of metadata.labels only)
//     keeps the labels of node_labels.h on the Node: only when they differ from what the Node
//     has (read on start, and again from every status patch's answer, so a label removed by
//     hand is back within a heartbeat), with null for the agent's labels it no longer
//     produces, never touching other labels; attempted only while the status patch succeeds.
//     A transient failure (no answer, 408, 409, 429, 5xx) retries with the same backoff; a
//     refusal (403 without the RBAC grant, 400, 404, 422) is logged once and retried after
//     heartbeatInterval, so a missing grant costs one request per heartbeat.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/collectable.h>

#include "agent/kube/client.h"
#include "agent/sinks/kubernetes_events.h"
#include "agent/sinks/node_labels.h"
#include "nodehealth/clock.h"
#include "nodehealth/condition.h"
#include "nodehealth/result.h"
#include "nodehealth/sink.h"

namespace nodehealth::sinks {

struct KubeOptions {
  std::string node;
  std::chrono::nanoseconds heartbeat = std::chrono::minutes(5);
  std::chrono::nanoseconds adopt_grace = std::chrono::minutes(5);
  bool remove_stale = false;
  std::string events_namespace = "default";
  std::chrono::milliseconds backoff_min{200}, backoff_max{7000};
  // When the agent stops: how long the request in flight and one last write of a change the
  // API has not seen may take, together (the DaemonSet gives the pod 15 s to exit).
  std::chrono::milliseconds shutdown_timeout{5000};
  EventLimits events;           // aggregation window and the token bucket of Event writes
  bool feature_labels = false;  // kubernetes.featureLabels
};

// What the sink reads from a Node: its uid and the conditions of the agent's own types.
struct NodeView {
  std::string uid;
  std::vector<Condition> conditions;
  Labels labels;  // metadata.labels, all of them (string values only)
};
// Parses a GET /api/v1/nodes/{name} response body; never throws.
Result<NodeView> parse_node(std::string_view body);

// The name a condition of the agent is written under in the Node's status.
std::string api_condition_type(const std::string& agent_type);
// Types the sink must never write (their owners rewrite them).
bool foreign_condition_type(const std::string& api_type);

class KubernetesSink final : public Sink {
 public:
  KubernetesSink(std::unique_ptr<kube::Client> client, KubeOptions opts);
  ~KubernetesSink() override;  // stop(), then waits for the worker
  void start();
  // Asks the worker to stop, without waiting: the request in flight and one last write of a
  // change the API has not seen yet get shutdown_timeout together, from now; the outcome of
  // that write is logged. The agent calls it as soon as its loop ends, so the write overlaps
  // the rest of the shutdown.
  void stop();
  void publish(const Sample& sample, const NodeStatus& status) override;
  std::shared_ptr<prometheus::Collectable> metrics() const { return metrics_; }

  struct Stats;  // request counters, shared with the metrics collectable

 private:
  struct Cond {
    std::string type, status, reason, message;
    TimePoint transition{};
  };

  void run();
  void final_write();
  bool adopt();
  bool patch_status(TimePoint now);
  // The newest evaluation with the adopted conditions applied (worker only).
  std::vector<Cond> effective(TimePoint now);
  // Whether any of these differs in status or reason from what the API last accepted.
  bool unsent(const std::vector<Cond>& want) const;
  void flush_events(TimePoint now);
  // Brings the Node's labels to the wanted set when they differ and a retry is due.
  void sync_labels();
  // The agent's labels as the Node has them, from a response body (GET or PATCH of the Node).
  void see_labels(const std::string& body);
  void record(const std::string& verb, const std::string& resource, long code);
  std::chrono::milliseconds backoff(int failures);

  std::unique_ptr<kube::Client> client_;
  KubeOptions opts_;
  std::shared_ptr<Stats> stats_;
  std::shared_ptr<prometheus::Collectable> metrics_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<Cond> desired_;                     // newest evaluation, API names
  std::map<std::string, std::string> published_;  // type -> status, for transition events
  EventAggregator events_;
  bool dirty_ = false;
  std::shared_ptr<const features::FeatureReport> labelled_;  // the report wanted_labels_ is of
  std::optional<Labels> wanted_labels_;                      // none before the first report

  // Worker-only state.
  std::string uid_;
  bool adopted_done_ = false;
  std::map<std::string, Cond> adopted_;
  std::map<std::string, std::string> sent_;  // type -> "status/reason" last written
  std::vector<std::string> stale_;           // agent types on the Node no longer produced
  TimePoint started_{}, last_patch_{};
  bool ever_patched_ = false;
  int failures_ = 0;
  std::chrono::steady_clock::time_point retry_at_{};
  bool api_down_logged_ = false;
  bool stopping_ = false;  // the last write: its failure is not "retrying"
  std::string last_error_;
  bool events_rejected_logged_ = false;
  Labels node_labels_;  // the agent's labels on the Node, as last seen
  int label_failures_ = 0;
  std::chrono::steady_clock::time_point label_retry_at_{};
  bool labels_down_logged_ = false;  // a failure or refusal logged, not yet a success
  std::string labels_refused_;       // the last refusal logged (logged again when it changes)
  std::thread worker_;
};

}  // namespace nodehealth::sinks
