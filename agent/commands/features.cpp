// `nodehealth features` (see features.h).
#include "agent/commands/features.h"

#include "agent/commands/args.h"
#include "agent/json_text.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/features/features.h"
#include "agent/features/render.h"
#include "agent/sources/sources.h"

namespace nodehealth::commands {

namespace {

constexpr const char* kUsage =
    R"(Usage: nodehealth features [flags]

Kernel requirements of Kubernetes features on this node: for each one the verdict of
its kernel version rule (the kernel version read from /proc/sys/kernel/osrelease as
Kubernetes reads it) and a direct probe of the facility, since distributions
backport; disagreements are flagged. Then the pod safe-sysctl set (minimum kernel,
whether the sysctl is present and namespaced here: net.* is checked inside a
throwaway network namespace, which needs CAP_SYS_ADMIN), what the kubelet's own
configuration requires (failCgroupV1: cgroup v2; each allowedUnsafeSysctls entry
checked as the kubelet checks it, then against this node: the sysctls it names,
patterns such as net.core.* included, must exist here and be namespaced), and the
device plugin directory.

The kubelet's configuration is read as the agent reads it: --kubelet-config and
--kubelet-config-dir when given, else the agent configuration's kubelet.configFile
and kubelet.configDir (--config, --config-dir), else /var/lib/kubelet/config.yaml
and /etc/kubernetes/kubelet.conf.d when present; all are host paths (under
--host-root).

Probes have no side effects. Those of the running kernel (mount_setattr, statfs,
the network namespace) run only when the tree read is the running kernel's. The
tmpfs noswap test mount runs only with --probe-mounts (in a private mount
namespace; an old kernel logs "tmpfs: Unknown parameter 'noswap'").

Flags:
  --host-root DIR               the host's / (e.g. /host in a container)
  --proc-root DIR               the host's /proc (default <host-root>/proc)
  --sys-root DIR                the host's /sys (default <host-root>/sys)
  --config FILE                 the agent's configuration (its kubelet.* and hostRoot)
  --config-dir DIR              the agent's configuration drop-ins
  --kubelet-config FILE         the kubelet's --config file
  --kubelet-config-dir DIR      the kubelet's --config-dir
  --allowed-unsafe-sysctls LIST comma-separated sysctls or patterns (net.core.*) to check
                                instead of the kubelet configuration's allowedUnsafeSysctls
  --require NAMES               comma-separated features or safe sysctls that must be
                                supported; exit code 1 (and their names on stderr) if not
  --probe-mounts                allow the kubelet's tmpfs noswap test mount
  --live-probes auto|on|off     probes of the running kernel (default auto)
  -o, --output FORMAT           table (default) or json
  -h, --help                    this text

Features: nftables, cgroup_v2, root_cpu_stat, cgroup_freezer, recursive_read_only_mounts,
user_namespaces, tmpfs_noswap, psi, ipvs_conn_reuse_mode, memory_qos.

Exit codes: 0 done, 1 a required feature is missing, 2 bad usage or a kubelet or
agent configuration named on the command line that cannot be read.
)";

struct Args {
  std::optional<std::string> config, config_dir, kubelet_config, kubelet_config_dir;
  std::optional<std::string> host_root, proc_root, sys_root;
  std::vector<std::string> unsafe_sysctls, require;
  std::string output = "table";
  std::string live = "auto";
  bool probe_mounts = false;
  bool help = false;
};

std::optional<Args> parse_args(int argc, char** argv, std::FILE* err) {
  static constexpr std::string_view kFlags[] = {
      "host-root",  "proc-root",      "sys-root",          "allowed-unsafe-sysctls",
      "require",    "output",         "live-probes",       "config",
      "config-dir", "kubelet-config", "kubelet-config-dir"};
  static constexpr std::string_view kSwitches[] = {"probe-mounts"};
  auto parsed = commands::parse_args(argc, argv, 2, kFlags, kSwitches, err);
  if (!parsed) return std::nullopt;
  Args a;
  a.help = parsed->help;
  a.probe_mounts = parsed->on("probe-mounts");
  a.host_root = parsed->get("host-root");
  a.proc_root = parsed->get("proc-root");
  a.sys_root = parsed->get("sys-root");
  a.config = parsed->get("config");
  a.config_dir = parsed->get("config-dir");
  a.kubelet_config = parsed->get("kubelet-config");
  a.kubelet_config_dir = parsed->get("kubelet-config-dir");
  if (auto v = parsed->get("output")) a.output = *v;
  if (auto v = parsed->get("live-probes")) a.live = *v;
  if (auto v = parsed->get("allowed-unsafe-sysctls")) a.unsafe_sysctls = features::split_list(*v);
  if (auto v = parsed->get("require")) a.require = features::split_list(*v);
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

  // The agent's configuration, flags on top, as `run` and `status` take them.
  auto cfg = config::load_config(args->config, args->config_dir, sources::source_names());
  if (!cfg) {
    print_problems(err, "configuration", cfg.error().message);
    return 2;
  }
  if (args->host_root) cfg->host_root = *args->host_root;
  if (args->proc_root) cfg->proc_root = *args->proc_root;
  if (args->sys_root) cfg->sys_root = *args->sys_root;
  if (args->kubelet_config || args->kubelet_config_dir) {
    // Host paths; a relative one is taken from the current directory.
    auto absolute = [](const std::optional<std::string>& p) -> std::optional<std::string> {
      if (!p || p->starts_with("/")) return p;
      std::error_code ec;
      auto a = std::filesystem::absolute(*p, ec);
      return ec ? *p : a.string();
    };
    cfg->kubelet_config_explicit = true;
    cfg->kubelet_config_file = absolute(args->kubelet_config);
    cfg->kubelet_config_dir = absolute(args->kubelet_config_dir);
  }
  const HostPaths paths = HostPaths::under(cfg->host_root.empty() ? "/" : cfg->host_root,
                                           cfg->proc_root, cfg->sys_root);
  {
    auto [file, dir] = config::kubelet_files(*cfg, paths);
    opts.kubelet = features::load_kubelet_requirements(file, dir);
    if (!opts.kubelet->error.empty()) {
      if (cfg->kubelet_config_explicit) {
        print_problems(err, "kubelet configuration", opts.kubelet->error);
        return 2;
      }
      std::fprintf(err, "nodehealth: warning: kubelet configuration unreadable: %s\n",
                   opts.kubelet->error.c_str());
    }
  }
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
    std::fputs(json_text(j).c_str(), out);
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
