#include "agent/features/sysctls.h"

#include <array>
#include <regex>

#include <fmt/core.h>

namespace nodehealth::features {

std::string_view to_string(SysctlNamespace ns) {
  switch (ns) {
    case SysctlNamespace::kIpc:
      return "ipc";
    case SysctlNamespace::kNet:
      return "net";
    case SysctlNamespace::kUts:
      return "uts";
    case SysctlNamespace::kUser:
      return "user";
    case SysctlNamespace::kNone:
      break;
  }
  return "";
}

std::string normalize_sysctl_name(std::string_view name) {
  std::string out(name);
  const std::size_t first = out.find_first_of("./");
  if (first == std::string::npos || out[first] == '.') return out;
  for (char& c : out) {
    if (c == '.')
      c = '/';
    else if (c == '/')
      c = '.';
  }
  return out;
}

SysctlNamespace namespace_of(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kIpcNames = {
      "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
      "kernel.shm", "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.msg"};
  for (std::string_view n : kIpcNames)
    if (name == n) return SysctlNamespace::kIpc;
  if (name == "kernel.domainname") return SysctlNamespace::kUts;
  if (name.starts_with("fs.mqueue.")) return SysctlNamespace::kIpc;
  if (name.starts_with("net.")) return SysctlNamespace::kNet;
  if (name.starts_with("user.")) return SysctlNamespace::kUser;
  return SysctlNamespace::kNone;
}

std::string_view to_string(UnsafeSysctlVerdict v) {
  switch (v) {
    case UnsafeSysctlVerdict::kNamespaced:
      return "namespaced";
    case UnsafeSysctlVerdict::kPartial:
      return "partial";
    case UnsafeSysctlVerdict::kUnsupported:
      return "unsupported";
    case UnsafeSysctlVerdict::kRejected:
      return "rejected";
    case UnsafeSysctlVerdict::kUnknown:
      break;
  }
  return "unknown";
}

SysctlPattern sysctl_namespace(std::string_view name_or_pattern) {
  SysctlPattern p;
  p.sysctl_or_prefix = normalize_sysctl_name(name_or_pattern);
  if (auto star = p.sysctl_or_prefix.find('*'); star != std::string::npos) {
    p.sysctl_or_prefix.resize(star);
    p.prefixed = true;
  }
  p.ns = namespace_of(p.sysctl_or_prefix);
  return p;
}

const std::vector<SafeSysctl>& safe_sysctls() {
  static const std::vector<SafeSysctl> kSafe = {
      {"kernel.shm_rmid_forced", std::nullopt},
      {"net.ipv4.ip_local_port_range", std::nullopt},
      {"net.ipv4.tcp_syncookies", std::nullopt},
      {"net.ipv4.ping_group_range", std::nullopt},
      {"net.ipv4.ip_unprivileged_port_start", std::nullopt},
      {"net.ipv4.ip_local_reserved_ports", KernelVersion{3, 16}},
      {"net.ipv4.tcp_keepalive_time", KernelVersion{4, 5}},
      {"net.ipv4.tcp_keepalive_intvl", KernelVersion{4, 5}},
      {"net.ipv4.tcp_keepalive_probes", KernelVersion{4, 5}},
      {"net.ipv4.tcp_fin_timeout", KernelVersion{4, 6}},
      {"net.ipv4.tcp_notsent_lowat", KernelVersion{4, 6}},
      {"net.ipv4.tcp_rmem", KernelVersion{4, 15}},
      {"net.ipv4.tcp_wmem", KernelVersion{4, 15}},
      {"net.ipv4.tcp_slow_start_after_idle", KernelVersion{4, 15}},
  };
  return kSafe;
}

namespace {

// policyvalidation.SysctlContainSlashPatternFmt: (SysctlSegmentFmt[\./])* then a last
// segment that may end in "*".
constexpr const char* kSysctlPatternFmt =
    "([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]";
constexpr std::size_t kSysctlMaxLength = 253;

}  // namespace

UnsafeSysctlCheck check_unsafe_sysctl(std::string_view pattern) {
  static const std::regex kPattern(std::string("^") + kSysctlPatternFmt + "$");
  UnsafeSysctlCheck c;
  c.pattern = std::string(pattern);
  if (pattern.size() > kSysctlMaxLength || !std::regex_match(c.pattern, kPattern)) {
    c.verdict = UnsafeSysctlVerdict::kRejected;
    c.reason = fmt::format("sysctl {} must have at most {} characters and match regex {}",
                           go_quote(pattern), kSysctlMaxLength, kSysctlPatternFmt);
    return c;
  }
  const SysctlPattern p = sysctl_namespace(pattern);
  c.ns = p.ns;
  c.prefixed = p.prefixed;
  if (p.ns == SysctlNamespace::kNone) {
    c.verdict = UnsafeSysctlVerdict::kRejected;
    c.reason =
        fmt::format("the sysctls {} are not known to be namespaced", go_quote(p.sysctl_or_prefix));
    return c;
  }
  c.accepted = true;
  if (!p.prefixed)
    for (const auto& s : safe_sysctls())
      if (s.name == p.sysctl_or_prefix) c.safe = true;
  return c;
}

std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = list.substr(start, comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

}  // namespace nodehealth::features
