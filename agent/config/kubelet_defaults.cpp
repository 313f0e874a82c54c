// The kubelet's defaults (see kubelet_defaults.h). The table follows
// SetDefaults_KubeletConfiguration of Kubernetes 1.35 field by field and in its order; each row
// says whether the Go field is a pointer (defaulted when nil) or a plain value (defaulted when
// zero as well), which is what decides whether an explicit 0 or "" survives.
#include "agent/config/kubelet_defaults.h"

#include <unistd.h>

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <vector>

#include "agent/config/problems.h"
#include "agent/parse/quantity.h"

namespace nodehealth::config {

using nlohmann::json;

namespace {

using Path = std::vector<std::string>;

enum class Unset {
  kNil,   // *T in Go: absent or null
  kZero,  // T in Go: absent, null or the zero value
};
enum class Type { kBool, kInt, kFloat, kString, kDuration, kList };

struct Row {
  Path path;
  Unset unset;
  Type type;
  json value;
};

// SetDefaults_KubeletConfiguration, in its order. nodeStatusReportFrequency, podPidsLimit,
// serializeImagePulls, logging, the feature-gated fields and evictionHard are special cases in
// apply_kubelet_defaults.
const std::vector<Row>& rows() {
  static const std::vector<Row> kRows = {
      {{"enableServer"}, Unset::kNil, Type::kBool, true},
      {{"syncFrequency"}, Unset::kZero, Type::kDuration, "1m0s"},
      {{"fileCheckFrequency"}, Unset::kZero, Type::kDuration, "20s"},
      {{"httpCheckFrequency"}, Unset::kZero, Type::kDuration, "20s"},
      {{"address"}, Unset::kZero, Type::kString, "0.0.0.0"},
      {{"port"}, Unset::kZero, Type::kInt, 10250},  // ports.KubeletPort
      {{"authentication", "anonymous", "enabled"}, Unset::kNil, Type::kBool, false},
      {{"authentication", "webhook", "enabled"}, Unset::kNil, Type::kBool, true},
      {{"authentication", "webhook", "cacheTTL"}, Unset::kZero, Type::kDuration, "2m0s"},
      {{"authorization", "mode"}, Unset::kZero, Type::kString, "Webhook"},
      {{"authorization", "webhook", "cacheAuthorizedTTL"}, Unset::kZero, Type::kDuration, "5m0s"},
      {{"authorization", "webhook", "cacheUnauthorizedTTL"}, Unset::kZero, Type::kDuration, "30s"},
      {{"registryPullQPS"}, Unset::kNil, Type::kInt, 5},
      {{"registryBurst"}, Unset::kZero, Type::kInt, 10},
      {{"eventRecordQPS"}, Unset::kNil, Type::kInt, 50},
      {{"eventBurst"}, Unset::kZero, Type::kInt, 100},
      {{"enableDebuggingHandlers"}, Unset::kNil, Type::kBool, true},
      {{"healthzPort"}, Unset::kNil, Type::kInt, 10248},
      {{"healthzBindAddress"}, Unset::kZero, Type::kString, "127.0.0.1"},
      {{"oomScoreAdj"}, Unset::kNil, Type::kInt, -999},  // qos.KubeletOOMScoreAdj
      {{"streamingConnectionIdleTimeout"}, Unset::kZero, Type::kDuration, "4h0m0s"},
      // nodeStatusReportFrequency: special case, before nodeStatusUpdateFrequency.
      {{"nodeStatusUpdateFrequency"}, Unset::kZero, Type::kDuration, "10s"},
      {{"nodeLeaseDurationSeconds"}, Unset::kZero, Type::kInt, 40},
      {{"imageMinimumGCAge"}, Unset::kZero, Type::kDuration, "2m0s"},
      {{"imageGCHighThresholdPercent"}, Unset::kNil, Type::kInt, 85},
      {{"imageGCLowThresholdPercent"}, Unset::kNil, Type::kInt, 80},
      {{"volumeStatsAggPeriod"}, Unset::kZero, Type::kDuration, "1m0s"},
      {{"cgroupsPerQOS"}, Unset::kNil, Type::kBool, true},
      {{"cgroupDriver"}, Unset::kZero, Type::kString, "cgroupfs"},
      {{"cpuManagerPolicy"}, Unset::kZero, Type::kString, "none"},
      {{"cpuManagerReconcilePeriod"}, Unset::kZero, Type::kDuration, "10s"},
      {{"memoryManagerPolicy"}, Unset::kZero, Type::kString, "None"},
      {{"topologyManagerPolicy"}, Unset::kZero, Type::kString, "none"},
      {{"topologyManagerScope"}, Unset::kZero, Type::kString, "container"},
      {{"runtimeRequestTimeout"}, Unset::kZero, Type::kDuration, "2m0s"},
      {{"hairpinMode"}, Unset::kZero, Type::kString, "promiscuous-bridge"},
      {{"maxPods"}, Unset::kZero, Type::kInt, 110},
      // podPidsLimit: special case (nil or negative -> -1).
      {{"resolvConf"}, Unset::kNil, Type::kString, "/etc/resolv.conf"},  // ResolvConfDefault
      {{"cpuCFSQuota"}, Unset::kNil, Type::kBool, true},
      {{"cpuCFSQuotaPeriod"}, Unset::kNil, Type::kDuration, "100ms"},
      {{"nodeStatusMaxImages"}, Unset::kNil, Type::kInt, 50},
      {{"maxOpenFiles"}, Unset::kZero, Type::kInt, 1000000},
      {{"contentType"}, Unset::kZero, Type::kString, "application/vnd.kubernetes.protobuf"},
      {{"kubeAPIQPS"}, Unset::kNil, Type::kInt, 50},
      {{"kubeAPIBurst"}, Unset::kZero, Type::kInt, 100},
      // serializeImagePulls: special case (depends on maxParallelImagePulls).
      {{"evictionPressureTransitionPeriod"}, Unset::kZero, Type::kDuration, "5m0s"},
      {{"mergeDefaultEvictionSettings"}, Unset::kNil, Type::kBool, false},
      {{"enableControllerAttachDetach"}, Unset::kNil, Type::kBool, true},
      {{"makeIPTablesUtilChains"}, Unset::kNil, Type::kBool, true},
      {{"iptablesMasqueradeBit"}, Unset::kNil, Type::kInt, 14},
      {{"iptablesDropBit"}, Unset::kNil, Type::kInt, 15},
      {{"failSwapOn"}, Unset::kNil, Type::kBool, true},
      {{"containerLogMaxSize"}, Unset::kZero, Type::kString, "10Mi"},
      {{"containerLogMaxFiles"}, Unset::kNil, Type::kInt, 5},
      {{"containerLogMaxWorkers"}, Unset::kNil, Type::kInt, 1},
      {{"containerLogMonitorInterval"}, Unset::kNil, Type::kDuration, "10s"},
      {{"configMapAndSecretChangeDetectionStrategy"}, Unset::kZero, Type::kString, "Watch"},
      {{"enforceNodeAllocatable"}, Unset::kNil, Type::kList, json::array({"pods"})},
      {{"volumePluginDir"},
       Unset::kZero,
       Type::kString,
       "/usr/libexec/kubernetes/kubelet-plugins/volume/exec/"},
      // logging: SetRecommendedLoggingConfiguration, special case.
      {{"enableSystemLogHandler"}, Unset::kNil, Type::kBool, true},
      {{"enableProfilingHandler"}, Unset::kNil, Type::kBool, true},
      {{"enableDebugFlagsHandler"}, Unset::kNil, Type::kBool, true},
      {{"seccompDefault"}, Unset::kNil, Type::kBool, false},
      {{"failCgroupV1"}, Unset::kNil, Type::kBool, true},  // true since 1.35 (facts §5)
      {{"memoryThrottlingFactor"}, Unset::kNil, Type::kFloat, 0.9},
      {{"registerNode"}, Unset::kNil, Type::kBool, true},
      {{"localStorageCapacityIsolation"}, Unset::kNil, Type::kBool, true},
      {{"containerRuntimeEndpoint"},
       Unset::kZero,
       Type::kString,
       "unix:///run/containerd/containerd.sock"},
      {{"podLogsDir"}, Unset::kZero, Type::kString, "/var/log/pods"},  // DefaultPodLogsDir
  };
  return kRows;
}

// Every metav1.Duration field of the v1beta1 KubeletConfiguration (logging.flushFrequency, which
// also takes a number of nanoseconds, is handled with logging).
const std::vector<Path>& duration_fields() {
  static const std::vector<Path> kFields = {
      {"syncFrequency"},
      {"fileCheckFrequency"},
      {"httpCheckFrequency"},
      {"authentication", "webhook", "cacheTTL"},
      {"authorization", "webhook", "cacheAuthorizedTTL"},
      {"authorization", "webhook", "cacheUnauthorizedTTL"},
      {"streamingConnectionIdleTimeout"},
      {"nodeStatusUpdateFrequency"},
      {"nodeStatusReportFrequency"},
      {"imageMinimumGCAge"},
      {"imageMaximumGCAge"},
      {"volumeStatsAggPeriod"},
      {"cpuManagerReconcilePeriod"},
      {"runtimeRequestTimeout"},
      {"cpuCFSQuotaPeriod"},
      {"evictionPressureTransitionPeriod"},
      {"containerLogMonitorInterval"},
      {"shutdownGracePeriod"},
      {"shutdownGracePeriodCriticalPods"},
      {"crashLoopBackOff", "maxContainerRestartPeriod"},
  };
  return kFields;
}

// The v1beta1 fields that hold file paths (KubeletConfigurationPathRefs).
const std::vector<Path>& path_fields() {
  static const std::vector<Path> kFields = {
      {"staticPodPath"}, {"authentication", "x509", "clientCAFile"},
      {"tlsCertFile"},   {"tlsPrivateKeyFile"},
      {"resolvConf"},    {"volumePluginDir"},
      {"podLogsDir"},
  };
  return kFields;
}

// The value at `path`, or nullptr when it, or a parent, is absent, null or not an object.
const json* get(const json& root, const Path& path) {
  const json* cur = &root;
  for (const std::string& key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end() || it->is_null()) return nullptr;
    cur = &*it;
  }
  return cur;
}

// Sets `path` to `value`, creating absent (or null) parents; does nothing when a parent holds
// something other than an object (the decoder's error, not a default's business).
void set(json& root, const Path& path, json value) {
  json* cur = &root;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    if (cur->is_null()) *cur = json::object();
    if (!cur->is_object()) return;
    cur = &(*cur)[path[i]];
  }
  if (cur->is_null()) *cur = json::object();
  if (!cur->is_object()) return;
  (*cur)[path.back()] = std::move(value);
}

bool zero_duration(const json& v) {
  if (!v.is_string()) return false;
  auto d = parse::parse_duration(v.get<std::string>());
  return d && *d == std::chrono::nanoseconds::zero();
}

// Whether the value at `path` counts as unset for the row.
bool unset(const json& root, const Row& row) {
  const json* v = get(root, row.path);
  if (v == nullptr) return true;
  if (row.unset == Unset::kNil) return false;
  switch (row.type) {
    case Type::kInt:
    case Type::kFloat:
      return v->is_number() && v->get<double>() == 0;
    case Type::kString:
      return v->is_string() && v->get<std::string>().empty();
    case Type::kDuration:
      return zero_duration(*v);
    case Type::kBool:
    case Type::kList:
      return false;
  }
  return false;
}

void default_row(json& root, const Row& row) {
  if (unset(root, row)) set(root, row.path, row.value);
}

// Lexical filepath.Clean of an absolute path.
std::string clean_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    i = j + 1;
  }
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

// filepath.Abs: the path joined to the working directory when relative, cleaned.
std::string absolute(const std::string& path) {
  if (path.starts_with("/")) return clean_path(path);
  char buf[4096];
  const char* cwd = ::getcwd(buf, sizeof buf);
  return clean_path(std::string(cwd ? cwd : "/") + "/" + path);
}

std::string dir_of(const std::string& abs_path) {
  auto slash = abs_path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : abs_path.substr(0, slash);
}

// configfiles.go resolveRelativePaths: "" stays, absolute paths stay, the rest is joined to the
// directory of the file.
void resolve_relative_paths(Document& doc, const std::string& dir) {
  for (const Path& path : path_fields()) {
    const json* v = get(doc.value, path);
    if (v == nullptr || !v->is_string()) continue;
    const std::string p = v->get<std::string>();
    if (p.empty() || p.starts_with("/")) continue;
    set(doc.value, path, clean_path(dir + "/" + p));
  }
}

}  // namespace

bool kubelet_feature_enabled(const json& config, std::string_view gate) {
  // pkg/features/kube_features.go, Kubernetes 1.35: the gates that guard a default.
  static constexpr std::pair<std::string_view, bool> kBetaGates[] = {
      {"KubeletCrashLoopBackOffMax", true},
      {"KubeletEnsureSecretPulledImages", true},
  };
  const json* gates = get(config, {"featureGates"});
  if (gates != nullptr && gates->is_object()) {
    if (auto it = gates->find(std::string(gate)); it != gates->end() && it->is_boolean())
      return it->get<bool>();
  }
  for (const auto& [name, on] : kBetaGates) {
    if (name != gate) continue;
    if (gates != nullptr && gates->is_object()) {
      if (auto it = gates->find("AllBeta"); it != gates->end() && it->is_boolean())
        return it->get<bool>();
    }
    return on;
  }
  return false;
}

json kubelet_legacy_flag_defaults() {
  return json{
      {"authentication", {{"anonymous", {{"enabled", true}}}, {"webhook", {{"enabled", false}}}}},
      {"authorization", {{"mode", "AlwaysAllow"}}},
      {"readOnlyPort", 10255},  // ports.KubeletReadOnlyPort
  };
}

json apply_kubelet_defaults(json merged) {
  if (merged.is_null()) merged = json::object();
  if (!merged.is_object()) return merged;
  json& c = merged;

  for (const Row& row : rows()) {
    if (row.path == Path{"nodeStatusUpdateFrequency"}) {
      // "For backward compatibility, NodeStatusReportFrequency's default value is set to
      // NodeStatusUpdateFrequency if NodeStatusUpdateFrequency is set explicitly."
      const Row report{{"nodeStatusReportFrequency"}, Unset::kZero, Type::kDuration, "5m0s"};
      const Row update{{"nodeStatusUpdateFrequency"}, Unset::kZero, Type::kDuration, ""};
      if (unset(c, report)) {
        if (unset(c, update)) {
          set(c, report.path, "5m0s");
        } else {
          set(c, report.path, *get(c, update.path));
        }
      }
    }
    if (row.path == Path{"resolvConf"}) {
      // "default nil or negative value to -1 (implies node allocatable pid limit)"
      const json* v = get(c, {"podPidsLimit"});
      if (v == nullptr || (v->is_number() && v->get<double>() < 0)) set(c, {"podPidsLimit"}, -1);
    }
    if (row.path == Path{"evictionPressureTransitionPeriod"}) {
      // "SerializeImagePulls is default to true when MaxParallelImagePulls is not set, and
      // false when MaxParallelImagePulls is set."
      if (get(c, {"serializeImagePulls"}) == nullptr) {
        const json* m = get(c, {"maxParallelImagePulls"});
        const bool parallel = m != nullptr && m->is_number() && m->get<double>() >= 2;
        set(c, {"serializeImagePulls"}, !parallel);
      }
    }
    if (row.path == Path{"enableSystemLogHandler"}) {
      // logsapi.SetRecommendedLoggingConfiguration (component-base/logs/api/v1).
      const Row format{{"logging", "format"}, Unset::kZero, Type::kString, "text"};
      default_row(c, format);
      const json* flush = get(c, {"logging", "flushFrequency"});
      if (flush == nullptr || (flush->is_number() && flush->get<double>() == 0) ||
          zero_duration(*flush)) {
        set(c, {"logging", "flushFrequency"}, "5s");  // LogFlushFreqDefault, SerializeAsString
      }
      for (const char* stream : {"text", "json"}) {
        const Path p{"logging", "options", stream, "infoBufferSize"};
        const json* v = get(c, p);
        if (v == nullptr || (v->is_string() && v->get<std::string>().empty())) set(c, p, "0");
      }
    }
    default_row(c, row);
  }

  // Defaulted only when their feature gate is on.
  if (kubelet_feature_enabled(c, "KubeletCrashLoopBackOffMax")) {
    default_row(c, Row{{"crashLoopBackOff", "maxContainerRestartPeriod"},
                       Unset::kNil,
                       Type::kDuration,
                       "5m0s"});  // MaxContainerBackOff = 300s
  }
  if (kubelet_feature_enabled(c, "KubeletEnsureSecretPulledImages")) {
    default_row(c, Row{{"imagePullCredentialsVerificationPolicy"},
                       Unset::kZero,
                       Type::kString,
                       "NeverVerifyPreloadedImages"});
  }

  // cmd/kubelet/app/server.go loadConfigFile: evictionHard has no default in defaults.go ("it
  // can have OS-specific fields"); a nil one becomes eviction.DefaultEvictionHard, and with
  // mergeDefaultEvictionSettings the defaults fill the signals a given map does not mention.
  const json* hard = get(c, {"evictionHard"});
  if (hard == nullptr) {
    json defaults = json::object();
    for (const auto& [signal, text] : kDefaultEvictionHard)
      defaults[std::string(signal)] = std::string(text);
    set(c, {"evictionHard"}, std::move(defaults));
  } else if (hard->is_object()) {
    const json* merge = get(c, {"mergeDefaultEvictionSettings"});
    if (merge != nullptr && merge->is_boolean() && merge->get<bool>()) {
      for (const auto& [signal, text] : kDefaultEvictionHard) {
        if (!c["evictionHard"].contains(std::string(signal)))
          c["evictionHard"][std::string(signal)] = std::string(text);
      }
    }
  }

  // Zero values the kubelet always serializes (Go's omitempty does not omit a struct, and these
  // have no default): shown so that the output reads like the kubelet's /configz.
  for (const Path& p : std::initializer_list<Path>{{"authentication", "x509"},
                                                   {"memorySwap"},
                                                   {"crashLoopBackOff"},
                                                   {"authorization", "webhook"}}) {
    if (get(c, p) == nullptr) set(c, p, json::object());
  }
  for (const Path& p : std::initializer_list<Path>{
           {"imageMaximumGCAge"}, {"shutdownGracePeriod"}, {"shutdownGracePeriodCriticalPods"}}) {
    if (get(c, p) == nullptr) set(c, p, "0s");
  }
  if (get(c, {"logging", "verbosity"}) == nullptr) set(c, {"logging", "verbosity"}, 0);

  // metav1.Duration marshals as time.Duration.String().
  for (const Path& p : duration_fields()) {
    const json* v = get(c, p);
    if (v == nullptr || !v->is_string()) continue;
    if (auto d = parse::parse_duration(v->get<std::string>()))
      set(c, p, parse::format_duration(*d));
  }
  if (const json* f = get(c, {"logging", "flushFrequency"}); f != nullptr && f->is_string()) {
    if (auto d = parse::parse_duration(f->get<std::string>()))
      set(c, {"logging", "flushFrequency"}, parse::format_duration(*d));
  }
  return merged;
}

Result<Document> load_kubelet_config(const std::optional<std::string>& file,
                                     const std::optional<std::string>& dir) {
  try {
    const Kind kind = kubelet_config_kind();
    Document merged;
    if (file) {
      auto doc = load_file(*file, kind);
      if (!doc) return doc;
      resolve_relative_paths(*doc, dir_of(absolute(*file)));
      merge_patch(merged, *doc);
    } else {
      merged.value = kubelet_legacy_flag_defaults();
    }
    if (dir) {
      // The kubelet's walk error text (mergeKubeletConfigurations). A drop-in's own error is
      // given as the kubelet's loader words it, without the kubelet's two wrapping prefixes,
      // so that it starts with the drop-in's file and line.
      auto files = list_drop_ins(*dir, "kubelet dropin directory");
      if (!files) return std::unexpected(files.error());
      for (const std::string& f : *files) {
        auto doc = load_file(f, kind);
        if (!doc) return doc;
        merge_patch(merged, *doc);
      }
    }
    merged.value = apply_kubelet_defaults(std::move(merged.value));
    return merged;
  } catch (const std::exception& e) {  // nlohmann or allocation failures: never cross a module
    return fail(std::string("kubelet configuration: ") + e.what());
  }
}

Result<EvictionSettings> validate_kubelet_config(const Document& effective) {
  try {
    Problems problems(effective);
    auto pointer = [](const Path& p) {
      std::string out;
      for (const std::string& k : p) out += "/" + pointer_token(k);
      return out;
    };
    auto dotted = [](const Path& p) {
      std::string out;
      for (const std::string& k : p) out += (out.empty() ? "" : ".") + k;
      return out;
    };
    std::vector<Path> durations = duration_fields();
    durations.push_back({"logging", "flushFrequency"});
    for (const Path& p : durations) {
      const json* v = get(effective.value, p);
      if (v == nullptr) continue;
      if (v->is_string()) {
        auto d = parse::parse_duration(v->get<std::string>());
        if (!d) problems.add(pointer(p), dotted(p), d.error().message);
      } else if (!(p.back() == "flushFrequency" && v->is_number_integer())) {
        problems.add(pointer(p), dotted(p),
                     "must be a duration string such as \"5m\" or \"30s\", got " + describe(*v));
      }
    }
    EvictionSettings s = collect_eviction_settings(effective, problems);
    if (!problems.empty()) return fail(problems.message());
    return s;
  } catch (const std::exception& e) {
    return fail(std::string("kubelet configuration: ") + e.what());
  }
}

}  // namespace nodehealth::config
