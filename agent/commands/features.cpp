// `nodehealth features` (see features.h).
#include "agent/commands/features.h"

#include <optional>
#include <string>
#include <vector>

#include "agent/features/features.h"
#include "agent/features/render.h"

namespace nodehealth::commands {

namespace {

constexpr const char* kUsage =
    R"(Usage: nodehealth features [flags]

Kernel requirements of Kubernetes features on this node: for each one the verdict of
its kernel version rule (the kernel version read from /proc/sys/kernel/osrelease as
Kubernetes reads it) and a direct probe of the facility, since distributions
backport; disagreements are flagged. Then the pod safe-sysctl set (minimum kernel,
whether the sysctl is present and namespaced here: net.* is checked inside a
throwaway network namespace, which needs CAP_SYS_ADMIN), the allowedUnsafeSysctls
given checked as the kubelet checks them, and the device plugin directory.

Probes have no side effects. Those of the running kernel (mount_setattr, statfs,
the network namespace) run only when the tree read is the running kernel's. The
tmpfs noswap test mount runs only with --probe-mounts (in a private mount
namespace; an old kernel logs "tmpfs: Unknown parameter 'noswap'").

Flags:
  --host-root DIR               the host's / (e.g. /host in a container)
  --proc-root DIR               the host's /proc (default <host-root>/proc)
  --sys-root DIR                the host's /sys (default <host-root>/sys)
  --allowed-unsafe-sysctls LIST comma-separated sysctls or patterns (net.core.*) to check
                                as the kubelet checks its allowedUnsafeSysctls
  --require NAMES               comma-separated features or safe sysctls that must be
                                supported; exit code 1 (and their names on stderr) if not
  --probe-mounts                allow the kubelet's tmpfs noswap test mount
  --live-probes auto|on|off     probes of the running kernel (default auto)
  -o, --output FORMAT           table (default) or json
  -h, --help                    this text

Features: nftables, cgroup_v2, root_cpu_stat, cgroup_freezer, recursive_read_only_mounts,
user_namespaces, tmpfs_noswap, psi, ipvs_conn_reuse_mode, memory_qos.

Exit codes: 0 done, 1 a required feature is missing, 2 bad usage.
)";

struct Args {
  std::string host_root, proc_root, sys_root;
  std::vector<std::string> unsafe_sysctls, require;
  std::string output = "table";
  std::string live = "auto";
  bool probe_mounts = false;
  bool help = false;
};

std::optional<Args> parse_args(int argc, char** argv, std::FILE* err) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      a.help = true;
      continue;
    }
    if (arg == "--probe-mounts") {
      a.probe_mounts = true;
      continue;
    }
    if (arg == "-o") arg = "--output";
    if (!arg.starts_with("--")) {
      std::fprintf(err, "nodehealth: unexpected argument \"%s\"\n", arg.c_str());
      return std::nullopt;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    static const char* kFlags[] = {"host-root", "proc-root", "sys-root",   "allowed-unsafe-sysctls",
                                   "require",   "output",    "live-probes"};
    bool known = false;
    for (const char* f : kFlags) known = known || name == f;
    if (!known) {
      std::fprintf(err, "nodehealth: unknown flag --%s (see --help)\n", name.c_str());
      return std::nullopt;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::fprintf(err, "nodehealth: flag --%s needs a value\n", name.c_str());
        return std::nullopt;
      }
      value = argv[++i];
    }
    if (name == "host-root") a.host_root = value;
    if (name == "proc-root") a.proc_root = value;
    if (name == "sys-root") a.sys_root = value;
    if (name == "output") a.output = value;
    if (name == "live-probes") a.live = value;
    if (name == "allowed-unsafe-sysctls")
      for (auto& s : features::split_list(value)) a.unsafe_sysctls.push_back(std::move(s));
    if (name == "require")
      for (auto& s : features::split_list(value)) a.require.push_back(std::move(s));
  }
  return a;
}

}  // namespace

int features(int argc, char** argv, std::FILE* out, std::FILE* err) {
  auto args = parse_args(argc, argv, err);
  if (!args) return 2;
  if (args->help) {
    std::fputs(kUsage, out);
    return 0;
  }
  if (args->output != "table" && args->output != "json") {
    std::fprintf(err, "nodehealth: -o: want table or json, got \"%s\"\n", args->output.c_str());
    return 2;
  }
  features::FeatureOptions opts;
  if (args->live == "on")
    opts.live = features::FeatureOptions::Live::kOn;
  else if (args->live == "off")
    opts.live = features::FeatureOptions::Live::kOff;
  else if (args->live != "auto") {
    std::fprintf(err, "nodehealth: --live-probes: want auto, on or off, got \"%s\"\n",
                 args->live.c_str());
    return 2;
  }
  for (const auto& r : args->require)
    if (!features::known_requirement(r)) {
      std::fprintf(err,
                   "nodehealth: --require: unknown feature or safe sysctl \"%s\" (see --help)\n",
                   r.c_str());
      return 2;
    }
  opts.probe_mounts = args->probe_mounts;
  opts.allowed_unsafe_sysctls = args->unsafe_sysctls;

  const HostPaths paths = HostPaths::under(args->host_root.empty() ? "/" : args->host_root,
                                           args->proc_root, args->sys_root);
  auto report = features::probe_features(paths, opts);
  if (!report) {
    std::fprintf(err, "nodehealth: features: %s\n", report.error().message.c_str());
    return 2;
  }
  const auto missing = features::missing(*report, args->require);
  if (args->output == "json") {
    auto j = features::to_json(*report);
    j["required"] = args->require;
    j["missing"] = missing;
    std::fputs((j.dump(2) + "\n").c_str(), out);
  } else {
    std::fputs(features::to_table(*report).c_str(), out);
  }
  std::fflush(out);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) {
      if (!list.empty()) list += ", ";
      list += m;
      if (const auto* f = report->feature(m); f && !f->supported()) list += " (unknown)";
    }
    std::fprintf(err, "nodehealth: required features missing: %s\n", list.c_str());
    return 1;
  }
  return 0;
}

int features(int argc, char** argv) { return features(argc, argv, stdout, stderr); }

}  // namespace nodehealth::commands
