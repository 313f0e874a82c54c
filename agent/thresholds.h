// Where the eviction thresholds come from, and keeping them current: the
// kubelet's own files (kubelet.configFile / kubelet.configDir, or the kubeadm
// defaults when present) when there are any, else the agent's configuration.
// The kubelet's files are watched with inotify; an edit is re-read and the
// change logged; an invalid edit is logged and the previous thresholds kept.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "agent/config/config.h"
#include "agent/config/watch.h"
#include "nodehealth/host_paths.h"
#include "nodehealth/result.h"

namespace nodehealth {

class Thresholds {
 public:
  // Reads the kubelet's files when there are any. An explicitly configured
  // kubelet file that is invalid is an error; an invalid default one is logged
  // and the agent's own thresholds are used.
  static Result<Thresholds> load(const config::Config& cfg, const HostPaths& paths);

  const config::EvictionSettings& settings() const { return settings_; }
  // "kubelet config /var/lib/kubelet/config.yaml + /etc/kubernetes/kubelet.conf.d" or
  // "agent config".
  std::string origin() const;

  // Starts watching the kubelet's files; fd() is then readable on changes.
  Result<void> watch();
  int fd() const { return watch_ ? watch_->fd() : -1; }
  // Call when fd() is readable: true when the event concerns the kubelet's files.
  // The owner reloads a little later (on its next tick), so that a file still
  // being written is read whole.
  bool notice();
  // Re-reads the files: true when the thresholds changed (logged). An invalid
  // configuration is logged and the previous thresholds are kept.
  bool reload();

 private:
  std::optional<std::string> file_, dir_;
  config::EvictionSettings settings_;
  std::optional<config::FileWatch> watch_;
};

// "memory.available hard 100Mi -> 200Mi, nodefs.available soft (none) -> 10%", or "".
std::string describe_changes(const config::EvictionSettings& before,
                             const config::EvictionSettings& after);

}  // namespace nodehealth
