// What the kubelet's own configuration asks of this kernel (facts §5): failCgroupV1 (true by
// default since Kubernetes 1.35: the kubelet refuses to start unless /sys/fs/cgroup is cgroup2)
// and allowedUnsafeSysctls, each entry checked as the kubelet checks it (NewAllowlist: a valid
// pattern that is known to be namespaced) and then against this node: whether the sysctls it
// names exist here and are namespaced by this kernel (net.* in a new network namespace), since a
// pod that asks for a sysctl its namespace lacks fails to start.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/layered.h"
#include "nodehealth/host_paths.h"

namespace nodehealth::features {

struct FeatureReport;

// The two fields, from the kubelet's effective configuration (its files merged and defaulted,
// config/kubelet_defaults.h).
struct KubeletRequirements {
  bool found = false;  // kubelet configuration files were read (or named)
  std::string origin;  // "/var/lib/kubelet/config.yaml + /etc/kubernetes/kubelet.conf.d"
  std::string error;   // they could not be loaded: the fields below are unknown
  std::optional<bool> fail_cgroup_v1;  // the effective value
  std::string fail_cgroup_v1_origin;   // "file:line" when set in a file, "" when defaulted
  std::vector<std::string> allowed_unsafe_sysctls;
  std::string allowed_unsafe_sysctls_origin;  // "file:line" or "--allowed-unsafe-sysctls"

  bool operator==(const KubeletRequirements&) const = default;
};

// From an effective configuration (load_kubelet_config's result).
KubeletRequirements kubelet_requirements(const config::Document& effective);

// load_kubelet_config(file, dir) + kubelet_requirements; with neither file nor dir, found is
// false. A load error ends up in `error` (found stays true), never fails.
KubeletRequirements load_kubelet_requirements(const std::optional<std::string>& file,
                                              const std::optional<std::string>& dir);

// The node's view of its net.* sysctls: every sysctl under the tree's /proc/sys/net (as dotted
// names, sorted), leaving out the per-device directories of the host's own interfaces
// (net.ipv4.conf.eth0.* and the like: a new namespace has only lo), and, when the live check
// ran, which of them a new network namespace lacks: those this kernel does not namespace.
struct NetSysctls {
  bool listed = false;                  // the tree's /proc/sys/net was read
  bool checked = false;                 // the new-namespace check ran
  std::string note;                     // why not
  std::vector<std::string> host;        // sorted
  std::vector<std::string> not_in_new;  // sorted, a subset of host
};

// Reads the tree's /proc/sys/net; with `live`, checks every name in a new network namespace
// (features/probes.h; needs CAP_SYS_ADMIN, else `note` says so).
NetSysctls list_net_sysctls(const HostPaths& paths, bool live, std::chrono::milliseconds timeout);

// Fills report.unsafe_sysctls from report.kubelet.allowed_unsafe_sysctls and report.net_sysctls,
// reading the tree's /proc/sys for the others. Cheap: no child, no namespace.
void check_allowed_unsafe_sysctls(FeatureReport& report, const HostPaths& paths);

// What the kubelet's configuration asks of this node that it lacks, one sentence each:
// failCgroupV1 on a node without cgroup v2 (hybrid included, as the kubelet's statfs check sees
// it), and every allowedUnsafeSysctls entry that is rejected or unsupported here. A partial
// pattern is not one: it is reported, and the kubelet only lets pods ask for what it covers.
struct KubeletProblem {
  enum class Kind { kFailCgroupV1, kUnsafeSysctl } kind;
  std::string message;
};
std::vector<KubeletProblem> kubelet_problems(const FeatureReport& report);

}  // namespace nodehealth::features
