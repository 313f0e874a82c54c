// Validation of the agent's merged configuration (see config.h). Every problem reads
// "<file>:<line>: <key path>: <problem>", the line taken from the Document's provenance, so a
// value set by a drop-in is blamed on the drop-in. All problems are reported at once, one per
// line, ordered by file (in merge order) and line.
#include "agent/config/config.h"

#include "agent/features/features.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <tuple>
#include <utility>

#include "agent/config/kubelet_defaults.h"
#include "agent/config/problems.h"

namespace nodehealth::config {

using nlohmann::json;
using namespace std::chrono_literals;

bool Config::probe_on(std::string_view name) const {
  if (!probes_enabled) return false;
  auto it = probe_enabled.find(name);
  return it == probe_enabled.end() || it->second;
}

bool Config::source_on(std::string_view name) const {
  auto it = source_enabled.find(name);
  return it == source_enabled.end() || it->second;
}

Kind agent_config_kind() {
  return Kind{std::string(kApiVersion), std::string(kKind), "config file"};
}

namespace {

// The agent's own top-level keys; the kubelet's eviction fields (kEvictionKeys) are accepted too.
constexpr std::array<std::string_view, 25> kAgentKeys = {
    "apiVersion",
    "kind",
    "listenAddress",
    "nodeName",
    "sampleInterval",
    "logLevel",
    "hostRoot",
    "procRoot",
    "sysRoot",
    "filesystems",
    "kubelet",
    "kubepodsCgroup",
    "contention",
    "forecast",
    "psiTriggers",
    "filesystemEvents",
    "memoryThresholdEvents",
    "sources",
    "checkpointDir",
    "requiredFeatures",
    "probes",
    "bpf",
    "kubernetes",
    "sandbox",
    "webConfigFile",
};
const std::vector<std::string_view>& top_level_keys() {
  static const std::vector<std::string_view> keys = [] {
    std::vector<std::string_view> all(kAgentKeys.begin(), kAgentKeys.end());
    all.insert(all.end(), std::begin(kEvictionKeys), std::end(kEvictionKeys));
    return all;
  }();
  return keys;
}
constexpr std::array<std::string_view, 3> kFilesystemKeys = {"nodefs", "imagefs", "statfsTimeout"};
constexpr std::array<std::string_view, 1> kSourceKeys = {"enabled"};
constexpr std::array<std::string_view, 2> kContentionKeys = {"memoryStallPercent",
                                                             "ioStallPercent"};
constexpr std::array<std::string_view, 2> kForecastKeys = {"horizon", "window"};
constexpr std::array<std::string_view, 3> kPsiTriggerKeys = {"enabled", "stall", "window"};
// Sections with only an `enabled` switch: filesystemEvents, memoryThresholdEvents.
constexpr std::array<std::string_view, 1> kEnabledOnlyKeys = {"enabled"};
constexpr std::array<std::string_view, 6> kProbeKeys = {"enabled",    "oom",     "fork",
                                                        "biolatency", "reclaim", "drops"};
constexpr std::array<std::string_view, 6> kKubernetesKeys = {
    "enabled",         "kubeconfig",   "heartbeatInterval", "removeStaleConditions",
    "eventsNamespace", "featureLabels"};
constexpr std::array<std::string_view, 2> kBpfKeys = {"btfPath", "statsEnabled"};
constexpr std::array<std::string_view, 2> kSandboxKeys = {"seccomp", "dropCapabilities"};
constexpr std::array<std::string_view, 2> kKubeletKeys = {"configFile", "configDir"};
constexpr std::array<std::string_view, 5> kLogLevels = {"trace", "debug", "info", "warn", "error"};

constexpr auto kSampleIntervalMin = 100ms;
constexpr auto kSampleIntervalMax = 1h;
constexpr auto kStatfsTimeoutMin = 10ms;
constexpr auto kStatfsTimeoutMax = 1min;

template <typename Range>
bool contains(const Range& r, std::string_view s) {
  return std::find(std::begin(r), std::end(r), s) != std::end(r);
}

// Problem with a listenAddress, or nullopt when it is HOST:PORT, :PORT or [IPv6]:PORT.
std::optional<std::string> check_listen_address(std::string_view addr) {
  const std::string got = ", got " + quote(addr);
  std::string_view host, port;
  if (addr.starts_with("[")) {
    const auto close = addr.find(']');
    if (close == std::string_view::npos || close + 1 >= addr.size() || addr[close + 1] != ':') {
      return "must be HOST:PORT, :PORT or [IPV6]:PORT" + got;
    }
    host = addr.substr(1, close - 1);
    port = addr.substr(close + 2);
    std::string ip(host.substr(0, host.find('%')));  // a zone ("%eth0") is allowed
    in6_addr a6{};
    if (ip.empty() || ::inet_pton(AF_INET6, ip.c_str(), &a6) != 1) {
      return "\"" + std::string(host) + "\" in brackets is not an IPv6 address" + got;
    }
  } else {
    const auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) return "must be HOST:PORT or :PORT" + got;
    host = addr.substr(0, colon);
    port = addr.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "an IPv6 address must be in brackets, e.g. \"[::1]:9710\"" + got;
    }
    for (char c : host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_';
      if (!ok) return "invalid host " + quote(host) + got;
    }
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value < 1 ||
      value > 65535) {
    return "port must be a number between 1 and 65535" + got;
  }
  return std::nullopt;
}

class Validator {
 public:
  Validator(const Document& doc, std::span<const std::string_view> known_sources)
      : doc_(doc), known_sources_(known_sources) {}

  Result<Config> run() {
    Config cfg;
    static const json kEmpty = json::object();
    const json& root = doc_.value.is_null() ? kEmpty : doc_.value;
    if (!root.is_object()) {
      problem("", "", "the top level must be a mapping, got " + describe(root));
      return finish(std::move(cfg));
    }

    for (const auto& [key, value] : root.items()) {
      if (contains(top_level_keys(), key)) continue;
      std::string hint = did_you_mean(key, top_level_keys());
      if (hint.empty() && key.find('.') != std::string::npos) {
        const std::string head = key.substr(0, key.find('.'));
        if (contains(top_level_keys(), head)) {
          hint = ", write it nested: \"" + head + ":\" then \"" + key.substr(head.size() + 1) +
                 ":\" on the next line, indented";
        }
      }
      problem("/" + pointer_token(key), key, "unknown key" + hint);
    }

    if (auto v = string_field(root, "apiVersion", "/apiVersion", "apiVersion");
        v && *v != kApiVersion) {
      problem("/apiVersion", "apiVersion", "must be " + quote(kApiVersion) + ", got " + quote(*v));
    }
    if (auto v = string_field(root, "kind", "/kind", "kind"); v && *v != kKind) {
      problem("/kind", "kind", "must be " + quote(kKind) + ", got " + quote(*v));
    }

    if (auto v = string_field(root, "listenAddress", "/listenAddress", "listenAddress")) {
      if (auto bad = check_listen_address(*v)) {
        problem("/listenAddress", "listenAddress", *bad);
      } else {
        cfg.listen_address = *v;
      }
    }
    if (auto v = string_field(root, "nodeName", "/nodeName", "nodeName")) cfg.node_name = *v;
    if (auto d = duration_field(root, "sampleInterval", "/sampleInterval", "sampleInterval")) {
      if (check_range(d->first, d->second, kSampleIntervalMin, kSampleIntervalMax, "100ms", "1h",
                      "/sampleInterval", "sampleInterval")) {
        cfg.sample_interval = d->first;
      }
    }
    if (auto v = string_field(root, "logLevel", "/logLevel", "logLevel")) {
      if (contains(kLogLevels, *v)) {
        cfg.log_level = *v;
      } else {
        problem("/logLevel", "logLevel",
                "must be one of trace, debug, info, warn, error, got " + quote(*v));
      }
    }
    path_field(root, "hostRoot", "/hostRoot", "hostRoot", false, cfg.host_root);
    path_field(root, "procRoot", "/procRoot", "procRoot", false, cfg.proc_root);
    path_field(root, "sysRoot", "/sysRoot", "sysRoot", false, cfg.sys_root);
    path_field(root, "checkpointDir", "/checkpointDir", "checkpointDir", true, cfg.checkpoint_dir);
    path_field(root, "webConfigFile", "/webConfigFile", "webConfigFile", true, cfg.web_config_file);

    if (const json* fs = mapping_field(root, "filesystems", "/filesystems", "filesystems")) {
      unknown_keys(*fs, "/filesystems", "filesystems.", kFilesystemKeys);
      path_field(*fs, "nodefs", "/filesystems/nodefs", "filesystems.nodefs", true, cfg.nodefs_path);
      path_field(*fs, "imagefs", "/filesystems/imagefs", "filesystems.imagefs", true,
                 cfg.imagefs_path);
      if (auto d = duration_field(*fs, "statfsTimeout", "/filesystems/statfsTimeout",
                                  "filesystems.statfsTimeout")) {
        if (check_range(d->first, d->second, kStatfsTimeoutMin, kStatfsTimeoutMax, "10ms", "1m",
                        "/filesystems/statfsTimeout", "filesystems.statfsTimeout")) {
          cfg.statfs_timeout = d->first;
        }
      }
    }

    kubelet(root, cfg);
    // The kubelet's eviction fields, its names and rules (eviction.h).
    cfg.eviction = collect_eviction_settings(doc_, problems_);
    if (cfg.kubelet_config_explicit) {
      // The kubelet's own values are read from its files then: a second set here would be
      // silently ignored, so it is refused.
      for (std::string_view key : kEvictionKeys) {
        if (lookup(root, key) == nullptr) continue;
        problem("/" + std::string(key), std::string(key),
                "set in the kubelet's configuration instead: kubelet.configFile or "
                "kubelet.configDir is set, and the kubelet's own value is read from there");
      }
    }

    early_warnings(root, cfg);
    required_features(root, cfg);
    probes(root, cfg);
    kubernetes(root, cfg);
    sandbox(root, cfg);
    sources(root, cfg);
    return finish(std::move(cfg));
  }

 private:
  Result<Config> finish(Config cfg) {
    if (problems_.empty()) return cfg;
    return fail(problems_.message());
  }

  void problem(const std::string& pointer, const std::string& key, const std::string& what) {
    problems_.add(pointer, key, what);
  }

  std::optional<std::string> as_string(const json& v, const std::string& ptr,
                                       const std::string& keypath) {
    if (v.is_string()) return v.get<std::string>();
    std::string hint;
    if (v.is_number() || v.is_boolean()) hint = " (quote it to make it a string)";
    problem(ptr, keypath, "must be a string, got " + describe(v) + hint);
    return std::nullopt;
  }

  std::optional<std::string> string_field(const json& obj, const char* key, const std::string& ptr,
                                          const std::string& keypath) {
    const json* v = lookup(obj, key);
    if (v == nullptr) return std::nullopt;
    return as_string(*v, ptr, keypath);
  }

  std::optional<bool> bool_field(const json& obj, const char* key, const std::string& ptr,
                                 const std::string& keypath) {
    const json* v = lookup(obj, key);
    if (v == nullptr) return std::nullopt;
    if (v->is_boolean()) return v->get<bool>();
    problem(ptr, keypath, "must be true or false, got " + describe(*v));
    return std::nullopt;
  }

  // {value, original text}
  std::optional<std::pair<std::chrono::nanoseconds, std::string>> duration_field(
      const json& obj, const char* key, const std::string& ptr, const std::string& keypath) {
    const json* v = lookup(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      problem(ptr, keypath,
              "must be a duration string such as \"1s\" or \"500ms\", got " + describe(*v));
      return std::nullopt;
    }
    std::string text = v->get<std::string>();
    auto d = parse::parse_duration(text);
    if (!d) {
      problem(ptr, keypath, "invalid duration " + quote(text) + ": " + d.error().message);
      return std::nullopt;
    }
    return std::make_pair(*d, std::move(text));
  }

  bool check_range(std::chrono::nanoseconds d, const std::string& text, std::chrono::nanoseconds lo,
                   std::chrono::nanoseconds hi, const char* lo_text, const char* hi_text,
                   const std::string& ptr, const std::string& keypath) {
    if (d >= lo && d <= hi) return true;
    problem(ptr, keypath,
            std::string("must be between ") + lo_text + " and " + hi_text + ", got " + quote(text));
    return false;
  }

  // True when the key is set to a valid path.
  bool path_field(const json& obj, const char* key, const std::string& ptr,
                  const std::string& keypath, bool allow_empty, std::string& out) {
    auto v = string_field(obj, key, ptr, keypath);
    if (!v) return false;
    if ((v->empty() && allow_empty) || v->starts_with("/")) {
      out = *v;
      return true;
    }
    problem(ptr, keypath,
            std::string("must be an absolute path") + (allow_empty ? " or \"\"" : "") + ", got " +
                quote(*v));
    return false;
  }

  const json* mapping_field(const json& obj, const char* key, const std::string& ptr,
                            const std::string& keypath) {
    const json* v = lookup(obj, key);
    if (v == nullptr) return nullptr;
    if (v->is_object()) return v;
    problem(ptr, keypath, "must be a mapping, got " + describe(*v));
    return nullptr;
  }

  template <typename Range>
  void unknown_keys(const json& obj, const std::string& ptr, const std::string& key_prefix,
                    const Range& known) {
    for (const auto& [key, value] : obj.items()) {
      if (contains(known, key)) continue;
      problem(ptr + "/" + pointer_token(key), key_prefix + key,
              "unknown key" + did_you_mean(key, known));
    }
  }

  void kubelet(const json& root, Config& cfg) {
    const json* k = mapping_field(root, "kubelet", "/kubelet", "kubelet");
    if (k == nullptr) return;
    unknown_keys(*k, "/kubelet", "kubelet.", kKubeletKeys);
    std::string file, dir;
    if (path_field(*k, "configFile", "/kubelet/configFile", "kubelet.configFile", false, file)) {
      cfg.kubelet_config_file = file;
      cfg.kubelet_config_explicit = true;
    }
    if (path_field(*k, "configDir", "/kubelet/configDir", "kubelet.configDir", false, dir)) {
      cfg.kubelet_config_dir = dir;
      cfg.kubelet_config_explicit = true;
    }
  }

  std::optional<double> percent_field(const json& obj, const char* key, const std::string& ptr,
                                      const std::string& keypath) {
    const json* v = lookup(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) {
      problem(ptr, keypath, "must be a number (a percentage, 0 < x <= 100), got " + describe(*v));
      return std::nullopt;
    }
    const double x = v->get<double>();
    if (!(x > 0 && x <= 100)) {
      problem(ptr, keypath, "must be a percentage with 0 < x <= 100, got " + v->dump());
      return std::nullopt;
    }
    return x;
  }

  void ranged_duration(const json& obj, const char* key, const std::string& section,
                       std::chrono::nanoseconds lo, std::chrono::nanoseconds hi,
                       const char* lo_text, const char* hi_text, std::chrono::nanoseconds& out) {
    const std::string ptr = "/" + section + "/" + key;
    const std::string keypath = section + "." + key;
    if (auto d = duration_field(obj, key, ptr, keypath)) {
      if (check_range(d->first, d->second, lo, hi, lo_text, hi_text, ptr, keypath)) out = d->first;
    }
  }

  // The agent's own early warnings: kubepods cgroup, PSI contention, forecasts, PSI triggers.
  void early_warnings(const json& root, Config& cfg) {
    if (auto v = string_field(root, "kubepodsCgroup", "/kubepodsCgroup", "kubepodsCgroup")) {
      if (v->empty() || v->starts_with("/") || v->find("..") != std::string::npos) {
        problem("/kubepodsCgroup", "kubepodsCgroup",
                "must be a cgroup name relative to the hierarchy root such as "
                "\"kubepods.slice\", got " +
                    quote(*v));
      } else {
        cfg.kubepods_cgroup = *v;
      }
    }
    if (const json* c = mapping_field(root, "contention", "/contention", "contention")) {
      unknown_keys(*c, "/contention", "contention.", kContentionKeys);
      if (auto x = percent_field(*c, "memoryStallPercent", "/contention/memoryStallPercent",
                                 "contention.memoryStallPercent"))
        cfg.memory_stall_percent = *x;
      if (auto x = percent_field(*c, "ioStallPercent", "/contention/ioStallPercent",
                                 "contention.ioStallPercent"))
        cfg.io_stall_percent = *x;
    }
    if (const json* f = mapping_field(root, "forecast", "/forecast", "forecast")) {
      unknown_keys(*f, "/forecast", "forecast.", kForecastKeys);
      ranged_duration(*f, "horizon", "forecast", 1min, 24h, "1m", "24h", cfg.forecast_horizon);
      ranged_duration(*f, "window", "forecast", 1min, 1h, "1m", "1h", cfg.forecast_window);
    }
    if (const json* t = mapping_field(root, "psiTriggers", "/psiTriggers", "psiTriggers")) {
      unknown_keys(*t, "/psiTriggers", "psiTriggers.", kPsiTriggerKeys);
      if (auto b = bool_field(*t, "enabled", "/psiTriggers/enabled", "psiTriggers.enabled"))
        cfg.psi_triggers = *b;
      // The kernel accepts windows of 500ms..10s and a stall shorter than the window.
      ranged_duration(*t, "window", "psiTriggers", 500ms, 10s, "500ms", "10s",
                      cfg.psi_trigger_window);
      ranged_duration(*t, "stall", "psiTriggers", 1ms, 10s, "1ms", "10s", cfg.psi_trigger_stall);
      if (cfg.psi_trigger_stall >= cfg.psi_trigger_window)
        problem("/psiTriggers/stall", "psiTriggers.stall",
                "must be shorter than psiTriggers.window");
    }
    if (const json* e = mapping_field(root, "memoryThresholdEvents", "/memoryThresholdEvents",
                                      "memoryThresholdEvents")) {
      unknown_keys(*e, "/memoryThresholdEvents", "memoryThresholdEvents.", kEnabledOnlyKeys);
      if (auto b = bool_field(*e, "enabled", "/memoryThresholdEvents/enabled",
                              "memoryThresholdEvents.enabled"))
        cfg.memory_threshold_events = *b;
    }
    if (const json* e =
            mapping_field(root, "filesystemEvents", "/filesystemEvents", "filesystemEvents")) {
      unknown_keys(*e, "/filesystemEvents", "filesystemEvents.", kEnabledOnlyKeys);
      if (auto b =
              bool_field(*e, "enabled", "/filesystemEvents/enabled", "filesystemEvents.enabled"))
        cfg.filesystem_events = *b;
    }
  }

  std::optional<double> positive_number(const json& obj, const char* key, const std::string& ptr,
                                        const std::string& keypath) {
    const json* v = lookup(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number() || !(v->get<double>() > 0)) {
      problem(ptr, keypath, "must be a number above 0, got " + describe(*v));
      return std::nullopt;
    }
    return v->get<double>();
  }

  void kubernetes(const json& root, Config& cfg) {
    const json* k = mapping_field(root, "kubernetes", "/kubernetes", "kubernetes");
    if (k == nullptr) return;
    unknown_keys(*k, "/kubernetes", "kubernetes.", kKubernetesKeys);
    if (auto b = bool_field(*k, "enabled", "/kubernetes/enabled", "kubernetes.enabled"))
      cfg.kubernetes_enabled = *b;
    path_field(*k, "kubeconfig", "/kubernetes/kubeconfig", "kubernetes.kubeconfig", true,
               cfg.kubeconfig);
    if (auto d = duration_field(*k, "heartbeatInterval", "/kubernetes/heartbeatInterval",
                                "kubernetes.heartbeatInterval")) {
      if (check_range(d->first, d->second, 1s, 1h, "1s", "1h", "/kubernetes/heartbeatInterval",
                      "kubernetes.heartbeatInterval"))
        cfg.kube_heartbeat = d->first;
    }
    if (auto b = bool_field(*k, "removeStaleConditions", "/kubernetes/removeStaleConditions",
                            "kubernetes.removeStaleConditions"))
      cfg.kube_remove_stale = *b;
    if (auto b = bool_field(*k, "featureLabels", "/kubernetes/featureLabels",
                            "kubernetes.featureLabels"))
      cfg.kube_feature_labels = *b;
    if (auto v = string_field(*k, "eventsNamespace", "/kubernetes/eventsNamespace",
                              "kubernetes.eventsNamespace")) {
      if (v->empty() || v->size() > 63 || v->find('/') != std::string::npos)
        problem("/kubernetes/eventsNamespace", "kubernetes.eventsNamespace",
                "must be a namespace name, got " + quote(*v));
      else
        cfg.kube_events_namespace = *v;
    }
  }

  // sandbox.seccomp (enforce|log|off), sandbox.dropCapabilities (agent/sandbox).
  void sandbox(const json& root, Config& cfg) {
    const json* s = mapping_field(root, "sandbox", "/sandbox", "sandbox");
    if (s == nullptr) return;
    unknown_keys(*s, "/sandbox", "sandbox.", kSandboxKeys);
    if (auto v = string_field(*s, "seccomp", "/sandbox/seccomp", "sandbox.seccomp")) {
      if (*v == "enforce" || *v == "log" || *v == "off")
        cfg.sandbox_seccomp = *v;
      else
        problem("/sandbox/seccomp", "sandbox.seccomp",
                "must be enforce, log or off, got " + quote(*v));
    }
    if (auto b = bool_field(*s, "dropCapabilities", "/sandbox/dropCapabilities",
                            "sandbox.dropCapabilities"))
      cfg.sandbox_drop_capabilities = *b;
  }

  // probes.enabled, probes.<name>.{enabled, threshold}, bpf.btfPath, bpf.statsEnabled.
  void probes(const json& root, Config& cfg) {
    if (const json* p = mapping_field(root, "probes", "/probes", "probes")) {
      unknown_keys(*p, "/probes", "probes.", kProbeKeys);
      if (auto b = bool_field(*p, "enabled", "/probes/enabled", "probes.enabled"))
        cfg.probes_enabled = *b;
      struct Extra {
        const char* probe;
        const char* key;
      };
      static constexpr Extra kExtra[] = {{"oom", "window"},
                                         {"fork", "stormForksPerSecond"},
                                         {"biolatency", "slowP99"},
                                         {"reclaim", nullptr},
                                         {"drops", "dropsPerSecond"}};
      for (const auto& [probe, key] : kExtra) {
        const std::string ptr = std::string("/probes/") + probe;
        const std::string keypath = std::string("probes.") + probe;
        const json* m = mapping_field(*p, probe, ptr, keypath);
        if (m == nullptr) continue;
        std::vector<std::string_view> known{"enabled"};
        if (key) known.push_back(key);
        unknown_keys(*m, ptr, keypath + ".", known);
        if (auto b = bool_field(*m, "enabled", ptr + "/enabled", keypath + ".enabled"))
          cfg.probe_enabled.insert_or_assign(probe, *b);
        if (!key) continue;
        const std::string kptr = ptr + "/" + key, kpath = keypath + "." + key;
        const bool window = std::string_view(key) == "window";
        if (window || std::string_view(key) == "slowP99") {
          auto d = duration_field(*m, key, kptr, kpath);
          if (d && (window ? check_range(d->first, d->second, 10s, 24h, "10s", "24h", kptr, kpath)
                           : check_range(d->first, d->second, 1ms, 1min, "1ms", "1m", kptr, kpath)))
            (window ? cfg.oom_window : cfg.slow_disk_p99) = d->first;
        } else if (auto x = positive_number(*m, key, kptr, kpath)) {
          (std::string_view(key) == "dropsPerSecond" ? cfg.drop_rate : cfg.fork_storm_rate) = *x;
        }
      }
    }
    if (const json* b = mapping_field(root, "bpf", "/bpf", "bpf")) {
      unknown_keys(*b, "/bpf", "bpf.", kBpfKeys);
      path_field(*b, "btfPath", "/bpf/btfPath", "bpf.btfPath", true, cfg.bpf_btf_path);
      if (auto v = bool_field(*b, "statsEnabled", "/bpf/statsEnabled", "bpf.statsEnabled"))
        cfg.bpf_stats_enabled = *v;
    }
  }

  void required_features(const json& root, Config& cfg) {
    const json* v = lookup(root, "requiredFeatures");
    if (v == nullptr) return;
    if (!v->is_array()) {
      problem("/requiredFeatures", "requiredFeatures",
              "must be a list of feature or sysctl names, got " + describe(*v));
      return;
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      const std::string ptr = "/requiredFeatures/" + std::to_string(i);
      const std::string keypath = "requiredFeatures[" + std::to_string(i) + "]";
      auto name = as_string((*v)[i], ptr, keypath);
      if (!name) continue;
      if (!features::known_requirement(*name)) {
        problem(ptr, keypath,
                "unknown feature or safe sysctl " + quote(*name) +
                    " (see `nodehealth features` for the names)");
        continue;
      }
      cfg.required_features.push_back(*name);
    }
  }

  void sources(const json& root, Config& cfg) {
    const json* s = mapping_field(root, "sources", "/sources", "sources");
    if (s == nullptr) return;
    for (const auto& [name, value] : s->items()) {
      const std::string ptr = "/sources/" + pointer_token(name);
      const std::string keypath = "sources[" + name + "]";
      if (!contains(known_sources_, name)) {
        std::string hint = did_you_mean(name, known_sources_);
        if (hint.empty() && !known_sources_.empty()) {
          hint = "; known sources:";
          for (std::string_view k : known_sources_) hint += " " + std::string(k);
        }
        problem(ptr, keypath, "unknown source" + hint);
        continue;
      }
      if (value.is_null()) continue;
      if (!value.is_object()) {
        problem(ptr, keypath, "must be a mapping such as {enabled: false}, got " + describe(value));
        continue;
      }
      unknown_keys(value, ptr, keypath + ".", kSourceKeys);
      if (auto b = bool_field(value, "enabled", ptr + "/enabled", keypath + ".enabled")) {
        cfg.source_enabled.insert_or_assign(name, *b);
      }
    }
  }

  const Document& doc_;
  std::span<const std::string_view> known_sources_;
  Problems problems_{doc_};
};

}  // namespace

Result<Config> config_from_document(const Document& doc,
                                    std::span<const std::string_view> known_sources) {
  try {
    return Validator(doc, known_sources).run();
  } catch (const std::exception& e) {  // nlohmann or allocation failures: never cross a module
    return fail(std::string("config: ") + e.what());
  }
}

Result<Config> load_config(const std::optional<std::string>& file,
                           const std::optional<std::string>& dir,
                           std::span<const std::string_view> known_sources) {
  if (!file && !dir) return config_from_document(Document{}, known_sources);
  auto doc = load_layered(file, dir, agent_config_kind());
  if (!doc) return std::unexpected(doc.error());
  return config_from_document(*doc, known_sources);
}

namespace {

bool exists_as(const std::string& path, bool directory) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return directory ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

}  // namespace

std::pair<std::optional<std::string>, std::optional<std::string>> kubelet_files(
    const Config& cfg, const HostPaths& paths) {
  std::optional<std::string> file, dir;
  if (cfg.kubelet_config_explicit) {
    if (cfg.kubelet_config_file) file = paths.host(*cfg.kubelet_config_file);
    if (cfg.kubelet_config_dir) dir = paths.host(*cfg.kubelet_config_dir);
    return {file, dir};
  }
  if (std::string f = paths.host(kDefaultKubeletConfigFile); exists_as(f, false)) file = f;
  if (std::string d = paths.host(kDefaultKubeletConfigDir); exists_as(d, true)) dir = d;
  return {file, dir};
}

Result<EvictionSettings> load_kubelet_eviction(const std::optional<std::string>& file,
                                               const std::optional<std::string>& dir) {
  auto doc = load_kubelet_config(file, dir);
  if (!doc) return std::unexpected(doc.error());
  return eviction_settings(*doc);
}

}  // namespace nodehealth::config
