#include "agent/features/render.h"

#include <algorithm>

#include <fmt/core.h>

namespace nodehealth::features {

using nlohmann::json;

std::string yes_no(std::optional<bool> v) {
  if (!v) return "unknown";
  return *v ? "yes" : "no";
}

namespace {

json opt(std::optional<bool> v) { return v ? json(*v) : json(nullptr); }

// Columns padded to their widest cell; the last column is not padded.
std::string columns(const std::vector<std::vector<std::string>>& rows, int indent = 2) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line(static_cast<std::size_t>(indent), ' ');
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (i + 1 < r.size()) {
        line += r[i] + std::string(width[i] - r[i].size() + 2, ' ');
        continue;
      }
      // The last cell may hold several lines: continue them under its column.
      const std::string pad(line.size(), ' ');
      std::size_t start = 0;
      for (;;) {
        const std::size_t nl = r[i].find('\n', start);
        line += r[i].substr(start, nl == std::string::npos ? nl : nl - start);
        if (nl == std::string::npos) break;
        out += line + "\n";
        line = pad;
        start = nl + 1;
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

std::string to_table(const FeatureReport& r) {
  std::string out = "Kernel\n";
  std::vector<std::vector<std::string>> kv;
  kv.push_back({"release:", r.kernel.release.empty() ? "unknown" : r.kernel.release});
  kv.push_back({"version:", r.kernel.version ? r.kernel.version->to_string() +
                                                   " (as Kubernetes parses osrelease)"
                                             : "unknown: " + r.kernel.error});
  kv.push_back({"config:", r.kernel_config.empty() ? "not found" : r.kernel_config});
  kv.push_back(
      {"cgroups:", r.cgroup2_mount.empty()
                       ? r.cgroup_layout
                       : fmt::format("{} (cgroup2 at {})", r.cgroup_layout, r.cgroup2_mount)});
  kv.push_back({"live probes:", std::string(r.live_probes ? "on" : "off") + ": " + r.live_note});
  out += columns(kv);

  out += "\nFeatures\n";
  std::vector<std::vector<std::string>> rows = {{"FEATURE", "VERSION", "PROBE", "NOTE"}};
  for (const auto& f : r.features) {
    // The requirement, then one line per part of the detail.
    std::string note = f.disagreement.empty() ? "" : "[" + f.disagreement + "]\n";
    note += "needs " + f.requirement;
    for (std::size_t start = 0; start < f.detail.size();) {
      std::size_t end = f.detail.find("; ", start);
      if (end == std::string::npos) end = f.detail.size();
      note += "\n" + f.detail.substr(start, end - start);
      start = end + 2;
    }
    rows.push_back({f.name, f.has_version_rule ? yes_no(f.version_supported) : "n/a",
                    yes_no(f.probe_supported), note});
  }
  out += columns(rows);

  out += "\nSafe sysctls\n";
  rows = {{"SYSCTL", "MIN KERNEL", "KERNEL OK", "PRESENT", "NAMESPACE", "NOTE"}};
  for (const auto& s : r.sysctls)
    rows.push_back({s.name, s.min_kernel ? s.min_kernel->to_string() : "-",
                    s.kernel_ok ? "yes" : "no", yes_no(s.present), s.ns.empty() ? "-" : s.ns,
                    s.detail});
  out += columns(rows);
  if (!r.sysctl_note.empty()) out += "  " + r.sysctl_note + "\n";

  const KubeletRequirements& k = r.kubelet;
  const auto problems = kubelet_problems(r);
  if (k.found) {
    out += "\nKubelet configuration\n";
    kv.clear();
    kv.push_back({"files:", k.origin});
    if (!k.error.empty()) kv.push_back({"error:", k.error});
    if (k.fail_cgroup_v1) {
      std::string v = *k.fail_cgroup_v1 ? "true" : "false";
      v += k.fail_cgroup_v1_origin.empty() ? " (the default since Kubernetes 1.35)"
                                           : " (" + k.fail_cgroup_v1_origin + ")";
      if (*k.fail_cgroup_v1) {
        const FeatureSupport* f = r.feature("cgroup_v2");
        const auto v2 = f ? f->supported() : std::nullopt;
        v += !v2   ? ": cgroup v2 unknown here"
             : *v2 ? ": cgroup v2 here, as it requires"
                   : ": no cgroup v2 here, the kubelet refuses to start";
      }
      kv.push_back({"failCgroupV1:", v});
    }
    std::string listed;
    for (const auto& p : problems) listed += (listed.empty() ? "" : "\n") + p.message;
    kv.push_back({"problems:", problems.empty() ? "none" : listed});
    out += columns(kv);
  }
  if (!r.unsafe_sysctls.empty()) {
    out += "\nAllowed unsafe sysctls";
    if (!k.allowed_unsafe_sysctls_origin.empty())
      out += " (" + k.allowed_unsafe_sysctls_origin + ")";
    out += "\n";
    rows = {{"PATTERN", "KUBELET", "NAMESPACE", "NODE", "NOTE"}};
    for (const auto& u : r.unsafe_sysctls)
      rows.push_back({u.pattern, u.accepted ? "accepted" : "rejected",
                      u.ns == SysctlNamespace::kNone ? "-" : std::string(to_string(u.ns)),
                      std::string(to_string(u.verdict)), u.accepted ? u.detail : u.reason});
    out += columns(rows);
  }

  const DevicePlugins& d = r.device_plugins;
  out += "\nDevice plugins\n";
  kv.clear();
  kv.push_back({"directory:", d.dir + (d.dir_present ? "" : " (absent)")});
  kv.push_back({"API version:", std::string(DevicePlugins::kApiVersion)});
  kv.push_back({"kubelet.sock:", d.registration_socket  ? "present (socket)"
                                 : d.registration_entry ? "present but not a socket"
                                                        : "absent"});
  kv.push_back({"plugin sockets:",
                d.plugin_sockets.empty()
                    ? "0"
                    : fmt::format("{} ({})", d.plugin_sockets.size(), join(d.plugin_sockets))});
  if (!d.not_sockets.empty()) kv.push_back({"not sockets:", join(d.not_sockets)});
  kv.push_back(
      {"checkpoint:", d.checkpoint_present ? "kubelet_internal_checkpoint present" : "absent"});
  if (!d.error.empty()) kv.push_back({"error:", d.error});
  out += columns(kv);

  if (!r.warnings.empty()) {
    out += "\nWarnings\n";
    for (const auto& w : r.warnings) out += "  " + w + "\n";
  }
  return out;
}

json to_json(const FeatureReport& r) {
  json j;
  j["kernel"] = {
      {"release", r.kernel.release},
      {"version", r.kernel.version ? json(r.kernel.version->to_string()) : json(nullptr)},
      {"error", r.kernel.error},
      {"runningRelease", r.kernel.running_release}};
  j["liveProbes"] = r.live_probes;
  j["liveProbesNote"] = r.live_note;
  j["cgroupLayout"] = r.cgroup_layout;
  j["cgroup2Mount"] = r.cgroup2_mount;
  j["kernelConfig"] = r.kernel_config;
  j["features"] = json::array();
  for (const auto& f : r.features)
    j["features"].push_back({{"name", f.name},
                             {"title", f.title},
                             {"requirement", f.requirement},
                             {"hasVersionRule", f.has_version_rule},
                             {"versionSupported", opt(f.version_supported)},
                             {"probeSupported", opt(f.probe_supported)},
                             {"probeDecisive", f.probe_decisive},
                             {"supported", opt(f.supported())},
                             {"detail", f.detail},
                             {"disagreement", f.disagreement}});
  j["sysctls"] = json::array();
  for (const auto& s : r.sysctls)
    j["sysctls"].push_back(
        {{"name", s.name},
         {"minKernel", s.min_kernel ? json(s.min_kernel->to_string()) : json(nullptr)},
         {"kernelOk", s.kernel_ok},
         {"present", opt(s.present)},
         {"presentOnHost", opt(s.present_on_host)},
         {"namespace", s.ns},
         {"supported", s.supported()},
         {"detail", s.detail}});
  j["sysctlNote"] = r.sysctl_note;
  j["allowedUnsafeSysctls"] = json::array();
  for (const auto& u : r.unsafe_sysctls)
    j["allowedUnsafeSysctls"].push_back({{"pattern", u.pattern},
                                         {"accepted", u.accepted},
                                         {"namespace", std::string(to_string(u.ns))},
                                         {"prefixed", u.prefixed},
                                         {"safe", u.safe},
                                         {"reason", u.reason},
                                         {"verdict", std::string(to_string(u.verdict))},
                                         {"covered", u.covered},
                                         {"notNamespaced", u.not_namespaced},
                                         {"notNamespacedCount", u.not_namespaced_count},
                                         {"detail", u.detail}});
  const KubeletRequirements& k = r.kubelet;
  j["kubelet"] = {{"found", k.found},
                  {"files", k.origin},
                  {"error", k.error},
                  {"failCgroupV1", k.fail_cgroup_v1 ? json(*k.fail_cgroup_v1) : json(nullptr)},
                  {"failCgroupV1Origin", k.fail_cgroup_v1_origin},
                  {"allowedUnsafeSysctlsOrigin", k.allowed_unsafe_sysctls_origin},
                  {"problems", json::array()}};
  for (const auto& p : kubelet_problems(r)) j["kubelet"]["problems"].push_back(p.message);
  j["netSysctls"] = {{"listed", r.net_sysctls.listed},
                     {"checked", r.net_sysctls.checked},
                     {"note", r.net_sysctls.note},
                     {"count", r.net_sysctls.host.size()},
                     {"notInNewNamespace", r.net_sysctls.not_in_new.size()}};
  const DevicePlugins& d = r.device_plugins;
  j["devicePlugins"] = {{"dir", d.dir},
                        {"present", d.dir_present},
                        {"apiVersion", std::string(DevicePlugins::kApiVersion)},
                        {"registrationSocket", d.registration_socket},
                        {"registrationEntry", d.registration_entry},
                        {"pluginSockets", d.plugin_sockets},
                        {"notSockets", d.not_sockets},
                        {"checkpoint", d.checkpoint_present},
                        {"error", d.error}};
  j["warnings"] = r.warnings;
  return j;
}

}  // namespace nodehealth::features
