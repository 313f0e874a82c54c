// The agent's configuration: apiVersion nodehealth.io/v1alpha1, kind
// AgentConfiguration, from --config FILE and --config-dir DIR drop-ins (merged
// by layered.h), validated into a Config. Every error names the file, the line
// and the key; the agent refuses to start on a bad config.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/config/eviction.h"
#include "agent/config/layered.h"
#include "agent/parse/quantity.h"
#include "nodehealth/host_paths.h"
#include "nodehealth/result.h"

namespace nodehealth::config {

inline constexpr std::string_view kApiVersion = "nodehealth.io/v1alpha1";
inline constexpr std::string_view kKind = "AgentConfiguration";
inline constexpr std::string_view kDefaultListenAddress = ":9710";
// Where the kubelet's files usually are (kubeadm's layout); used when present and the agent's
// configuration names no kubelet file.
inline constexpr std::string_view kDefaultKubeletConfigFile = "/var/lib/kubelet/config.yaml";
inline constexpr std::string_view kDefaultKubeletConfigDir = "/etc/kubernetes/kubelet.conf.d";

// The eviction signals the agent evaluates (facts §1), in display order.
inline constexpr std::string_view kEvictionSignals[] = {
    "memory.available",  "nodefs.available",   "nodefs.inodesFree",
    "imagefs.available", "imagefs.inodesFree", "pid.available",
};

struct Config {
  std::string listen_address = std::string(kDefaultListenAddress);  // listenAddress
  // webConfigFile: TLS and auth of the endpoint (agent/sinks/web_config.h); "" = plain HTTP.
  std::string web_config_file;
  std::string node_name;                                               // nodeName ("" = auto)
  std::chrono::nanoseconds sample_interval = std::chrono::seconds(1);  // sampleInterval
  std::string log_level = "info";                                      // logLevel

  std::string host_root = "/";  // hostRoot
  std::string proc_root;        // procRoot ("" = <hostRoot>/proc)
  std::string sys_root;         // sysRoot  ("" = <hostRoot>/sys)

  std::string nodefs_path = "/var/lib/kubelet";  // filesystems.nodefs
  std::string imagefs_path;  // filesystems.imagefs ("" = containerd/CRI-O root when present)
  std::chrono::nanoseconds statfs_timeout = std::chrono::seconds(2);  // filesystems.statfsTimeout

  // The kubelet's eviction fields, under the kubelet's own names at the top level
  // (evictionHard, evictionSoft, evictionSoftGracePeriod, evictionMinimumReclaim,
  // evictionPressureTransitionPeriod, mergeDefaultEvictionSettings, kubeReserved,
  // systemReserved, enforceNodeAllocatable), after the kubelet's defaulting (eviction.h). Used
  // when no kubelet configuration file is found; otherwise load_kubelet_eviction's result is.
  EvictionSettings eviction;

  // kubelet.configFile and kubelet.configDir: the kubelet's --config file and --config-dir
  // drop-in directory, as host paths (absolute). When neither is set (kubelet_config_explicit
  // false), kubelet_files() looks for kDefaultKubeletConfigFile and kDefaultKubeletConfigDir.
  std::optional<std::string> kubelet_config_file;
  std::optional<std::string> kubelet_config_dir;
  bool kubelet_config_explicit = false;

  // kubepodsCgroup: the pods' cgroup name ("" = kubepods.slice, else kubepods).
  std::string kubepods_cgroup;
  // contention.memoryStallPercent / ioStallPercent: PSI `some` percentage at which the
  // contention conditions turn True (KEP-5394's rule: avg10 and avg60 at or above it).
  double memory_stall_percent = 10;
  double io_stall_percent = 10;
  // forecast.horizon: how soon a forecast crossing counts as imminent; forecast.window: how
  // much history the trend uses.
  std::chrono::nanoseconds forecast_horizon = std::chrono::minutes(10);
  std::chrono::nanoseconds forecast_window = std::chrono::minutes(5);
  // psiTriggers: sample at once when tasks stall on memory or IO for `stall` within `window`.
  bool psi_triggers = true;
  // A 2s window: without CAP_SYS_RESOURCE the kernel takes only multiples of 2s.
  std::chrono::nanoseconds psi_trigger_stall = std::chrono::milliseconds(200);
  std::chrono::nanoseconds psi_trigger_window = std::chrono::seconds(2);
  // filesystemEvents: look at nodefs and imagefs at once when a file written on them is
  // closed (fanotify), sampling when they moved by 1% (agent/sources/fs_watch.h).
  bool filesystem_events = true;
  // memoryThresholdEvents: on cgroup v1, the kernel's memory threshold notification at the
  // usage where memory.available reaches its threshold (agent/sources/memcg_threshold.h).
  bool memory_threshold_events = true;

  // requiredFeatures: kernel features or safe sysctls (names as `nodehealth features` prints
  // them) this node must support; KernelRequirementsMissing turns True when one is missing.
  std::vector<std::string> required_features;

  // checkpointDir: the kubelet's checkpoint directory as the host sees it ("" = the default,
  // /var/lib/kubelet/checkpoints).
  std::string checkpoint_dir;

  // eBPF probes (agent/probes): probes.enabled turns them all off; probes.<name>.enabled one.
  // They load only in `run`, as root, against the real host (not with fixture roots).
  bool probes_enabled = true;
  std::map<std::string, bool, std::less<>> probe_enabled;
  bool probe_on(std::string_view name) const;
  // Thresholds of the probes' conditions.
  std::chrono::nanoseconds oom_window = std::chrono::minutes(5);  // probes.oom.window
  double fork_storm_rate = 1000;  // probes.fork.stormForksPerSecond (over 30 s)
  std::chrono::nanoseconds slow_disk_p99 = std::chrono::milliseconds(500);  // biolatency.slowP99
  double drop_rate = 1000;  // probes.drops.dropsPerSecond (over 60 s)
  // bpf.btfPath: an external BTF file for kernels without /sys/kernel/btf/vmlinux;
  // bpf.statsEnabled: turn on kernel.bpf_stats_enabled to export each program's own cost.
  std::string bpf_btf_path;
  bool bpf_stats_enabled = false;
  // kubernetes.*: the Node status and Events sink. enabled: absent = on when a kubeconfig is
  // given or the in-cluster variables are present.
  std::optional<bool> kubernetes_enabled;
  std::string kubeconfig;  // kubernetes.kubeconfig (also --kubeconfig)
  std::chrono::nanoseconds kube_heartbeat = std::chrono::minutes(5);  // heartbeatInterval
  bool kube_remove_stale = false;                 // kubernetes.removeStaleConditions
  std::string kube_events_namespace = "default";  // kubernetes.eventsNamespace
  // kubernetes.featureLabels: publish the features report as Node labels under
  // feature.nodehealth.io/ and sysctl.nodehealth.io/ (agent/sinks/node_labels.h).
  bool kube_feature_labels = false;
  // sandbox.*: after the privileged setup of `run`, drop capabilities and install a seccomp
  // allowlist (agent/sandbox). seccomp: enforce (kill on anything else), log, off.
  std::string sandbox_seccomp = "enforce";
  bool sandbox_drop_capabilities = true;
  // sources.<name>.enabled; sources not listed are enabled.
  std::map<std::string, bool, std::less<>> source_enabled;

  bool source_on(std::string_view name) const;
};

// What every file of the agent's configuration declares: kApiVersion, kKind, noun "config file".
Kind agent_config_kind();

// Validates a merged Document into a Config. known_sources: the names the
// source registry knows (for sources.<name>).
Result<Config> config_from_document(const Document& doc,
                                    std::span<const std::string_view> known_sources);

// load_layered + config_from_document. With neither file nor dir: the defaults.
Result<Config> load_config(const std::optional<std::string>& file,
                           const std::optional<std::string>& dir,
                           std::span<const std::string_view> known_sources);

// The kubelet's files to read, mapped through `paths` to where this process opens them
// (HostPaths::host): the explicit kubelet.configFile / kubelet.configDir when either is set
// (whether they exist or not: a missing one is then an error at load time), otherwise each
// default that exists (a regular file; a directory).
std::pair<std::optional<std::string>, std::optional<std::string>> kubelet_files(
    const Config& cfg, const HostPaths& paths);

// The kubelet's eviction settings from its files: load_kubelet_config (kubelet_defaults.h: the
// files merged as the kubelet merges them, then its defaults) + eviction_settings.
Result<EvictionSettings> load_kubelet_eviction(const std::optional<std::string>& file,
                                               const std::optional<std::string>& dir);

}  // namespace nodehealth::config
