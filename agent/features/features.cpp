#include "agent/features/features.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/core.h>

#include "agent/features/kconfig.h"
#include "agent/features/probes.h"
#include "agent/sources/files.h"
#include "agent/sources/mounts.h"

namespace nodehealth::features {
namespace {

constexpr uint64_t kCgroup2SuperMagic = 0x63677270;
constexpr uint64_t kTmpfsMagic = 0x01021994;
constexpr uint64_t kCgroupSuperMagic = 0x27e0eb;
constexpr uint64_t kProcSuperMagic = 0x9fa0;

// Everything the feature checks share.
struct Context {
  const HostPaths& paths;
  const FeatureOptions& options;
  FeatureReport& report;
  KernelConfig config;
  std::vector<parse::MountInfo> mounts;
  bool have_mounts = false;
  std::string cmdline;
  std::string v2_dir;  // where the cgroup2 mount can be opened, "" when there is none

  std::optional<bool> version_at_least(const KernelVersion& min) const {
    if (!report.kernel.version) return std::nullopt;
    return at_least(*report.kernel.version, min);
  }
  void warn(std::string w) {
    if (std::find(report.warnings.begin(), report.warnings.end(), w) == report.warnings.end())
      report.warnings.push_back(std::move(w));
  }
};

// true / false (ENOENT, ENOTDIR) / error (EACCES and the like).
Result<bool> exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return errno_error("stat " + path, errno);
}

// Names of the subdirectories of dir, sorted, at most `limit`.
Result<std::vector<std::string>> subdirs(const std::string& dir, std::size_t limit = 256) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return errno_error("opendir " + dir, errno);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir = ::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  if (out.size() > limit) out.resize(limit);
  return out;
}

// The first child cgroup (depth 1, then 2) holding `file`; "" when there is none. `children`
// is set to whether any child cgroup exists.
std::string child_with(const std::string& root, const std::string& file, bool& children) {
  children = false;
  auto level1 = subdirs(root);
  if (!level1) return {};
  std::vector<std::string> level2;
  for (const auto& c : *level1) {
    children = true;
    const std::string dir = root + "/" + c;
    if (exists(dir + "/" + file).value_or(false)) return dir;
    if (auto sub = subdirs(dir, 16))
      for (const auto& s : *sub) level2.push_back(dir + "/" + s);
  }
  for (const auto& dir : level2)
    if (exists(dir + "/" + file).value_or(false)) return dir;
  return {};
}

std::string config_note(const Context& ctx, std::string_view option) {
  auto v = ctx.config.get(option);
  if (!v) return {};
  if (*v == "n") return fmt::format("{} is not set", option);
  return fmt::format("{}={}", option, *v);
}

bool cmdline_has(std::string_view c, std::string_view arg) {
  std::size_t start = 0;
  while (start < c.size()) {
    std::size_t end = c.find_first_of(" \n", start);
    if (end == std::string::npos) end = c.size();
    if (c.substr(start, end - start) == arg) return true;
    if (c.substr(start, end - start) == "--") return false;  // init's args
    start = end + 1;
  }
  return false;
}

void append(std::string& detail, const std::string& more) {
  if (more.empty()) return;
  if (!detail.empty()) detail += "; ";
  detail += more;
}

FeatureSupport make(std::string_view name, std::string title, std::string requirement) {
  FeatureSupport f;
  f.name = std::string(name);
  f.title = std::move(title);
  f.requirement = std::move(requirement);
  return f;
}

// ---- the cgroup layout ----------------------------------------------------------------

void find_cgroup_layout(Context& ctx) {
  FeatureReport& r = ctx.report;
  r.cgroup_layout = "unknown";
  if (ctx.have_mounts) {
    const parse::MountInfo* at = nullptr;
    const parse::MountInfo* v2 = nullptr;
    bool v1 = false;
    for (const auto& m : ctx.mounts) {
      if (m.mount_point == "/sys/fs/cgroup") at = &m;
      if (m.fs_type == "cgroup2" &&
          (m.mount_point == "/sys/fs/cgroup" || m.mount_point.starts_with("/sys/fs/cgroup/")))
        v2 = &m;
      if (m.fs_type == "cgroup" && m.mount_point.starts_with("/sys/fs/cgroup/")) v1 = true;
    }
    if (at && at->fs_type == "cgroup2") {
      r.cgroup_layout = "unified";
      v2 = at;
    } else if (v2 && v1) {
      r.cgroup_layout = "hybrid";
    } else if (v1) {
      r.cgroup_layout = "legacy";
    } else if (v2) {
      r.cgroup_layout = "unified";  // cgroup2 alone below /sys/fs/cgroup
    }
    if (!v2) {  // a cgroup2 mount elsewhere (e.g. /run/cgroup2) still tells what the kernel has
      for (const auto& m : ctx.mounts)
        if (m.fs_type == "cgroup2") v2 = &m;
    }
    if (v2) {
      r.cgroup2_mount = v2->mount_point;
      ctx.v2_dir = ctx.paths.host(v2->mount_point);
    }
  }
}

FeatureSupport cgroup_v2(Context& ctx) {
  auto f = make("cgroup_v2", "cgroup v2 (unified hierarchy)",
                "unified hierarchy: statfs(\"/sys/fs/cgroup\").f_type == 0x63677270");
  FeatureReport& r = ctx.report;
  f.has_version_rule = false;
  std::optional<bool> from_mounts;
  if (r.cgroup_layout == "unified") {
    from_mounts = true;
    append(f.detail, "cgroup2 mounted at /sys/fs/cgroup (mountinfo)");
  } else if (r.cgroup_layout == "hybrid") {
    from_mounts = false;
    append(f.detail, fmt::format("hybrid layout: cgroup2 at {} but v1 controllers at "
                                 "/sys/fs/cgroup, so the kubelet and runc use cgroup v1",
                                 r.cgroup2_mount));
  } else if (r.cgroup_layout == "legacy") {
    from_mounts = false;
    append(f.detail, "cgroup v1 only (mountinfo)");
  } else {
    append(f.detail,
           ctx.have_mounts ? "no cgroup mount at /sys/fs/cgroup" : "mountinfo unreadable");
  }
  f.probe_supported = from_mounts;
  if (r.live_probes) {
    auto magic = statfs_type(ctx.paths.sys_file("fs/cgroup"));
    if (!magic) {
      append(f.detail, magic.error().message);
    } else {
      const bool unified = *magic == kCgroup2SuperMagic;
      if (unified || *magic == kTmpfsMagic || *magic == kCgroupSuperMagic) {
        append(f.detail, fmt::format("statfs f_type 0x{:x} ({})", *magic,
                                     unified                 ? "cgroup2"
                                     : *magic == kTmpfsMagic ? "tmpfs"
                                                             : "cgroup"));
        if (from_mounts && *from_mounts != unified)
          append(f.detail, "statfs and mountinfo disagree: statfs wins, as in the kubelet");
        f.probe_supported = unified;
      } else {
        append(f.detail, fmt::format("statfs f_type 0x{:x} is no cgroup filesystem: mountinfo "
                                     "decides",
                                     *magic));
      }
    }
  }
  if (f.probe_supported == false)
    append(f.detail,
           "the kubelet's failCgroupV1 defaults to true since 1.35: it refuses to "
           "start on cgroup v1");
  return f;
}

FeatureSupport root_cpu_stat(Context& ctx) {
  auto f = make("root_cpu_stat", "root cgroup cpu.stat", "kernel >= 5.8");
  f.version_supported = ctx.version_at_least({5, 8});
  if (ctx.v2_dir.empty()) {
    f.detail = "no cgroup2 mount to look at";
    return f;
  }
  const std::string path = ctx.v2_dir + "/cpu.stat";
  auto e = exists(path);
  if (!e) {
    f.detail = e.error().message;
  } else {
    f.probe_supported = *e;
    f.detail = fmt::format("{}/cpu.stat {}", ctx.report.cgroup2_mount, *e ? "present" : "absent");
  }
  return f;
}

FeatureSupport cgroup_freezer(Context& ctx) {
  auto f = make("cgroup_freezer", "cgroup freezer (runc)", "kernel >= 5.2");
  f.version_supported = ctx.version_at_least({5, 2});
  const std::string& layout = ctx.report.cgroup_layout;
  std::optional<bool> v2;
  std::string v2_note;
  if (!ctx.v2_dir.empty()) {
    bool children = false;
    const std::string dir = child_with(ctx.v2_dir, "cgroup.freeze", children);
    if (!dir.empty()) {
      v2 = true;
      v2_note = "cgroup.freeze present in a child cgroup (cgroup v2 freezer)";
    } else if (children) {
      v2 = false;
      v2_note = "no cgroup.freeze in the child cgroups (no cgroup v2 freezer)";
    } else {
      v2_note = "no child cgroup under the cgroup2 mount to look for cgroup.freeze";
    }
  }
  std::optional<bool> v1;
  std::string v1_mount;
  if (ctx.have_mounts) {
    v1 = false;
    for (const auto& m : ctx.mounts)
      if (m.fs_type == "cgroup" && m.has_super_option("freezer")) {
        v1 = true;
        v1_mount = m.mount_point;
      }
  }
  if (layout == "unified") {
    f.probe_supported = v2;
    f.detail = v2_note;
  } else if (layout == "hybrid" || layout == "legacy") {
    // runc freezes through the v1 freezer controller unless /sys/fs/cgroup is cgroup2.
    f.probe_supported = v1;
    f.detail = *v1 ? fmt::format(
                         "v1 freezer controller mounted at {} (runc uses it on a {} "
                         "layout)",
                         v1_mount, layout)
                   : "no v1 freezer controller mounted";
    append(f.detail, v2_note);
    if (f.version_supported == false && *v1)
      f.disagreement =
          "version says no, probe says yes: the rule is for the cgroup v2 freezer, the v1 "
          "controller needs no 5.2";
  } else {
    f.detail = ctx.have_mounts ? "no cgroup mounts" : "mountinfo unreadable";
  }
  return f;
}

FeatureSupport recursive_ro_mounts(Context& ctx) {
  auto f = make("recursive_read_only_mounts", "recursive read-only mounts",
                "kernel >= 5.12 (mount_setattr, MOUNT_ATTR_RDONLY + AT_RECURSIVE)");
  f.version_supported = ctx.version_at_least({5, 12});
  if (!ctx.report.live_probes) {
    f.detail = "mount_setattr(2) not probed: the tree is not the running kernel";
  } else {
    ProbeAnswer a = probe_mount_setattr();
    f.probe_supported = a.supported;
    f.detail = a.detail;
  }
  append(f.detail, "the container runtime reports it to the kubelet");
  return f;
}

FeatureSupport user_namespaces(Context& ctx) {
  auto f = make("user_namespaces", "user namespaces for pods",
                "kernel >= 6.5 per the docs (idmapped mounts on tmpfs need 6.3)");
  f.version_supported = ctx.version_at_least({6, 5});
  f.probe_decisive = false;  // finds user namespaces, not idmapped tmpfs mounts
  const std::string path = ctx.paths.proc_file("sys/user/max_user_namespaces");
  auto text = sources::read_trimmed(path);
  if (!text) {
    if (text.error().errno_value == ENOENT) {
      const std::string cfg = config_note(ctx, "CONFIG_USER_NS");
      if (ctx.config.get("CONFIG_USER_NS") == "n") {
        f.probe_supported = false;
        f.detail = "no /proc/sys/user/max_user_namespaces; " + cfg;
      } else {
        f.detail = "no /proc/sys/user/max_user_namespaces (kernel before 4.9?)";
        append(f.detail, cfg);
      }
    } else {
      f.detail = text.error().message;
      ctx.warn(text.error().message);
    }
  } else {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc{} || p != text->data() + text->size()) {
      f.detail = fmt::format("{}: not a number: {}", path, go_quote(*text));
      ctx.warn(f.detail);
    } else {
      f.probe_supported = n > 0;
      f.detail = fmt::format("user.max_user_namespaces = {}", n);
      if (n == 0) append(f.detail, "user namespaces are disabled");
    }
  }
  if (ctx.report.kernel.version && at_least(*ctx.report.kernel.version, {6, 3}) &&
      !at_least(*ctx.report.kernel.version, {6, 5}))
    append(f.detail, "6.3 or 6.4: idmapped tmpfs mounts are there, the docs ask for 6.5");
  append(f.detail, "the container runtime reports it to the kubelet");
  return f;
}

FeatureSupport tmpfs_noswap(Context& ctx) {
  auto f = make("tmpfs_noswap", "tmpfs noswap",
                "kernel >= 6.4 (kubelet constant; the docs say 6.3); below that the kubelet "
                "probes with a test mount");
  f.version_supported = ctx.version_at_least({6, 4});
  auto fs = sources::read_file(ctx.paths.proc_file("filesystems"));
  if (!fs) {
    f.detail = fs.error().message;
    ctx.warn(fs.error().message);
  } else if (fs->find("\ttmpfs\n") == std::string::npos) {
    f.probe_supported = false;
    f.detail = "no tmpfs in /proc/filesystems";
    return f;
  }
  if (ctx.have_mounts) {
    for (const auto& m : ctx.mounts)
      if (m.fs_type == "tmpfs" && m.has_super_option("noswap")) {
        f.probe_supported = true;
        f.detail = fmt::format("tmpfs mounted with noswap at {}", m.mount_point);
        return f;
      }
  }
  if (ctx.options.probe_mounts && ctx.report.live_probes) {
    ProbeAnswer a = probe_tmpfs_noswap_mount(ctx.options.namespace_timeout);
    f.probe_supported = a.supported;
    f.detail = a.detail;
  } else if (ctx.options.probe_mounts) {
    append(f.detail, "no test mount: the tree is not the running kernel");
  } else {
    append(f.detail, "no tmpfs mounted with noswap; --probe-mounts runs the kubelet's test mount");
  }
  return f;
}

FeatureSupport psi(Context& ctx) {
  auto f = make("psi", "PSI (pressure stall information)",
                ">= 4.20 with CONFIG_PSI (or psi=1 when built default-off)");
  f.version_supported = ctx.version_at_least({4, 20});
  std::vector<PressureRead> reads;
  for (const char* res : {"cpu", "memory", "io"}) {
    const std::string path = ctx.paths.proc_file(std::string("pressure/") + res);
    reads.push_back({path, sources::read_file(path)});
  }
  PsiAnswer a = interpret_psi(reads, ctx.config, ctx.cmdline);
  f.probe_supported = a.supported;
  f.detail = std::move(a.detail);
  if (!a.warning.empty()) ctx.warn(std::move(a.warning));
  return f;
}

FeatureSupport ipvs(Context& ctx) {
  auto f = make("ipvs_conn_reuse_mode", "IPVS conn_reuse_mode", "kernel >= 4.1");
  f.version_supported = ctx.version_at_least({4, 1});
  const std::string path = ctx.paths.proc_file("sys/net/ipv4/vs/conn_reuse_mode");
  auto e = exists(path);
  if (!e) {
    f.detail = e.error().message;
    ctx.warn(e.error().message);
  } else if (*e) {
    f.probe_supported = true;
    f.detail = "net.ipv4.vs.conn_reuse_mode present";
  } else {
    const auto cfg = ctx.config.get("CONFIG_IP_VS");
    const bool loaded = exists(ctx.paths.sys_file("module/ip_vs")).value_or(false);
    if (cfg == "n") {
      f.probe_supported = false;
      f.detail = "kernel built without IPVS (CONFIG_IP_VS is not set)";
    } else if (loaded) {
      f.probe_supported = false;
      f.detail = "ip_vs loaded but no net.ipv4.vs.conn_reuse_mode";
    } else {
      f.detail = "not loaded: the ip_vs module is not loaded (kube-proxy loads it in IPVS mode)";
      append(f.detail, config_note(ctx, "CONFIG_IP_VS"));
    }
  }
  if (ctx.report.kernel.version && !at_least(*ctx.report.kernel.version, {5, 9}))
    append(f.detail,
           "below 5.9 kube-proxy sets conn_reuse_mode=0 (IPVSConnReuseModeFixedKernelVersion)");
  append(f.detail, "/proc/sys/net is this process's network namespace: run with hostNetwork");
  return f;
}

FeatureSupport memory_qos(Context& ctx) {
  auto f = make("memory_qos", "MemoryQoS (memory.high)", "kernel >= 5.9");
  f.version_supported = ctx.version_at_least({5, 9});
  f.probe_decisive = false;  // memory.high exists since 4.5; 5.9 fixed its reclaim livelock
  const std::string& layout = ctx.report.cgroup_layout;
  if (layout == "hybrid" || layout == "legacy") {
    f.probe_supported = false;
    f.detail =
        fmt::format("the kubelet uses cgroup v1 on a {} layout; MemoryQoS needs cgroup v2", layout);
    return f;
  }
  if (layout != "unified" || ctx.v2_dir.empty()) {
    f.detail = "cgroup layout unknown";
    return f;
  }
  auto controllers = sources::read_trimmed(ctx.v2_dir + "/cgroup.controllers");
  if (!controllers) {
    f.detail = controllers.error().message;
    ctx.warn(controllers.error().message);
    return f;
  }
  bool memory = false;
  for (std::size_t start = 0; start < controllers->size();) {
    std::size_t end = controllers->find(' ', start);
    if (end == std::string::npos) end = controllers->size();
    if (controllers->substr(start, end - start) == "memory") memory = true;
    start = end + 1;
  }
  if (!memory) {
    f.probe_supported = false;
    f.detail = "no memory controller in the root cgroup.controllers";
    return f;
  }
  bool children = false;
  const std::string dir = child_with(ctx.v2_dir, "memory.high", children);
  f.probe_supported = true;
  f.detail = !dir.empty() ? "memory.high present in a child cgroup"
                          : "memory controller available (no child cgroup with memory.high yet)";
  return f;
}

// ---- nftables -------------------------------------------------------------------------

FeatureSupport nftables(Context& ctx) {
  auto f = make("nftables", "kube-proxy nftables mode", "kernel >= 5.13 and nft >= 1.0.1");
  f.version_supported = ctx.version_at_least({5, 13});
  f.probe_decisive = false;  // nf_tables being there does not prove the 5.13-era features
  std::optional<bool> kernel;
  std::string kernel_note;
  if (exists(ctx.paths.sys_file("module/nf_tables")).value_or(false)) {
    kernel = true;
    kernel_note = "nf_tables loaded";
  } else if (auto cfg = ctx.config.get("CONFIG_NF_TABLES")) {
    kernel = *cfg != "n";
    kernel_note = *cfg == "y"   ? "nf_tables built in (CONFIG_NF_TABLES=y)"
                  : *cfg == "m" ? "nf_tables available as a module (CONFIG_NF_TABLES=m)"
                                : "kernel built without nf_tables (CONFIG_NF_TABLES is not set)";
  } else {
    kernel_note = "nf_tables: not loaded, no kernel config to tell";
  }
  std::optional<bool> nft;
  std::string nft_note;
  std::string binary;
  for (const char* c :
       {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft", "/usr/local/sbin/nft"}) {
    const std::string p = ctx.paths.host(c);
    if (::access(p.c_str(), X_OK) == 0) {
      binary = p;
      break;
    }
  }
  if (binary.empty()) {
    nft_note =
        fmt::format("nft: not found under {} (kube-proxy's image carries its own)", ctx.paths.root);
  } else {
    auto run = run_command({binary, "--version"}, ctx.options.command_timeout);
    if (!run) {
      nft_note = "nft: " + run.error().message;
    } else if (run->timed_out) {
      nft_note = fmt::format("nft: {} --version timed out", binary);
    } else {
      std::string out = run->output;
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
      if (auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);
      const std::size_t v = out.find(" v");
      auto parsed = v == std::string::npos ? parse_kernel_version(out)
                                           : parse_kernel_version(out.substr(v + 1));
      if (run->exit_status != 0 || !parsed) {
        nft_note =
            fmt::format("nft: {} --version: exit {}, {}", binary, run->exit_status, go_quote(out));
      } else {
        nft = at_least(*parsed, {1, 0, 1});
        nft_note = fmt::format("nft {} ({})", parsed->to_string(),
                               *nft ? ">= 1.0.1"
                                    : "older than 1.0.1: may not parse the rules "
                                      "kube-proxy's own nft writes");
      }
    }
  }
  if (kernel == false || nft == false)
    f.probe_supported = false;
  else if (kernel == true)
    f.probe_supported = true;
  f.detail = kernel_note;
  append(f.detail, nft_note);
  append(f.detail,
         "kube-proxy checks the kernel version (KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK "
         "skips that check) and nft --version of the nft in its image");
  return f;
}

// ---- sysctls ----------------------------------------------------------------------------

void check_sysctls(Context& ctx) {
  FeatureReport& r = ctx.report;
  std::vector<std::string> net_paths;
  std::vector<std::size_t> net_index;
  for (const auto& s : safe_sysctls()) {
    SysctlSupport out;
    out.name = s.name;
    out.min_kernel = s.min_kernel;
    out.ns = std::string(to_string(namespace_of(s.name)));
    if (!s.min_kernel)
      out.kernel_ok = true;
    else
      out.kernel_ok = r.kernel.version && at_least(*r.kernel.version, *s.min_kernel);
    std::string rel = s.name;
    std::replace(rel.begin(), rel.end(), '.', '/');
    const std::string path = ctx.paths.proc_file("sys/" + rel);
    auto e = exists(path);
    if (e) {
      out.present_on_host = *e;
    } else {
      ctx.warn(e.error().message);
    }
    if (out.ns == "net") {
      net_paths.push_back(path);
      net_index.push_back(r.sysctls.size());
    } else {
      out.present = out.present_on_host;
      out.detail = out.present_on_host == true    ? "present in the init namespace"
                   : out.present_on_host == false ? "absent"
                                                  : "unknown";
    }
    if (!out.kernel_ok)
      append(out.detail, r.kernel.version
                             ? fmt::format("kernel older than {}: the kubelet drops it from its "
                                           "safe set",
                                           s.min_kernel->to_string())
                             : "kernel version unknown: the kubelet drops it from its safe set");
    r.sysctls.push_back(std::move(out));
  }
  if (net_paths.empty()) return;
  std::optional<NetnsCheck> check;
  std::string failure;
  if (!r.live_probes) {
    failure = "not checked in a new network namespace: the tree is not the running kernel";
  } else {
    auto c = check_paths_in_new_netns(net_paths, ctx.options.namespace_timeout);
    if (c)
      check = std::move(*c);
    else if (c.error().errno_value == EPERM)
      failure = "unknown (needs CAP_SYS_ADMIN)";
    else
      failure = "unknown: " + c.error().message;
  }
  if (!failure.empty()) r.sysctl_note = "net.*: " + failure;
  for (std::size_t i = 0; i < net_index.size(); ++i) {
    SysctlSupport& s = r.sysctls[net_index[i]];
    std::string note;
    if (check) {
      s.present = check->present[i];
      if (s.present == true)
        note = "present in a new network namespace";
      else if (s.present == false)
        note = s.present_on_host == true
                   ? "present on the host but not in a new network namespace: not namespaced "
                     "by this kernel"
                   : "absent";
      else
        note = "unreadable in a new network namespace";
    } else {
      note = failure;
      if (s.present_on_host)
        append(note, *s.present_on_host ? "present on the host" : "absent on the host");
    }
    std::string rest = std::move(s.detail);
    s.detail = note;
    append(s.detail, rest);
  }
}

// ---- device plugins (facts §7) --------------------------------------------------------------

void check_device_plugins(Context& ctx) {
  DevicePlugins& d = ctx.report.device_plugins;
  d.dir = "/var/lib/kubelet/device-plugins";
  const std::string dir = ctx.paths.host(d.dir);
  DIR* h = ::opendir(dir.c_str());
  if (!h) {
    if (errno != ENOENT) {
      d.error = fmt::format("opendir {}: {}", dir, std::strerror(errno));
      ctx.warn(d.error);
    }
    return;
  }
  d.dir_present = true;
  while (dirent* e = ::readdir(h)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    const bool stat_ok = ::lstat((dir + "/" + name).c_str(), &st) == 0;
    const bool sock = stat_ok && S_ISSOCK(st.st_mode);
    if (name == "kubelet.sock") {
      d.registration_entry = true;
      d.registration_socket = sock;
    } else if (name == "kubelet_internal_checkpoint") {
      d.checkpoint_present = true;
    } else if (sock) {
      d.plugin_sockets.push_back(name);
    } else if (name.ends_with(".sock")) {
      d.not_sockets.push_back(name);
    }
  }
  ::closedir(h);
  std::sort(d.plugin_sockets.begin(), d.plugin_sockets.end());
  std::sort(d.not_sockets.begin(), d.not_sockets.end());
}

}  // namespace

const std::vector<std::string_view>& feature_names() {
  static const std::vector<std::string_view> kNames = {"nftables",
                                                       "cgroup_v2",
                                                       "root_cpu_stat",
                                                       "cgroup_freezer",
                                                       "recursive_read_only_mounts",
                                                       "user_namespaces",
                                                       "tmpfs_noswap",
                                                       "psi",
                                                       "ipvs_conn_reuse_mode",
                                                       "memory_qos"};
  return kNames;
}

PsiAnswer interpret_psi(const std::vector<PressureRead>& reads, const KernelConfig& config,
                        std::string_view cmdline) {
  PsiAnswer a;
  std::size_t absent = 0, readable = 0;
  std::string error;
  bool disabled = false;
  for (const auto& r : reads) {
    if (!r.text) {
      const int err = r.text.error().errno_value;
      if (err == ENOENT) {
        ++absent;
      } else if (err == EOPNOTSUPP) {
        disabled = true;
        error = r.path + ": PSI is disabled (EOPNOTSUPP)";
      } else {
        error = r.text.error().message;
      }
    } else if (r.text->starts_with("some ")) {
      ++readable;
    } else {
      error = r.path + ": unexpected contents";
    }
  }
  const auto psi_cfg = config.get("CONFIG_PSI");
  const bool default_off = config.get("CONFIG_PSI_DEFAULT_DISABLED") == "y";
  if (!reads.empty() && readable == reads.size()) {
    a.supported = true;
    a.detail = "/proc/pressure/{cpu,memory,io} readable";
    if (default_off)
      append(a.detail, cmdline_has(cmdline, "psi=1")
                           ? "CONFIG_PSI_DEFAULT_DISABLED=y, enabled by psi=1 on the kernel "
                             "command line"
                           : "CONFIG_PSI_DEFAULT_DISABLED=y");
  } else if (!reads.empty() && absent == reads.size()) {
    a.supported = false;
    a.detail = "no /proc/pressure";
    if (psi_cfg == "n")
      append(a.detail, "kernel built without CONFIG_PSI");
    else if (cmdline_has(cmdline, "psi=0"))
      append(a.detail, "psi=0 on the kernel command line");
    else if (default_off)
      append(a.detail, "CONFIG_PSI_DEFAULT_DISABLED=y: boot with psi=1");
  } else if (disabled) {
    a.supported = false;
    a.detail = error;
    if (cmdline_has(cmdline, "psi=0"))
      append(a.detail, "psi=0 on the kernel command line");
    else if (default_off)
      append(a.detail, "CONFIG_PSI_DEFAULT_DISABLED=y: boot with psi=1");
  } else {
    a.detail = error.empty() ? "/proc/pressure incomplete" : error;
    a.warning = error;
  }
  return a;
}

std::optional<bool> FeatureSupport::supported() const {
  if (probe_supported) {
    if (probe_decisive || !*probe_supported) return probe_supported;
    return version_supported.value_or(true);
  }
  return version_supported;
}

bool SysctlSupport::supported() const {
  if (!kernel_ok) return false;
  if (present) return *present;
  return present_on_host.value_or(true);
}

const FeatureSupport* FeatureReport::feature(std::string_view name) const {
  for (const auto& f : features)
    if (f.name == name) return &f;
  return nullptr;
}

const SysctlSupport* FeatureReport::sysctl(std::string_view name) const {
  for (const auto& s : sysctls)
    if (s.name == name) return &s;
  return nullptr;
}

bool known_requirement(std::string_view name) {
  for (auto n : feature_names())
    if (n == name) return true;
  for (const auto& s : safe_sysctls())
    if (s.name == name) return true;
  return false;
}

std::vector<std::string> missing(const FeatureReport& report,
                                 const std::vector<std::string>& required) {
  std::vector<std::string> out;
  for (const auto& name : required) {
    if (const FeatureSupport* f = report.feature(name)) {
      if (f->supported() != true) out.push_back(name);
    } else if (const SysctlSupport* s = report.sysctl(name)) {
      if (!s->supported()) out.push_back(name);
    } else {
      out.push_back(name);
    }
  }
  return out;
}

Result<FeatureReport> probe_features(const HostPaths& paths, const FeatureOptions& options) {
  struct stat st {};
  if (::stat(paths.proc.c_str(), &st) != 0) return errno_error("proc root " + paths.proc, errno);
  if (!S_ISDIR(st.st_mode)) return fail("proc root " + paths.proc + ": not a directory", ENOTDIR);

  FeatureReport report;
  Context ctx{paths, options, report, {}, {}, false, {}, {}};

  // Kernel version, as Kubernetes reads it (facts §5).
  report.kernel.running_release = running_kernel_release();
  const std::string osrelease = paths.proc_file("sys/kernel/osrelease");
  if (auto text = sources::read_file(osrelease, 4096)) {
    std::string_view t = *text;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    report.kernel.release = std::string(t);
    if (auto v = parse_kernel_version(*text))
      report.kernel.version = *v;
    else
      report.kernel.error = osrelease + ": " + v.error().message;
  } else {
    report.kernel.error = text.error().message;
  }
  if (!report.kernel.error.empty()) ctx.warn(report.kernel.error);

  switch (options.live) {
    case FeatureOptions::Live::kOn:
      report.live_probes = true;
      report.live_note = "forced on (--live-probes on)";
      break;
    case FeatureOptions::Live::kOff:
      report.live_note = "turned off (--live-probes off)";
      break;
    case FeatureOptions::Live::kAuto:
      if (report.kernel.release.empty()) {
        report.live_note = "the tree's kernel release is unknown";
      } else if (report.kernel.release != report.kernel.running_release) {
        report.live_note = fmt::format("the tree's kernel ({}) is not the running kernel ({})",
                                       report.kernel.release, report.kernel.running_release);
      } else if (statfs_type(paths.proc).value_or(0) != kProcSuperMagic) {
        report.live_note =
            fmt::format("{} is not a procfs (a copy of another tree's files?)", paths.proc);
      } else {
        report.live_probes = true;
        report.live_note = "the tree is the running kernel's";
      }
      break;
  }

  if (auto cfg = load_kernel_config(paths, report.kernel.release)) {
    ctx.config = std::move(*cfg);
    report.kernel_config = ctx.config.source;
  } else {
    ctx.warn(cfg.error().message);
  }
  if (auto mounts = sources::read_mounts(paths)) {
    ctx.mounts = std::move(*mounts);
    ctx.have_mounts = true;
  } else {
    ctx.warn(mounts.error().message);
  }
  if (auto cmdline = sources::read_file(paths.proc_file("cmdline"), 64 * 1024))
    ctx.cmdline = std::move(*cmdline);

  find_cgroup_layout(ctx);
  report.features.push_back(nftables(ctx));
  report.features.push_back(cgroup_v2(ctx));
  report.features.push_back(root_cpu_stat(ctx));
  report.features.push_back(cgroup_freezer(ctx));
  report.features.push_back(recursive_ro_mounts(ctx));
  report.features.push_back(user_namespaces(ctx));
  report.features.push_back(tmpfs_noswap(ctx));
  report.features.push_back(psi(ctx));
  report.features.push_back(ipvs(ctx));
  report.features.push_back(memory_qos(ctx));
  for (auto& f : report.features) {
    if (!f.disagreement.empty() || !f.version_supported || !f.probe_supported ||
        *f.version_supported == *f.probe_supported)
      continue;
    if (*f.version_supported)
      f.disagreement = "version says yes, probe says no";
    else if (f.probe_decisive)
      f.disagreement = "backported: version says no, probe says yes";
    else
      f.disagreement =
          "version says no, probe says yes (the probe sees the interface, not what the version "
          "rule stands for)";
  }

  check_sysctls(ctx);
  // The kubelet's requirements: failCgroupV1 needs nothing more; allowedUnsafeSysctls are
  // checked against the node, net.* ones in a new network namespace.
  if (options.kubelet) report.kubelet = *options.kubelet;
  if (!options.allowed_unsafe_sysctls.empty()) {
    report.kubelet.allowed_unsafe_sysctls = options.allowed_unsafe_sysctls;
    report.kubelet.allowed_unsafe_sysctls_origin = "--allowed-unsafe-sysctls";
  }
  bool net_entry = false;
  for (const auto& s : report.kubelet.allowed_unsafe_sysctls)
    if (sysctl_namespace(s).ns == SysctlNamespace::kNet) net_entry = true;
  // With a kubelet configuration the view is kept even without a net.* entry: the source
  // re-reads the configuration later, when it may no longer start a child (sandbox).
  if (report.kubelet.found || net_entry) {
    report.net_sysctls = list_net_sysctls(paths, report.live_probes, options.namespace_timeout);
    if (!report.live_probes && report.net_sysctls.listed)
      report.net_sysctls.note = "live probes off: " + report.live_note;
  }
  check_allowed_unsafe_sysctls(report, paths);
  check_device_plugins(ctx);
  return report;
}

}  // namespace nodehealth::features
