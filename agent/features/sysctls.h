// The pod safe-sysctl set and the sysctl namespacing rules (facts §5). Pure, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/features/version.h"

namespace nodehealth::features {

enum class SysctlNamespace { kNone, kIpc, kNet, kUts, kUser };

// "ipc", "net", "uts", "user"; "" for kNone.
std::string_view to_string(SysctlNamespace ns);

// Names may use "/" instead of "." as the separator: when the first separator is "/", every
// "." and "/" are swapped ("net/ipv4/conf/eno2.100/rp_filter" ->
// "net.ipv4.conf.eno2/100.rp_filter").
std::string normalize_sysctl_name(std::string_view name);

// The namespace a sysctl (already normalized) belongs to, facts §5: exact kernel.sem and the
// kernel.shm*/kernel.msg* names (kernel.shmall, kernel.shmmax, kernel.shmmni,
// kernel.shm_rmid_forced, kernel.msgmax, kernel.msgmnb, kernel.msgmni, and the pattern stems
// kernel.shm, kernel.msg) and prefix fs.mqueue. -> ipc; prefix net. -> net; kernel.domainname
// -> uts; prefix user. -> user; anything else is not namespaced.
SysctlNamespace namespace_of(std::string_view normalized);

// The kubelet's GetNamespace for a name or pattern: normalize, cut at the first "*", then
// namespace_of.
struct SysctlPattern {
  SysctlNamespace ns = SysctlNamespace::kNone;
  std::string sysctl_or_prefix;
  bool prefixed = false;
};
SysctlPattern sysctl_namespace(std::string_view name_or_pattern);

// One entry of the kubelet's safe set with the kernel that namespaced it (none: always safe).
struct SafeSysctl {
  std::string name;
  std::optional<KernelVersion> min_kernel;
};
const std::vector<SafeSysctl>& safe_sysctls();

// The verdict on one allowedUnsafeSysctls entry on this node (kubelet.h checks the node).
enum class UnsafeSysctlVerdict {
  kNamespaced,   // accepted, and every sysctl it names exists here in the pod's namespace
  kPartial,      // a pattern: some of the sysctls it covers are not namespaced by this kernel
  kUnsupported,  // accepted by the kubelet, but what it names cannot be set in a pod here
  kRejected,     // the kubelet refuses the entry (and so refuses to start)
  kUnknown,      // not checked against this node (yet), or could not be
};
// "namespaced", "partial", "unsupported", "rejected", "unknown".
std::string_view to_string(UnsafeSysctlVerdict v);

// One allowedUnsafeSysctls entry checked as the kubelet's NewAllowlist checks it: a valid
// pattern (at most 253 characters, the sysctl pattern regex) that is known to be namespaced.
// `reason` is the kubelet's own error text when rejected. The node check
// (check_allowed_unsafe_sysctls, kubelet.h) fills verdict, covered, not_namespaced and detail.
struct UnsafeSysctlCheck {
  std::string pattern;
  bool accepted = false;
  SysctlNamespace ns = SysctlNamespace::kNone;
  bool prefixed = false;
  bool safe = false;  // already in the safe set: needs no allowedUnsafeSysctls entry
  std::string reason;
  UnsafeSysctlVerdict verdict = UnsafeSysctlVerdict::kUnknown;  // kRejected when !accepted
  std::size_t covered = 0;  // sysctls of this node the entry names (a pattern: all it matches)
  std::vector<std::string> not_namespaced;  // of those, the ones a pod's namespace lacks (<= 20)
  std::size_t not_namespaced_count = 0;     // all of them
  std::string detail;                       // what the node check found
};
UnsafeSysctlCheck check_unsafe_sysctl(std::string_view pattern);

// "a,b , c" -> {"a", "b", "c"}; empty items dropped.
std::vector<std::string> split_list(std::string_view list);

}  // namespace nodehealth::features
