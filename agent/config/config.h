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
#include <vector>

#include "agent/config/layered.h"
#include "agent/parse/quantity.h"
#include "nodehealth/result.h"

namespace nodehealth::config {

inline constexpr std::string_view kApiVersion = "nodehealth.io/v1alpha1";
inline constexpr std::string_view kKind = "AgentConfiguration";
inline constexpr std::string_view kDefaultListenAddress = ":9710";

// The eviction signals the agent evaluates (facts §1), in display order.
inline constexpr std::string_view kEvictionSignals[] = {
    "memory.available",  "nodefs.available",   "nodefs.inodesFree",
    "imagefs.available", "imagefs.inodesFree", "pid.available",
};

struct Config {
  std::string listen_address = std::string(kDefaultListenAddress);     // listenAddress
  std::string node_name;                                               // nodeName ("" = auto)
  std::chrono::nanoseconds sample_interval = std::chrono::seconds(1);  // sampleInterval
  std::string log_level = "info";                                      // logLevel

  std::string host_root = "/";  // hostRoot
  std::string proc_root;        // procRoot ("" = <hostRoot>/proc)
  std::string sys_root;         // sysRoot  ("" = <hostRoot>/sys)

  std::string nodefs_path = "/var/lib/kubelet";  // filesystems.nodefs
  std::string imagefs_path;  // filesystems.imagefs ("" = containerd/CRI-O root when present)
  std::chrono::nanoseconds statfs_timeout = std::chrono::seconds(2);  // filesystems.statfsTimeout

  // evictionHard after the kubelet's defaulting rules: signal -> threshold.
  // Disabled thresholds ("0%", "100%") are absent.
  std::map<std::string, parse::ThresholdValue, std::less<>> eviction_hard;
  bool merge_default_eviction_settings = false;  // mergeDefaultEvictionSettings
  std::chrono::nanoseconds eviction_pressure_transition_period =
      std::chrono::minutes(5);  // evictionPressureTransitionPeriod

  // sources.<name>.enabled; sources not listed are enabled.
  std::map<std::string, bool, std::less<>> source_enabled;

  bool source_on(std::string_view name) const;
};

// What every file of the agent's configuration declares: kApiVersion, kKind, noun "config file".
Kind agent_config_kind();

// The kubelet's default evictionHard on Linux (facts §1).
std::map<std::string, parse::ThresholdValue, std::less<>> default_eviction_hard();

// Validates a merged Document into a Config. known_sources: the names the
// source registry knows (for sources.<name>).
Result<Config> config_from_document(const Document& doc,
                                    std::span<const std::string_view> known_sources);

// load_layered + config_from_document. With neither file nor dir: the defaults.
Result<Config> load_config(const std::optional<std::string>& file,
                           const std::optional<std::string>& dir,
                           std::span<const std::string_view> known_sources);

}  // namespace nodehealth::config
