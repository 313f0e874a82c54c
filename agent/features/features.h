// Kernel requirements of Kubernetes features, the pod safe-sysctl set and the device plugin
// directory of this node (facts §5 and §7): for each feature the verdict of its kernel version
// rule AND a direct probe of the facility where one is possible without side effects, since
// distributions backport. The library behind `nodehealth features` and the agent's
// nodehealth_kernel_feature / nodehealth_sysctl_supported metrics; cheap enough to run every
// few minutes (one short-lived child in a throwaway network namespace).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

#include "agent/features/kconfig.h"
#include "agent/features/kubelet.h"
#include "agent/features/sysctls.h"
#include "agent/features/version.h"
#include "nodehealth/host_paths.h"
#include "nodehealth/result.h"

namespace nodehealth::features {

struct FeatureOptions {
  // Probes of the running kernel (mount_setattr, statfs of /sys/fs/cgroup, the network
  // namespace check, the test mount): they describe this process's kernel, not a tree of files.
  // kAuto runs them when the tree's osrelease is the running kernel's and its proc is a procfs
  // (the host, or the host mounted at /host in a container), never on a copy of files.
  enum class Live { kAuto, kOn, kOff };
  Live live = Live::kAuto;
  bool probe_mounts = false;  // allow the kubelet's tmpfs noswap test mount (see probes.h)
  // The kubelet's configuration (kubelet.h): failCgroupV1 and allowedUnsafeSysctls.
  std::optional<KubeletRequirements> kubelet;
  // allowedUnsafeSysctls to check instead of the kubelet configuration's (the command's
  // --allowed-unsafe-sysctls).
  std::vector<std::string> allowed_unsafe_sysctls;
  std::chrono::milliseconds command_timeout{2000};  // `nft --version`
  std::chrono::milliseconds namespace_timeout{2000};
};

// Feature names, in facts §5's table order: nftables, cgroup_v2, root_cpu_stat, cgroup_freezer,
// recursive_read_only_mounts, user_namespaces, tmpfs_noswap, psi, ipvs_conn_reuse_mode,
// memory_qos.
const std::vector<std::string_view>& feature_names();

struct FeatureSupport {
  std::string name;                       // one of feature_names()
  std::string title;                      // "kube-proxy nftables mode"
  std::string requirement;                // facts §5's requirement column
  bool has_version_rule = true;           // false for cgroup v2 (a layout, not a version)
  std::optional<bool> version_supported;  // the kernel version rule; nullopt: no rule / no version
  std::optional<bool> probe_supported;    // the direct probe; nullopt: cannot tell here
  // false when the probe can only prove absence (it finds the interface, not the fixes the
  // version rule stands for): then a yes from the probe does not overrule the version.
  bool probe_decisive = true;
  std::string detail;        // what the probe saw, and notes
  std::string disagreement;  // "" when the two agree or one is unknown

  // The verdict: a decisive probe when it answered, else both; nullopt when nothing is known.
  std::optional<bool> supported() const;
};

struct SysctlSupport {
  std::string name;
  std::optional<KernelVersion> min_kernel;  // nullopt: safe on every kernel
  bool kernel_ok = false;  // the kubelet keeps it in its safe set (kernel >= min_kernel)
  std::string ns;          // "ipc", "net", "uts", "user" or "" (not namespaced)
  // Present AND namespaced here: net.* inside a new network namespace, others in the tree's
  // /proc/sys; nullopt when that could not be checked (see detail).
  std::optional<bool> present;
  std::optional<bool> present_on_host;  // in the tree's /proc/sys (the init namespaces)
  std::string detail;

  // kernel_ok, and not known to be absent.
  bool supported() const;
};

struct DevicePlugins {
  static constexpr std::string_view kApiVersion = "v1beta1";  // the only API (facts §7)
  std::string dir;  // as the host sees it: /var/lib/kubelet/device-plugins
  bool dir_present = false;
  bool registration_socket = false;         // kubelet.sock exists and is a socket
  bool registration_entry = false;          // kubelet.sock exists (socket or not)
  std::vector<std::string> plugin_sockets;  // other sockets in the directory, sorted
  std::vector<std::string> not_sockets;     // *.sock entries that are not sockets
  bool checkpoint_present = false;          // kubelet_internal_checkpoint
  std::string error;                        // the directory could not be read
};

struct KernelInfo {
  std::string release;                   // osrelease as read, white space trimmed
  std::optional<KernelVersion> version;  // parsed as Kubernetes parses it
  std::string error;                     // why version is absent
  std::string running_release;           // uname(2) of this process's kernel
};

struct FeatureReport {
  KernelInfo kernel;
  bool live_probes = false;
  std::string live_note;      // why the live probes ran or not
  std::string cgroup_layout;  // "unified", "hybrid", "legacy" or "unknown"
  std::string cgroup2_mount;  // host path of the cgroup2 mount, "" when none
  std::string kernel_config;  // where the kernel config came from, "" when none
  std::vector<FeatureSupport> features;
  std::vector<SysctlSupport> sysctls;
  std::string sysctl_note;                        // e.g. "net.*: unknown (needs CAP_SYS_ADMIN)"
  KubeletRequirements kubelet;                    // what the kubelet's configuration asks
  std::vector<UnsafeSysctlCheck> unsafe_sysctls;  // kubelet.allowed_unsafe_sysctls, checked
  NetSysctls net_sysctls;  // read when there is a kubelet configuration or a net.* entry
  DevicePlugins device_plugins;
  std::vector<std::string> warnings;  // unreadable files and the like: reported, never fatal

  const FeatureSupport* feature(std::string_view name) const;
  const SysctlSupport* sysctl(std::string_view name) const;
};

// Reads the tree behind `paths` and, when allowed, probes the running kernel. Bad input (odd
// versions, missing or unreadable files) ends up in the report; the only error is a proc root
// that is not a directory.
Result<FeatureReport> probe_features(const HostPaths& paths, const FeatureOptions& options = {});

// nodehealth_kernel_feature{feature,source="version|probe"} 0/1 (only the verdicts known),
// nodehealth_sysctl_supported{sysctl} 0/1, nodehealth_kernel_info{release,version} 1,
// nodehealth_device_plugin_sockets, nodehealth_device_plugin_registration_socket 0/1,
// nodehealth_allowed_unsafe_sysctl{sysctl,verdict} 1 per allowedUnsafeSysctls entry,
// nodehealth_kubelet_fail_cgroup_v1 0/1 when a kubelet configuration was read.
std::vector<prometheus::MetricFamily> feature_metrics(const FeatureReport& report);

// The required names (features or safe sysctls) that are not known to be supported; a name that
// is neither is returned too.
std::vector<std::string> missing(const FeatureReport& report,
                                 const std::vector<std::string>& required);

// Whether `name` is a feature or safe sysctl name.
bool known_requirement(std::string_view name);

// The PSI probe's answer from its reads of /proc/pressure/{cpu,memory,io}: yes when every file
// reads and starts with "some "; no when none exists, or when a read answers EOPNOTSUPP (PSI
// disabled at boot, psi=0, on kernels that create /proc/pressure anyway); else unknown, with
// the error as a warning. The kernel config and command line (psi=0, psi=1) only explain the
// answer. Split out so that tests can give errnos no file tree produces.
struct PressureRead {
  std::string path;
  Result<std::string> text;
};
struct PsiAnswer {
  std::optional<bool> supported;
  std::string detail;
  std::string warning;  // an unexpected failure, "" otherwise
};
PsiAnswer interpret_psi(const std::vector<PressureRead>& reads, const KernelConfig& config,
                        std::string_view cmdline);

}  // namespace nodehealth::features
