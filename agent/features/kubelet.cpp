#include "agent/features/kubelet.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include <fmt/core.h>

#include "agent/config/kubelet_defaults.h"
#include "agent/features/features.h"
#include "agent/features/probes.h"

namespace nodehealth::features {
namespace {

constexpr std::size_t kMaxSysctls = 20000;  // a bound on a tree walk
constexpr std::size_t kMaxListed = 20;      // not_namespaced names kept per entry
constexpr std::size_t kMaxInMessage = 5;    // names spelled out in a detail

// The per-device directories of a network namespace: <dir>/<device>/ under these names. A new
// namespace has only lo, plus the all and default templates.
bool per_device_dir(std::string_view parent, std::string_view name) {
  if (parent != "conf" && parent != "neigh") return false;
  return name != "all" && name != "default" && name != "lo";
}

// One path component as part of a dotted sysctl name: a "." inside it becomes "/"
// (normalize_sysctl_name's convention, "eno2.100" -> "eno2/100").
std::string dotted_component(std::string_view c) {
  std::string out(c);
  std::replace(out.begin(), out.end(), '.', '/');
  return out;
}

// A normalized dotted name as a path below /proc/sys: "." <-> "/".
std::string to_path(std::string_view name) {
  std::string out(name);
  for (char& ch : out) {
    if (ch == '.')
      ch = '/';
    else if (ch == '/')
      ch = '.';
  }
  return out;
}

// Every file below `dir`, as dotted names prefixed by `dotted` ("net"), recursively; with
// skip_devices, the per-device directories are left out. Returns false when `dir` cannot be
// opened (errno kept).
bool walk(const std::string& dir, const std::string& dotted, std::string_view base,
          bool skip_devices, std::vector<std::string>& out, int depth = 0) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (out.size() >= kMaxSysctls) break;
    const std::string path = dir + "/" + name;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir = ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    const std::string full = dotted + "." + dotted_component(name);
    if (is_dir) {
      if (skip_devices && per_device_dir(base, name)) continue;
      if (depth < 8) walk(path, full, name, skip_devices, out, depth + 1);
    } else {
      out.push_back(full);
    }
  }
  ::closedir(d);
  return true;
}

std::vector<std::string> with_prefix(const std::vector<std::string>& sorted,
                                     std::string_view prefix) {
  std::vector<std::string> out;
  for (auto it = std::lower_bound(sorted.begin(), sorted.end(), prefix);
       it != sorted.end() && it->starts_with(prefix); ++it)
    out.push_back(*it);
  return out;
}

std::string some_names(const std::vector<std::string>& names, std::size_t total) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < kMaxInMessage; ++i)
    out += (i ? ", " : "") + names[i];
  if (total > kMaxInMessage) out += fmt::format(" and {} more", total - kMaxInMessage);
  return out;
}

// The net.* entry `c` (accepted) against the node's net view.
void check_net(UnsafeSysctlCheck& c, const SysctlPattern& p, const NetSysctls& net,
               const HostPaths& paths) {
  if (!net.listed) {
    c.detail = "net.* sysctls not read: " + net.note;
    return;
  }
  std::vector<std::string> matches;
  if (p.prefixed) {
    matches = with_prefix(net.host, p.sysctl_or_prefix);
  } else if (std::binary_search(net.host.begin(), net.host.end(), p.sysctl_or_prefix)) {
    matches.push_back(p.sysctl_or_prefix);
  } else {
    // Not in the view: a per-device sysctl (left out of it), or absent.
    struct stat st {};
    const std::string path = paths.proc_file("sys/" + to_path(p.sysctl_or_prefix));
    if (::stat(path.c_str(), &st) == 0) {
      c.covered = 1;
      c.verdict = UnsafeSysctlVerdict::kNamespaced;
      c.detail = "a per-device sysctl: a pod's network namespace has it for the devices it has";
    } else if (errno == ENOENT || errno == ENOTDIR) {
      c.verdict = UnsafeSysctlVerdict::kUnsupported;
      c.detail = "absent on this kernel (a module not loaded?)";
    } else {
      c.detail = fmt::format("stat {}: {}", path, std::strerror(errno));
    }
    return;
  }
  c.covered = matches.size();
  if (matches.empty()) {
    c.verdict = UnsafeSysctlVerdict::kUnsupported;
    c.detail = fmt::format("no sysctl under {} on this kernel", p.sysctl_or_prefix);
    return;
  }
  if (!net.checked) {
    c.detail = fmt::format("{} on the host; not checked in a new network namespace: {}",
                           p.prefixed ? fmt::format("{} sysctl(s) it covers are", matches.size())
                                      : std::string("present"),
                           net.note);
    return;
  }
  std::vector<std::string> global;
  std::set_intersection(matches.begin(), matches.end(), net.not_in_new.begin(),
                        net.not_in_new.end(), std::back_inserter(global));
  c.not_namespaced_count = global.size();
  c.not_namespaced = global;
  if (c.not_namespaced.size() > kMaxListed) c.not_namespaced.resize(kMaxListed);
  if (global.empty()) {
    c.verdict = UnsafeSysctlVerdict::kNamespaced;
    c.detail = p.prefixed ? fmt::format("all {} sysctls it covers are in a new network namespace",
                                        matches.size())
                          : "present in a new network namespace";
  } else if (global.size() == matches.size()) {
    c.verdict = UnsafeSysctlVerdict::kUnsupported;
    c.detail = p.prefixed
                   ? fmt::format(
                         "none of the {} sysctls it covers is in a new network namespace: "
                         "this kernel does not namespace them",
                         matches.size())
                   : "present on the host but not in a new network namespace: this kernel does "
                     "not namespace it";
  } else {
    c.verdict = UnsafeSysctlVerdict::kPartial;
    c.detail = fmt::format(
        "{} of the {} sysctls it covers are not in a new network namespace (this kernel does "
        "not namespace them, a pod asking for one fails to start): {}",
        global.size(), matches.size(), some_names(global, global.size()));
  }
}

// An ipc, uts or user entry: those namespaces carry their whole sysctl tables on every kernel
// the kubelet supports, so what matters is whether the sysctls exist.
void check_other(UnsafeSysctlCheck& c, const SysctlPattern& p, const HostPaths& paths) {
  const std::string ns(to_string(c.ns));
  if (!p.prefixed) {
    struct stat st {};
    const std::string path = paths.proc_file("sys/" + to_path(p.sysctl_or_prefix));
    if (::stat(path.c_str(), &st) == 0) {
      c.covered = 1;
      c.verdict = UnsafeSysctlVerdict::kNamespaced;
      c.detail = fmt::format("present; the {} namespace carries it", ns);
    } else if (errno == ENOENT || errno == ENOTDIR) {
      c.verdict = UnsafeSysctlVerdict::kUnsupported;
      c.detail = "absent on this kernel";
    } else {
      c.detail = fmt::format("stat {}: {}", path, std::strerror(errno));
    }
    return;
  }
  // The directory of the stem's last complete component: kernel.shm -> kernel, fs.mqueue. ->
  // fs/mqueue.
  const std::string& stem = p.sysctl_or_prefix;
  const std::size_t dot = stem.rfind('.');
  if (dot == std::string::npos) {
    c.verdict = UnsafeSysctlVerdict::kUnsupported;
    c.detail = fmt::format("no sysctl under {} on this kernel", stem);
    return;
  }
  const std::string dir_name = stem.substr(0, dot);
  std::vector<std::string> all;
  const std::string dir = paths.proc_file("sys/" + to_path(dir_name));
  if (!walk(dir, dir_name, "", false, all)) {
    if (errno != ENOENT && errno != ENOTDIR) {
      c.detail = fmt::format("opendir {}: {}", dir, std::strerror(errno));
      return;
    }
  }
  std::sort(all.begin(), all.end());
  c.covered = with_prefix(all, stem).size();
  if (c.covered == 0) {
    c.verdict = UnsafeSysctlVerdict::kUnsupported;
    c.detail = fmt::format("no sysctl under {} on this kernel", stem);
  } else {
    c.verdict = UnsafeSysctlVerdict::kNamespaced;
    c.detail =
        fmt::format("{} sysctl(s) it covers, all carried by the {} namespace", c.covered, ns);
  }
}

std::string join_files(const std::optional<std::string>& file,
                       const std::optional<std::string>& dir) {
  std::string out = file.value_or("");
  if (dir) out += (out.empty() ? "" : " + ") + *dir;
  return out;
}

}  // namespace

KubeletRequirements kubelet_requirements(const config::Document& effective) {
  KubeletRequirements k;
  k.found = true;
  for (const auto& f : effective.files) k.origin += (k.origin.empty() ? "" : ", ") + f;
  const nlohmann::json& v = effective.value;
  if (auto it = v.find("failCgroupV1"); it != v.end() && it->is_boolean()) {
    k.fail_cgroup_v1 = it->get<bool>();
    if (auto o = effective.origin.find("/failCgroupV1"); o != effective.origin.end())
      k.fail_cgroup_v1_origin = o->second.str();
  }
  if (auto it = v.find("allowedUnsafeSysctls"); it != v.end() && it->is_array()) {
    for (const auto& item : *it)
      k.allowed_unsafe_sysctls.push_back(item.is_string() ? item.get<std::string>() : item.dump());
    if (auto o = effective.origin.find("/allowedUnsafeSysctls"); o != effective.origin.end())
      k.allowed_unsafe_sysctls_origin = o->second.str();
  }
  return k;
}

KubeletRequirements load_kubelet_requirements(const std::optional<std::string>& file,
                                              const std::optional<std::string>& dir) {
  KubeletRequirements k;
  if (!file && !dir) return k;
  auto doc = config::load_kubelet_config(file, dir);
  if (!doc) {
    k.found = true;
    k.error = doc.error().message;
  } else {
    k = kubelet_requirements(*doc);
  }
  k.origin = join_files(file, dir);
  return k;
}

NetSysctls list_net_sysctls(const HostPaths& paths, bool live, std::chrono::milliseconds timeout) {
  NetSysctls n;
  const std::string root = paths.proc_file("sys/net");
  if (!walk(root, "net", "net", true, n.host)) {
    n.note = fmt::format("opendir {}: {}", root, std::strerror(errno));
    return n;
  }
  n.listed = true;
  std::sort(n.host.begin(), n.host.end());
  if (!live) {
    n.note = "the tree is not the running kernel";
    return n;
  }
  std::vector<std::string> files;
  files.reserve(n.host.size());
  for (const auto& name : n.host) files.push_back(paths.proc_file("sys/" + to_path(name)));
  auto check = check_paths_in_new_netns(files, timeout);
  if (!check) {
    n.note = check.error().errno_value == EPERM ? "needs CAP_SYS_ADMIN" : check.error().message;
    return n;
  }
  n.checked = true;
  for (std::size_t i = 0; i < n.host.size(); ++i)
    if (check->present[i] == false) n.not_in_new.push_back(n.host[i]);  // sorted, as host
  return n;
}

void check_allowed_unsafe_sysctls(FeatureReport& report, const HostPaths& paths) {
  report.unsafe_sysctls.clear();
  for (const auto& pattern : report.kubelet.allowed_unsafe_sysctls) {
    UnsafeSysctlCheck c = check_unsafe_sysctl(pattern);
    if (c.accepted) {
      const SysctlPattern p = sysctl_namespace(pattern);
      if (c.ns == SysctlNamespace::kNet)
        check_net(c, p, report.net_sysctls, paths);
      else
        check_other(c, p, paths);
      if (c.safe)
        c.detail = "already in the safe set (needs no allowedUnsafeSysctls entry); " + c.detail;
    }
    report.unsafe_sysctls.push_back(std::move(c));
  }
}

std::vector<KubeletProblem> kubelet_problems(const FeatureReport& r) {
  std::vector<KubeletProblem> out;
  if (r.kubelet.fail_cgroup_v1 == true) {
    const FeatureSupport* f = r.feature("cgroup_v2");
    if (f && f->supported() == false)
      out.push_back(
          {KubeletProblem::Kind::kFailCgroupV1,
           fmt::format("the kubelet's failCgroupV1 is true ({}) but this node has no cgroup v2 "
                       "at /sys/fs/cgroup ({} layout): the kubelet refuses to start",
                       r.kubelet.fail_cgroup_v1_origin.empty()
                           ? std::string("not set: the default since Kubernetes 1.35")
                           : "set at " + r.kubelet.fail_cgroup_v1_origin,
                       r.cgroup_layout)});
  }
  for (const auto& c : r.unsafe_sysctls) {
    if (c.verdict == UnsafeSysctlVerdict::kRejected)
      out.push_back({KubeletProblem::Kind::kUnsafeSysctl,
                     fmt::format("allowedUnsafeSysctls entry {} is rejected by the kubelet, which "
                                 "then refuses to start: {}",
                                 go_quote(c.pattern), c.reason)});
    else if (c.verdict == UnsafeSysctlVerdict::kUnsupported)
      out.push_back({KubeletProblem::Kind::kUnsafeSysctl,
                     fmt::format("allowedUnsafeSysctls entry {} cannot be set in a pod here: {}",
                                 go_quote(c.pattern), c.detail)});
  }
  return out;
}

}  // namespace nodehealth::features
