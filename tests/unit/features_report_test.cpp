// probe_features on the fixture trees (tests/fixtures/features/<case>/, see each PROVENANCE):
// every row of facts §5's feature table and safe-sysctl table, on a hand-made RHEL 8 (4.18)
// node, a hand-made Ubuntu 22.04 (5.15) node and this machine's real values (6.18, hybrid
// cgroups); plus temporary trees for odd versions, missing and unreadable files, and the device
// plugin directory with real sockets (facts §7). Live probes are off: a fixture is not the
// running kernel.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "agent/features/features.h"
#include "agent/features/render.h"

using namespace nodehealth;
using namespace nodehealth::features;
namespace fs = std::filesystem;

namespace {

const std::optional<bool> kYes = true, kNo = false, kUnknown = std::nullopt;

FeatureReport report_for(const std::string& fixture, FeatureOptions opts = {}) {
  opts.live = FeatureOptions::Live::kOff;
  auto r = probe_features(
      HostPaths::under(std::string(NODEHEALTH_FIXTURES) + "/features/" + fixture), opts);
  REQUIRE(r);
  return *r;
}

const FeatureSupport& feature(const FeatureReport& r, const char* name) {
  const FeatureSupport* f = r.feature(name);
  REQUIRE(f);
  return *f;
}

void check_row(const FeatureReport& r, const char* name, std::optional<bool> version,
               std::optional<bool> probe, std::optional<bool> supported) {
  const FeatureSupport& f = feature(r, name);
  INFO(name << ": " << f.detail);
  CHECK(f.version_supported == version);
  CHECK(f.probe_supported == probe);
  CHECK(f.supported() == supported);
}

// A scratch tree under /tmp, removed at the end of the test.
struct TempTree {
  fs::path root;
  TempTree() {
    char tmpl[] = "/tmp/nodehealth-test-features-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    root = tmpl;
    fs::create_directories(root / "proc");
  }
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
  HostPaths paths() const { return HostPaths::under(root.string()); }
  FeatureReport report(FeatureOptions opts = {}) const {
    opts.live = FeatureOptions::Live::kOff;
    auto r = probe_features(paths(), opts);
    REQUIRE(r);
    return *r;
  }
};

}  // namespace

TEST_CASE("facts §5 features on el8-4.18: every row", "[features][fixtures]") {
  const FeatureReport r = report_for("el8-4.18");
  CHECK(r.kernel.release == "4.18.0-513.el8.x86_64");
  REQUIRE(r.kernel.version);
  CHECK(r.kernel.version->to_string() == "4.18.0");
  CHECK(r.cgroup_layout == "legacy");
  CHECK(r.cgroup2_mount.empty());
  CHECK(r.kernel_config.ends_with("/boot/config-4.18.0-513.el8.x86_64"));
  CHECK_FALSE(r.live_probes);
  REQUIRE(r.features.size() == feature_names().size());

  // kube-proxy nftables: kernel < 5.13; nf_tables loaded but RHEL 8's nft 0.9.3 < 1.0.1.
  check_row(r, "nftables", kNo, kNo, kNo);
  CHECK(feature(r, "nftables").detail.find("nft 0.9.3 (older than 1.0.1") != std::string::npos);
  // cgroup v2: legacy layout.
  check_row(r, "cgroup_v2", kUnknown, kNo, kNo);
  CHECK_FALSE(feature(r, "cgroup_v2").has_version_rule);
  CHECK(feature(r, "cgroup_v2").detail.find("failCgroupV1") != std::string::npos);
  // root cpu.stat: < 5.8; no cgroup2 mount to look at.
  check_row(r, "root_cpu_stat", kNo, kUnknown, kNo);
  // freezer: < 5.2, but runc uses the v1 freezer controller, which is mounted.
  check_row(r, "cgroup_freezer", kNo, kYes, kYes);
  CHECK(feature(r, "cgroup_freezer").disagreement.find("v1 controller needs no 5.2") !=
        std::string::npos);
  // recursive read-only mounts: < 5.12; the syscall probe is live only.
  check_row(r, "recursive_read_only_mounts", kNo, kUnknown, kNo);
  // user namespaces: < 6.5 and max_user_namespaces = 0.
  check_row(r, "user_namespaces", kNo, kNo, kNo);
  // tmpfs noswap: < 6.4; no noswap mount, no test mount without --probe-mounts.
  check_row(r, "tmpfs_noswap", kNo, kUnknown, kNo);
  // PSI: 4.18 < 4.20, but RHEL backported it and psi=1 is on the command line.
  check_row(r, "psi", kNo, kYes, kYes);
  CHECK(feature(r, "psi").disagreement == "backported: version says no, probe says yes");
  CHECK(feature(r, "psi").detail.find("enabled by psi=1") != std::string::npos);
  // IPVS conn_reuse_mode: >= 4.1 and present; below 5.9 kube-proxy sets it to 0.
  check_row(r, "ipvs_conn_reuse_mode", kYes, kYes, kYes);
  CHECK(feature(r, "ipvs_conn_reuse_mode").detail.find("below 5.9") != std::string::npos);
  // MemoryQoS: < 5.9 and cgroup v1.
  check_row(r, "memory_qos", kNo, kNo, kNo);
  CHECK(r.warnings.empty());
}

TEST_CASE("facts §5 features on ubuntu-5.15: every row", "[features][fixtures]") {
  const FeatureReport r = report_for("ubuntu-5.15");
  REQUIRE(r.kernel.version);
  CHECK(r.kernel.version->to_string() == "5.15.0");
  CHECK(r.cgroup_layout == "unified");
  CHECK(r.cgroup2_mount == "/sys/fs/cgroup");

  // nftables: >= 5.13, nf_tables a module, nft 1.0.2.
  check_row(r, "nftables", kYes, kYes, kYes);
  CHECK(feature(r, "nftables").detail.find("nft 1.0.2 (>= 1.0.1)") != std::string::npos);
  check_row(r, "cgroup_v2", kUnknown, kYes, kYes);
  check_row(r, "root_cpu_stat", kYes, kYes, kYes);
  // freezer: cgroup.freeze in kubepods.slice.
  check_row(r, "cgroup_freezer", kYes, kYes, kYes);
  check_row(r, "recursive_read_only_mounts", kYes, kUnknown, kYes);
  // user namespaces: the docs want 6.5; the probe sees user namespaces but cannot prove the
  // rest, so the version decides.
  check_row(r, "user_namespaces", kNo, kYes, kNo);
  CHECK(feature(r, "user_namespaces").disagreement.starts_with("version says no, probe says yes"));
  check_row(r, "tmpfs_noswap", kNo, kUnknown, kNo);
  check_row(r, "psi", kYes, kYes, kYes);
  // IPVS: the module is not loaded (CONFIG_IP_VS=m): "not loaded", not false.
  check_row(r, "ipvs_conn_reuse_mode", kYes, kUnknown, kYes);
  CHECK(feature(r, "ipvs_conn_reuse_mode").detail.starts_with("not loaded"));
  check_row(r, "memory_qos", kYes, kYes, kYes);
  CHECK(r.warnings.empty());
}

TEST_CASE("facts §5 features on this machine's capture (6.18, hybrid): every row",
          "[features][fixtures]") {
  const FeatureReport r = report_for("real-6.18-hybrid");
  CHECK(r.kernel.release == "6.18.44-fc-v657");
  CHECK(r.kernel.version->to_string() == "6.18.44");
  CHECK(r.cgroup_layout == "hybrid");
  CHECK(r.cgroup2_mount == "/sys/fs/cgroup/unified");
  CHECK(r.kernel_config.ends_with("/proc/config.gz"));

  // nftables: built in (CONFIG_NF_TABLES=y), no nft binary on this machine.
  check_row(r, "nftables", kYes, kYes, kYes);
  CHECK(feature(r, "nftables").detail.find("nft: not found") != std::string::npos);
  // cgroup v2: hybrid, so the kubelet sees v1.
  check_row(r, "cgroup_v2", kUnknown, kNo, kNo);
  CHECK(feature(r, "cgroup_v2").detail.find("hybrid layout") != std::string::npos);
  check_row(r, "root_cpu_stat", kYes, kYes, kYes);
  check_row(r, "cgroup_freezer", kYes, kYes, kYes);
  check_row(r, "recursive_read_only_mounts", kYes, kUnknown, kYes);
  check_row(r, "user_namespaces", kYes, kYes, kYes);
  check_row(r, "tmpfs_noswap", kYes, kUnknown, kYes);
  // PSI: CONFIG_PSI_DEFAULT_DISABLED=y, on through psi=1.
  check_row(r, "psi", kYes, kYes, kYes);
  CHECK(feature(r, "psi").detail.find("CONFIG_PSI_DEFAULT_DISABLED=y, enabled by psi=1") !=
        std::string::npos);
  // IPVS: the kernel is built without it.
  check_row(r, "ipvs_conn_reuse_mode", kYes, kNo, kNo);
  CHECK(feature(r, "ipvs_conn_reuse_mode").disagreement == "version says yes, probe says no");
  CHECK(feature(r, "ipvs_conn_reuse_mode").detail.find("CONFIG_IP_VS is not set") !=
        std::string::npos);
  // MemoryQoS: the memory controller is on v1 in the hybrid layout.
  check_row(r, "memory_qos", kYes, kNo, kNo);
  CHECK(feature(r, "memory_qos").disagreement == "version says yes, probe says no");
}

TEST_CASE("facts §5 safe sysctls on the fixtures: every row", "[features][fixtures][sysctl]") {
  for (const char* fixture : {"el8-4.18", "ubuntu-5.15", "real-6.18-hybrid"}) {
    INFO(fixture);
    const FeatureReport r = report_for(fixture);
    REQUIRE(r.sysctls.size() == safe_sysctls().size());
    for (const auto& s : r.sysctls) {
      INFO(s.name);
      CHECK(s.kernel_ok);  // 4.18 and later carry the whole set
      CHECK(s.present_on_host == kYes);
      CHECK(s.supported());
      if (s.name.starts_with("net.")) {
        CHECK(s.ns == "net");
        CHECK(s.present == kUnknown);  // the new network namespace is live only
        CHECK(s.detail.find("not checked in a new network namespace") != std::string::npos);
      } else {
        CHECK(s.ns == "ipc");
        CHECK(s.present == kYes);
      }
    }
  }
}

TEST_CASE("facts §5 safe sysctls on an old kernel: rows above it leave the kubelet's safe set",
          "[features][sysctl]") {
  TempTree t;
  t.write("proc/sys/kernel/osrelease", "4.4.0-210-generic\n");
  const FeatureReport r = t.report();
  const std::map<std::string, bool> want = {
      {"kernel.shm_rmid_forced", true},
      {"net.ipv4.ip_local_port_range", true},
      {"net.ipv4.tcp_syncookies", true},
      {"net.ipv4.ping_group_range", true},
      {"net.ipv4.ip_unprivileged_port_start", true},
      {"net.ipv4.ip_local_reserved_ports", true},  // 3.16
      {"net.ipv4.tcp_keepalive_time", false},      // 4.5
      {"net.ipv4.tcp_keepalive_intvl", false},
      {"net.ipv4.tcp_keepalive_probes", false},
      {"net.ipv4.tcp_fin_timeout", false},  // 4.6
      {"net.ipv4.tcp_notsent_lowat", false},
      {"net.ipv4.tcp_rmem", false},  // 4.15
      {"net.ipv4.tcp_wmem", false},
      {"net.ipv4.tcp_slow_start_after_idle", false},
  };
  for (const auto& s : r.sysctls) {
    INFO(s.name);
    CHECK(s.kernel_ok == want.at(s.name));
    CHECK(s.present_on_host == kNo);  // the tree has no /proc/sys/net
    CHECK_FALSE(s.supported());
    if (!s.kernel_ok) CHECK(s.detail.find("kernel older than") != std::string::npos);
  }
  // 4.5 exactly is enough for the 4.5 rows (a missing component counts as 0).
  TempTree t45;
  t45.write("proc/sys/kernel/osrelease", "4.5\n");
  CHECK(t45.report().sysctl("net.ipv4.tcp_keepalive_time")->kernel_ok);
  CHECK_FALSE(t45.report().sysctl("net.ipv4.tcp_fin_timeout")->kernel_ok);
}

TEST_CASE("bad input: an odd osrelease is reported and every version verdict is unknown",
          "[features][bad-input]") {
  for (const char* odd : {"5-15-0\n", "6\n", "", "garbage\n", "\x01\x02"}) {
    INFO(odd);
    TempTree t;
    t.write("proc/sys/kernel/osrelease", odd);
    const FeatureReport r = t.report();
    CHECK_FALSE(r.kernel.version);
    CHECK_FALSE(r.kernel.error.empty());
    CHECK_FALSE(r.warnings.empty());
    for (const auto& f : r.features) CHECK_FALSE(f.version_supported);
    // Without a kernel version the kubelet drops the versioned sysctls (facts §5).
    CHECK_FALSE(r.sysctl("net.ipv4.tcp_rmem")->kernel_ok);
    CHECK(r.sysctl("net.ipv4.tcp_syncookies")->kernel_ok);
  }
}

TEST_CASE("bad input: missing files are unknowns, not errors", "[features][bad-input]") {
  TempTree t;  // an empty proc and nothing else
  const FeatureReport r = t.report();
  CHECK(r.kernel.release.empty());
  CHECK(r.kernel.error.find("osrelease") != std::string::npos);
  CHECK(r.cgroup_layout == "unknown");
  CHECK(r.kernel_config.empty());
  CHECK(r.features.size() == feature_names().size());
  CHECK(feature(r, "psi").probe_supported == kNo);  // no /proc/pressure
  CHECK(feature(r, "ipvs_conn_reuse_mode").probe_supported == kUnknown);
  CHECK_FALSE(r.device_plugins.dir_present);
  CHECK(r.device_plugins.error.empty());
  CHECK(std::find_if(r.warnings.begin(), r.warnings.end(), [](const std::string& w) {
          return w.find("mountinfo") != std::string::npos;
        }) != r.warnings.end());
}

TEST_CASE("bad input: unreadable files are reported and their probes unknown",
          "[features][bad-input]") {
  TempTree t;
  t.write("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
  // Directories where files should be: reads fail with EISDIR, not ENOENT.
  fs::create_directories(t.root / "proc/pressure/cpu");
  fs::create_directories(t.root / "proc/pressure/memory");
  fs::create_directories(t.root / "proc/pressure/io");
  fs::create_directories(t.root / "proc/sys/user/max_user_namespaces");
  fs::create_directories(t.root / "proc/1/mountinfo");
  t.write("proc/config.gz", "not gzip at all");
  const FeatureReport r = t.report();
  CHECK(r.kernel.version->to_string() == "6.1.0");
  CHECK(feature(r, "psi").probe_supported == kUnknown);
  CHECK(feature(r, "psi").detail.find("Is a directory") != std::string::npos);
  CHECK(feature(r, "user_namespaces").probe_supported == kUnknown);
  CHECK(r.kernel_config.empty());
  auto has = [&](const char* what) {
    return std::find_if(r.warnings.begin(), r.warnings.end(), [&](const std::string& w) {
             return w.find(what) != std::string::npos;
           }) != r.warnings.end();
  };
  CHECK(has("config.gz"));
  CHECK(has("max_user_namespaces"));
  CHECK(has("pressure"));
}

TEST_CASE("bad input: garbage values", "[features][bad-input]") {
  TempTree t;
  t.write("proc/sys/kernel/osrelease", "5.10.0\n");
  t.write("proc/sys/user/max_user_namespaces", "lots\n");
  t.write("proc/pressure/cpu", "junk\n");
  t.write("proc/pressure/memory", "junk\n");
  t.write("proc/pressure/io", "junk\n");
  t.write("proc/1/mountinfo", "this is not mountinfo\n");
  const FeatureReport r = t.report();
  CHECK(feature(r, "user_namespaces").probe_supported == kUnknown);
  CHECK(feature(r, "user_namespaces").detail.find("not a number") != std::string::npos);
  CHECK(feature(r, "psi").probe_supported == kUnknown);
  CHECK(r.cgroup_layout == "unknown");
}

TEST_CASE("the proc root must exist", "[features][bad-input]") {
  auto r = probe_features(HostPaths::under("/nonexistent-nodehealth-root"));
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("/nonexistent-nodehealth-root/proc") != std::string::npos);
}

TEST_CASE("live probes: auto skips a copy of the running kernel's files", "[features][live]") {
  // The real capture's osrelease may even match the running kernel: its proc is no procfs.
  FeatureOptions opts;
  auto r = probe_features(
      HostPaths::under(std::string(NODEHEALTH_FIXTURES) + "/features/real-6.18-hybrid"), opts);
  REQUIRE(r);
  CHECK_FALSE(r->live_probes);
  CHECK_FALSE(r->live_note.empty());
}

namespace {

// Binds an AF_UNIX socket at path; the fd is closed at once (the socket file stays).
void make_socket(const fs::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.string().size() < sizeof addr.sun_path);
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
}

}  // namespace

TEST_CASE("facts §7 device plugins: registration socket, plugin sockets, checkpoint",
          "[features][device-plugins]") {
  TempTree t;
  const fs::path dir = t.root / "var/lib/kubelet/device-plugins";
  fs::create_directories(dir);
  make_socket(dir / "kubelet.sock");
  make_socket(dir / "nvidia-gpu.sock");
  make_socket(dir / "sriov.sock");
  t.write("var/lib/kubelet/device-plugins/kubelet_internal_checkpoint", "{}");
  t.write("var/lib/kubelet/device-plugins/stale.sock", "");  // a regular file
  t.write("var/lib/kubelet/device-plugins/README", "");      // ignored
  const FeatureReport r = t.report();
  const DevicePlugins& d = r.device_plugins;
  CHECK(d.dir == "/var/lib/kubelet/device-plugins");
  CHECK(d.dir_present);
  CHECK(d.registration_socket);
  CHECK(d.registration_entry);
  CHECK(d.plugin_sockets == std::vector<std::string>{"nvidia-gpu.sock", "sriov.sock"});
  CHECK(d.not_sockets == std::vector<std::string>{"stale.sock"});
  CHECK(d.checkpoint_present);
  CHECK(DevicePlugins::kApiVersion == "v1beta1");

  auto fams = feature_metrics(r);
  auto value = [&](const char* name) {
    for (const auto& f : fams)
      if (f.name == name) return f.metric.at(0).gauge.value;
    FAIL("no family " << name);
    return -1.0;
  };
  CHECK(value("nodehealth_device_plugin_sockets") == 2);
  CHECK(value("nodehealth_device_plugin_registration_socket") == 1);
}

TEST_CASE("facts §7 device plugins on the fixtures", "[features][device-plugins][fixtures]") {
  const FeatureReport el8 = report_for("el8-4.18");
  CHECK(el8.device_plugins.registration_entry);
  CHECK_FALSE(el8.device_plugins.registration_socket);  // a regular file stands in
  CHECK(el8.device_plugins.not_sockets == std::vector<std::string>{"nvidia-gpu.sock"});
  CHECK(el8.device_plugins.checkpoint_present);
  const FeatureReport ubuntu = report_for("ubuntu-5.15");
  CHECK(ubuntu.device_plugins.dir_present);
  CHECK_FALSE(ubuntu.device_plugins.registration_entry);
  CHECK(ubuntu.device_plugins.checkpoint_present);
  const FeatureReport real = report_for("real-6.18-hybrid");
  CHECK_FALSE(real.device_plugins.dir_present);
}

TEST_CASE("facts §5 allowedUnsafeSysctls in the report", "[features][sysctl]") {
  FeatureOptions opts;
  opts.allowed_unsafe_sysctls = {"net.core.somaxconn", "kernel.hostname", "kernel.msg*"};
  const FeatureReport r = report_for("ubuntu-5.15", opts);
  REQUIRE(r.unsafe_sysctls.size() == 3);
  CHECK(r.unsafe_sysctls[0].accepted);
  CHECK_FALSE(r.unsafe_sysctls[1].accepted);
  CHECK(r.unsafe_sysctls[1].reason ==
        "the sysctls \"kernel.hostname\" are not known to be namespaced");
  CHECK(r.unsafe_sysctls[2].accepted);
}

TEST_CASE("missing(): required features and sysctls not known to be supported",
          "[features][require]") {
  const FeatureReport el8 = report_for("el8-4.18");
  CHECK(missing(el8, {"psi", "ipvs_conn_reuse_mode", "cgroup_freezer"}).empty());
  CHECK(missing(el8, {"cgroup_v2", "psi", "memory_qos"}) ==
        std::vector<std::string>{"cgroup_v2", "memory_qos"});
  CHECK(missing(el8, {"tmpfs_noswap"}) == std::vector<std::string>{"tmpfs_noswap"});
  CHECK(missing(el8, {"net.ipv4.tcp_rmem", "kernel.shm_rmid_forced"}).empty());
  CHECK(missing(el8, {"no_such_feature"}) == std::vector<std::string>{"no_such_feature"});
  const FeatureReport ubuntu = report_for("ubuntu-5.15");
  CHECK(missing(ubuntu, {"cgroup_v2", "memory_qos", "nftables"}).empty());
  CHECK(missing(ubuntu, {"user_namespaces"}) == std::vector<std::string>{"user_namespaces"});
  CHECK(known_requirement("psi"));
  CHECK(known_requirement("net.ipv4.tcp_rmem"));
  CHECK_FALSE(known_requirement("net.core.somaxconn"));
}

TEST_CASE("feature_metrics: kernel_feature by source, sysctl_supported, kernel_info",
          "[features][metrics]") {
  const FeatureReport r = report_for("el8-4.18");
  const auto fams = feature_metrics(r);
  std::map<std::string, const prometheus::MetricFamily*> by_name;
  for (const auto& f : fams) {
    by_name[f.name] = &f;
    CHECK(f.type == prometheus::MetricType::Gauge);
    CHECK_FALSE(f.help.empty());
  }
  REQUIRE(by_name.count("nodehealth_kernel_feature"));
  auto feature_value = [&](const std::string& feat, const std::string& source) {
    for (const auto& m : by_name["nodehealth_kernel_feature"]->metric) {
      std::map<std::string, std::string> l;
      for (const auto& lab : m.label) l[lab.name] = lab.value;
      if (l["feature"] == feat && l["source"] == source)
        return std::optional<double>(m.gauge.value);
    }
    return std::optional<double>();
  };
  CHECK(feature_value("psi", "version") == 0.0);
  CHECK(feature_value("psi", "probe") == 1.0);
  CHECK(feature_value("cgroup_v2", "probe") == 0.0);
  CHECK_FALSE(feature_value("cgroup_v2", "version"));   // no version rule
  CHECK_FALSE(feature_value("tmpfs_noswap", "probe"));  // unknown: absent
  CHECK(feature_value("ipvs_conn_reuse_mode", "probe") == 1.0);

  REQUIRE(by_name.count("nodehealth_sysctl_supported"));
  CHECK(by_name["nodehealth_sysctl_supported"]->metric.size() == safe_sysctls().size());
  for (const auto& m : by_name["nodehealth_sysctl_supported"]->metric) CHECK(m.gauge.value == 1);

  REQUIRE(by_name.count("nodehealth_kernel_info"));
  const auto& info = by_name["nodehealth_kernel_info"]->metric.at(0);
  CHECK(info.gauge.value == 1);
  std::map<std::string, std::string> labels;
  for (const auto& l : info.label) labels[l.name] = l.value;
  CHECK(labels["release"] == "4.18.0-513.el8.x86_64");
  CHECK(labels["version"] == "4.18.0");
  CHECK(by_name.count("nodehealth_device_plugin_sockets"));
  CHECK(by_name["nodehealth_device_plugin_registration_socket"]->metric.at(0).gauge.value == 0);
}

TEST_CASE("render: table sections and JSON shape", "[features][render]") {
  FeatureOptions opts;
  opts.allowed_unsafe_sysctls = {"kernel.hostname"};
  const std::string kubelet_dir = std::string(NODEHEALTH_FIXTURES) + "/kubelet/unsafe-sysctls/";
  opts.kubelet = load_kubelet_requirements(kubelet_dir + "config.yaml", std::nullopt);
  const FeatureReport r = report_for("el8-4.18", opts);
  const std::string table = to_table(r);
  for (const char* section :
       {"Kernel\n", "\nFeatures\n", "\nSafe sysctls\n", "\nKubelet configuration\n",
        "\nAllowed unsafe sysctls (--allowed-unsafe-sysctls)\n", "\nDevice plugins\n"})
    CHECK(table.find(section) != std::string::npos);
  // el8 is cgroup v1 (legacy) and the kubelet file leaves failCgroupV1 at its default.
  CHECK(table.find("  failCgroupV1:  true (the default since Kubernetes 1.35): no cgroup v2 here, "
                   "the kubelet refuses to start\n") != std::string::npos);
  CHECK(table.find("  kernel.hostname  accepted") == std::string::npos);
  CHECK(table.find("  kernel.hostname  rejected  -          rejected  the sysctls") !=
        std::string::npos);
  CHECK(table.find("[backported: version says no, probe says yes]") != std::string::npos);
  CHECK(table.find("API version:     v1beta1") != std::string::npos);
  const auto j = to_json(r);
  CHECK(j["kernel"]["version"] == "4.18.0");
  CHECK(j["features"].size() == feature_names().size());
  CHECK(j["features"][0]["name"] == "nftables");
  CHECK(j["features"][1]["versionSupported"].is_null());  // cgroup_v2: no version rule
  CHECK(j["sysctls"].size() == safe_sysctls().size());
  CHECK(j["allowedUnsafeSysctls"][0]["accepted"] == false);
  CHECK(j["allowedUnsafeSysctls"][0]["verdict"] == "rejected");
  CHECK(j["kubelet"]["found"] == true);
  CHECK(j["kubelet"]["failCgroupV1"] == true);
  CHECK(j["kubelet"]["failCgroupV1Origin"] == "");
  CHECK(j["kubelet"]["allowedUnsafeSysctlsOrigin"] == "--allowed-unsafe-sysctls");
  REQUIRE(j["kubelet"]["problems"].size() == 2);
  CHECK(j["kubelet"]["problems"][0].get<std::string>().find("(legacy layout)") !=
        std::string::npos);
  CHECK(j["netSysctls"]["listed"] == true);  // with a kubelet configuration, read for later
  CHECK(j["devicePlugins"]["apiVersion"] == "v1beta1");
}
