// Where the eviction thresholds come from, and keeping them current: the
// kubelet's own files (kubelet.configFile / kubelet.configDir, or the kubeadm
// defaults when present) when there are any, else the agent's configuration.
// The agent's own eviction settings are the fallback: used while no kubelet
// file is named or found (the log says which set is in use). The kubelet's files are watched
// with inotify; an edit is re-read and the change logged; an invalid edit is
// logged and the previous thresholds kept. Without explicit paths the default
// paths are watched too, so a kubelet installed after the agent is picked up
// (and one removed hands the thresholds back to the agent's configuration).
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

  // Starts watching the kubelet's files (or the default paths where they may appear); fd()
  // is then readable on changes.
  Result<void> watch();
  int fd() const { return watch_ ? watch_->fd() : -1; }
  // Call when fd() is readable: true when the event concerns the kubelet's files.
  // The owner reloads a little later (on its next tick), so that a file still
  // being written is read whole.
  bool notice();
  // Re-reads the files (first looking again for the default ones, when those are what is
  // used): true when the thresholds changed (logged). An invalid configuration is logged and
  // the previous thresholds are kept.
  bool reload();

 private:
  std::optional<std::string> file_, dir_;  // the kubelet files in use; neither: agent config
  config::EvictionSettings settings_;
  config::EvictionSettings agent_settings_;  // the agent's own, when no kubelet file is used
  // Not named: the kubelet's files are looked for at the default paths (default_file_,
  // default_dir_) on every reload.
  bool discover_ = false;
  std::string default_file_, default_dir_;
  std::optional<config::FileWatch> watch_;
};

// "memory.available hard 100Mi -> 200Mi, nodefs.available soft (none) -> 10%", or "".
std::string describe_changes(const config::EvictionSettings& before,
                             const config::EvictionSettings& after);

}  // namespace nodehealth
