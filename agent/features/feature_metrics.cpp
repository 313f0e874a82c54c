// feature_metrics (features.h): the report as Prometheus gauges, built like
// agent/sinks/metrics.cpp.
#include <set>

#include <prometheus/metric_family.h>

#include "agent/sinks/families.h"

#include "agent/features/features.h"

namespace nodehealth::features {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help) {
  return MetricFamily{name, help, MetricType::Gauge, {}};
}

}  // namespace

std::vector<MetricFamily> feature_metrics(const FeatureReport& report) {
  std::vector<MetricFamily> out;

  auto feat =
      family("nodehealth_kernel_feature",
             "1 when the kernel supports the Kubernetes feature, by its kernel version rule "
             "(source=version) or a direct probe (source=probe); absent when unknown.");
  for (const auto& f : report.features) {
    if (f.version_supported)
      sinks::add_sample(feat, {{"feature", f.name}, {"source", "version"}},
                        *f.version_supported ? 1 : 0);
    if (f.probe_supported)
      sinks::add_sample(feat, {{"feature", f.name}, {"source", "probe"}},
                        *f.probe_supported ? 1 : 0);
  }
  if (!feat.metric.empty()) out.push_back(std::move(feat));

  auto sys = family("nodehealth_sysctl_supported",
                    "1 when the pod safe sysctl is usable here: the kubelet keeps it in its safe "
                    "set for this kernel and it is not known to be absent or un-namespaced.");
  for (const auto& s : report.sysctls)
    sinks::add_sample(sys, {{"sysctl", s.name}}, s.supported() ? 1 : 0);
  if (!sys.metric.empty()) out.push_back(std::move(sys));

  auto info = family("nodehealth_kernel_info",
                     "Always 1: the kernel release (/proc/sys/kernel/osrelease) and its version "
                     "as Kubernetes parses it (empty when it does not parse).");
  sinks::add_sample(info,
                    {{"release", report.kernel.release},
                     {"version", report.kernel.version ? report.kernel.version->to_string() : ""}},
                    1);
  out.push_back(std::move(info));

  auto socks = family("nodehealth_device_plugin_sockets",
                      "Device plugin sockets in /var/lib/kubelet/device-plugins (besides the "
                      "kubelet's kubelet.sock).");
  sinks::add_sample(socks, {}, static_cast<double>(report.device_plugins.plugin_sockets.size()));
  out.push_back(std::move(socks));

  auto reg = family("nodehealth_device_plugin_registration_socket",
                    "1 when the kubelet's device plugin registration socket "
                    "/var/lib/kubelet/device-plugins/kubelet.sock exists and is a socket.");
  sinks::add_sample(reg, {}, report.device_plugins.registration_socket ? 1 : 0);
  out.push_back(std::move(reg));

  auto unsafe = family("nodehealth_allowed_unsafe_sysctl",
                       "Always 1, one series per entry of the kubelet's allowedUnsafeSysctls: "
                       "verdict is namespaced, partial (a pattern covering sysctls this kernel "
                       "does not namespace), unsupported (nothing it names can be set in a pod "
                       "here), rejected (the kubelet refuses it) or unknown.");
  std::set<std::string> seen;  // an entry listed twice is one series
  for (const auto& u : report.unsafe_sysctls)
    if (seen.insert(u.pattern).second)
      sinks::add_sample(unsafe,
                        {{"sysctl", u.pattern}, {"verdict", std::string(to_string(u.verdict))}}, 1);
  if (!unsafe.metric.empty()) out.push_back(std::move(unsafe));

  if (report.kubelet.fail_cgroup_v1) {
    auto fcg = family("nodehealth_kubelet_fail_cgroup_v1",
                      "The kubelet's failCgroupV1 (1: it refuses to start without cgroup v2; "
                      "the default since Kubernetes 1.35), from its configuration files.");
    sinks::add_sample(fcg, {}, *report.kubelet.fail_cgroup_v1 ? 1 : 0);
    out.push_back(std::move(fcg));
  }
  return out;
}

}  // namespace nodehealth::features
