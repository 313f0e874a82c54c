// The "no" and "unknown" paths of every row of facts §5's feature table, on temporary trees.
// Each tree is a copy of one fixture of tests/fixtures/features (see its PROVENANCE: ubuntu-5.15
// and el8-4.18 are hand-made, real-6.18-hybrid is captured from this machine) with the change
// named in the test; the copy is removed at the end. The changed lines are hand-made, derived
// from the fixture's own lines as noted. Live probes are off: a copy is not the running kernel.
// PSI's EOPNOTSUPP (psi=0 on kernels that create /proc/pressure anyway) cannot come from a file
// tree, so it goes through interpret_psi with the errno given.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "agent/features/features.h"
#include "agent/features/probes.h"

using namespace nodehealth;
using namespace nodehealth::features;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::optional<bool> kYes = true, kNo = false, kUnknown = std::nullopt;

// A copy of tests/fixtures/features/<fixture> under /tmp, removed at the end of the test.
struct FixtureCopy {
  fs::path root;
  explicit FixtureCopy(const std::string& fixture) {
    char tmpl[] = "/tmp/nodehealth-test-rows-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    root = tmpl;
    fs::copy(fs::path(NODEHEALTH_FIXTURES) / "features" / fixture, root,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  }
  ~FixtureCopy() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(root / rel);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void write(const std::string& rel, const std::string& text, bool executable = false) const {
    fs::create_directories((root / rel).parent_path());
    { std::ofstream(root / rel) << text; }
    if (executable)
      fs::permissions(root / rel,
                      fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  }
  // Replaces the one occurrence of `from` in the file (it must be there).
  void replace(const std::string& rel, const std::string& from, const std::string& to) const {
    std::string text = read(rel);
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    write(rel, text);
  }
  void remove(const std::string& rel) const {
    REQUIRE(fs::exists(root / rel));
    fs::remove_all(root / rel);
  }
  FeatureReport report(FeatureOptions opts = {}) const {
    opts.live = FeatureOptions::Live::kOff;
    auto r = probe_features(HostPaths::under(root.string()), opts);
    REQUIRE(r);
    return *r;
  }
};

const FeatureSupport& row(const FeatureReport& r, const char* name) {
  const FeatureSupport* f = r.feature(name);
  REQUIRE(f);
  return *f;
}
// A row of a temporary report would dangle.
const FeatureSupport& row(FeatureReport&&, const char*) = delete;

void check_row(const FeatureReport& r, const char* name, std::optional<bool> version,
               std::optional<bool> probe, std::optional<bool> supported) {
  const FeatureSupport& f = row(r, name);
  INFO(name << ": " << f.detail);
  CHECK(f.version_supported == version);
  CHECK(f.probe_supported == probe);
  CHECK(f.supported() == supported);
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const char* const kUbuntuConfig = "boot/config-5.15.0-1049-azure";

}  // namespace

TEST_CASE("facts §5 tmpfs noswap: a noswap mount is yes, no tmpfs at all is no",
          "[features][rows]") {
  SECTION("a tmpfs mounted with noswap -> yes") {
    // real-6.18-hybrid with one more mountinfo line: its own /dev/shm line (25 24 0:23 ...)
    // as an emptyDir volume a 6.4+ kubelet mounts with noswap (how shmem_show_options prints
    // it: ",noswap" after the size).
    FixtureCopy t("real-6.18-hybrid");
    t.write("proc/1/mountinfo",
            t.read("proc/1/mountinfo") +
                "42 27 0:39 / /var/lib/kubelet/pods/0f3c2a1e-5b7d-4a39-9c61-2f0e8d4b7a10/volumes/"
                "kubernetes.io~empty-dir/cache rw,relatime - tmpfs tmpfs rw,size=65536k,noswap\n");
    const FeatureReport r = t.report();
    check_row(r, "tmpfs_noswap", kYes, kYes, kYes);
    CHECK(has(row(r, "tmpfs_noswap").detail, "tmpfs mounted with noswap at /var/lib/kubelet/"));
    CHECK(row(r, "tmpfs_noswap").disagreement.empty());
  }
  SECTION("noswap among the mount options, not the super options, does not count") {
    // The same line with noswap moved to the per-mount options (the kernel never puts it
    // there): only the super block's options say what tmpfs does.
    FixtureCopy t("real-6.18-hybrid");
    t.write("proc/1/mountinfo",
            t.read("proc/1/mountinfo") + "42 27 0:39 / /mnt/cache rw,noswap - tmpfs tmpfs rw\n");
    check_row(t.report(), "tmpfs_noswap", kYes, kUnknown, kYes);
  }
  SECTION("no tmpfs in /proc/filesystems -> no") {
    // real-6.18-hybrid's /proc/filesystems without its "nodev\ttmpfs" line.
    FixtureCopy t("real-6.18-hybrid");
    t.replace("proc/filesystems", "nodev\ttmpfs\n", "");
    const FeatureReport r = t.report();
    check_row(r, "tmpfs_noswap", kYes, kNo, kNo);
    CHECK(row(r, "tmpfs_noswap").detail == "no tmpfs in /proc/filesystems");
    CHECK(row(r, "tmpfs_noswap").disagreement == "version says yes, probe says no");
  }
  SECTION("--probe-mounts on a tree that is not the running kernel: no test mount") {
    FixtureCopy t("real-6.18-hybrid");
    FeatureOptions opts;
    opts.probe_mounts = true;
    const FeatureReport r = t.report(opts);
    check_row(r, "tmpfs_noswap", kYes, kUnknown, kYes);
    CHECK(has(row(r, "tmpfs_noswap").detail, "no test mount: the tree is not the running kernel"));
  }
  SECTION("/proc/filesystems unreadable -> unknown and a warning") {
    FixtureCopy t("real-6.18-hybrid");
    t.remove("proc/filesystems");
    const FeatureReport r = t.report();
    check_row(r, "tmpfs_noswap", kYes, kUnknown, kYes);
    CHECK(std::any_of(r.warnings.begin(), r.warnings.end(),
                      [](const std::string& w) { return has(w, "filesystems"); }));
  }
}

TEST_CASE("facts §5 root cpu.stat: absent on cgroup2 is no", "[features][rows]") {
  SECTION("a 5.4 kernel: version no, probe no") {
    // ubuntu-5.15 as the Ubuntu 20.04 kernel it replaced (osrelease 5.4.0-1109-azure, its
    // config renamed with it) without the root cpu.stat that 5.8 added.
    FixtureCopy t("ubuntu-5.15");
    t.write("proc/sys/kernel/osrelease", "5.4.0-1109-azure\n");
    fs::rename(t.root / kUbuntuConfig, t.root / "boot/config-5.4.0-1109-azure");
    t.remove("sys/fs/cgroup/cpu.stat");
    const FeatureReport r = t.report();
    check_row(r, "root_cpu_stat", kNo, kNo, kNo);
    CHECK(row(r, "root_cpu_stat").detail == "/sys/fs/cgroup/cpu.stat absent");
    CHECK(row(r, "root_cpu_stat").disagreement.empty());
  }
  SECTION("5.15 without it: the two disagree") {
    FixtureCopy t("ubuntu-5.15");
    t.remove("sys/fs/cgroup/cpu.stat");
    const FeatureReport r = t.report();
    check_row(r, "root_cpu_stat", kYes, kNo, kNo);
    CHECK(row(r, "root_cpu_stat").disagreement == "version says yes, probe says no");
  }
}

TEST_CASE("facts §5 cgroup freezer: the negative and unknown paths", "[features][rows]") {
  SECTION("v2 children without cgroup.freeze -> no") {
    // ubuntu-5.15 as a 5.0 kernel (before the v2 freezer of 5.2): its kubepods.slice and
    // system.slice children keep memory.* but have no cgroup.freeze.
    FixtureCopy t("ubuntu-5.15");
    t.write("proc/sys/kernel/osrelease", "5.0.0-1036-azure\n");
    for (const char* dir :
         {"kubepods.slice", "kubepods.slice/kubepods-burstable.slice", "system.slice"})
      t.remove(std::string("sys/fs/cgroup/") + dir + "/cgroup.freeze");
    const FeatureReport r = t.report();
    check_row(r, "cgroup_freezer", kNo, kNo, kNo);
    CHECK(row(r, "cgroup_freezer").detail ==
          "no cgroup.freeze in the child cgroups (no cgroup v2 freezer)");
  }
  SECTION("v2 without a child cgroup -> unknown") {
    FixtureCopy t("ubuntu-5.15");
    t.remove("sys/fs/cgroup/kubepods.slice");
    t.remove("sys/fs/cgroup/system.slice");
    const FeatureReport r = t.report();
    check_row(r, "cgroup_freezer", kYes, kUnknown, kYes);
    CHECK(has(row(r, "cgroup_freezer").detail, "no child cgroup under the cgroup2 mount"));
  }
  SECTION("v1 (legacy) without the freezer controller -> no") {
    // el8-4.18's mountinfo without its freezer line.
    FixtureCopy t("el8-4.18");
    std::string mi = t.read("proc/1/mountinfo");
    std::string kept;
    std::istringstream in(mi);
    int dropped = 0;
    for (std::string line; std::getline(in, line);) {
      if (has(line, " - cgroup cgroup ") && has(line, "freezer")) {
        ++dropped;
        continue;
      }
      kept += line + "\n";
    }
    REQUIRE(dropped == 1);
    t.write("proc/1/mountinfo", kept);
    const FeatureReport r = t.report();
    REQUIRE(r.cgroup_layout == "legacy");
    check_row(r, "cgroup_freezer", kNo, kNo, kNo);
    CHECK(has(row(r, "cgroup_freezer").detail, "no v1 freezer controller mounted"));
    CHECK(row(r, "cgroup_freezer").disagreement.empty());
  }
}

TEST_CASE("facts §5 nftables: the kernel side from the config, and nft failing",
          "[features][rows]") {
  SECTION("CONFIG_NF_TABLES not set -> no, whatever nft says") {
    // ubuntu-5.15 with its config's CONFIG_NF_TABLES=m line turned into the not-set line a
    // kernel built without nf_tables has (nft 1.0.2 still installed).
    FixtureCopy t("ubuntu-5.15");
    t.replace(kUbuntuConfig, "CONFIG_NF_TABLES=m\n", "# CONFIG_NF_TABLES is not set\n");
    const FeatureReport r = t.report();
    check_row(r, "nftables", kYes, kNo, kNo);
    const FeatureSupport& f = row(r, "nftables");
    CHECK(has(f.detail, "kernel built without nf_tables (CONFIG_NF_TABLES is not set)"));
    CHECK(has(f.detail, "nft 1.0.2 (>= 1.0.1)"));
    CHECK(f.disagreement == "version says yes, probe says no");
  }
  SECTION("CONFIG_NF_TABLES=y -> the kernel side is yes") {
    FixtureCopy t("ubuntu-5.15");
    t.replace(kUbuntuConfig, "CONFIG_NF_TABLES=m\n", "CONFIG_NF_TABLES=y\n");
    const FeatureReport r = t.report();
    check_row(r, "nftables", kYes, kYes, kYes);
    CHECK(has(row(r, "nftables").detail, "nf_tables built in (CONFIG_NF_TABLES=y)"));
  }
  SECTION("no config and nf_tables not loaded -> the kernel side is unknown") {
    FixtureCopy t("ubuntu-5.15");
    t.remove(kUbuntuConfig);
    const FeatureReport r = t.report();
    // nft 1.0.2 is new enough but cannot prove the kernel: unknown, the version decides.
    check_row(r, "nftables", kYes, kUnknown, kYes);
    CHECK(has(row(r, "nftables").detail, "nf_tables: not loaded, no kernel config to tell"));
    // An nft older than 1.0.1 is a no on its own.
    t.write("usr/sbin/nft", "#!/bin/sh\necho \"nftables v0.9.3 (Topsy)\"\n", true);
    check_row(t.report(), "nftables", kYes, kNo, kNo);
  }
  SECTION("nft --version exits non-zero -> the nft side is unknown, with its exit code") {
    // ubuntu-5.15's nft script replaced by one that fails as a broken install does (the
    // loader's message, exit 127).
    FixtureCopy t("ubuntu-5.15");
    t.write("usr/sbin/nft",
            "#!/bin/sh\necho 'nft: error while loading shared libraries: libnftables.so.1: "
            "cannot open shared object file: No such file or directory' >&2\nexit 127\n",
            true);
    const FeatureReport r = t.report();
    const FeatureSupport& f = row(r, "nftables");
    INFO(f.detail);
    CHECK(has(f.detail,
              "/usr/sbin/nft --version: exit 127, \"nft: error while loading shared "
              "libraries"));
    CHECK_FALSE(has(f.detail, "(>= 1.0.1)"));
    // The kernel side (CONFIG_NF_TABLES=m) still answers; kube-proxy runs its image's nft.
    check_row(r, "nftables", kYes, kYes, kYes);
    // The same failure on a kernel without nf_tables: no.
    t.replace(kUbuntuConfig, "CONFIG_NF_TABLES=m\n", "# CONFIG_NF_TABLES is not set\n");
    check_row(t.report(), "nftables", kYes, kNo, kNo);
  }
  SECTION("nft --version printing no version, exit 0 -> unknown nft side") {
    FixtureCopy t("ubuntu-5.15");
    t.write("usr/sbin/nft", "#!/bin/sh\necho 'usage: nft [ options ] [ cmds... ]'\n", true);
    const FeatureReport r = t.report();
    const FeatureSupport& f = row(r, "nftables");
    CHECK(has(f.detail, "--version: exit 0, \"usage: nft"));
    CHECK(f.probe_supported == kYes);  // the kernel side
  }
  SECTION("nft --version hanging -> killed at the timeout, unknown nft side") {
    FixtureCopy t("ubuntu-5.15");
    t.write("usr/sbin/nft", "#!/bin/sh\nexec sleep 30\n", true);
    FeatureOptions opts;
    opts.command_timeout = 300ms;
    const FeatureReport r = t.report(opts);
    const FeatureSupport& f = row(r, "nftables");
    CHECK(has(f.detail, "/usr/sbin/nft --version timed out"));
  }
}

TEST_CASE("facts §5 PSI: absent, disabled, incomplete", "[features][rows]") {
  SECTION("no /proc/pressure, psi=0 on the command line") {
    // real-6.18-hybrid (CONFIG_PSI_DEFAULT_DISABLED=y) booted with psi=0 instead of psi=1:
    // 6.18 then creates no /proc/pressure.
    FixtureCopy t("real-6.18-hybrid");
    t.remove("proc/pressure");
    t.replace("proc/cmdline", " psi=1 ", " psi=0 ");
    const FeatureReport r = t.report();
    check_row(r, "psi", kYes, kNo, kNo);
    CHECK(row(r, "psi").detail == "no /proc/pressure; psi=0 on the kernel command line");
    CHECK(row(r, "psi").disagreement == "version says yes, probe says no");
  }
  SECTION("no /proc/pressure, default-off kernel without psi=1") {
    FixtureCopy t("real-6.18-hybrid");
    t.remove("proc/pressure");
    t.replace("proc/cmdline", " psi=1 ", " ");
    const FeatureReport r = t.report();
    CHECK(row(r, "psi").detail ==
          "no /proc/pressure; CONFIG_PSI_DEFAULT_DISABLED=y: boot with psi=1");
  }
  SECTION("no /proc/pressure, kernel built without CONFIG_PSI") {
    FixtureCopy t("ubuntu-5.15");
    t.remove("proc/pressure");
    t.replace(kUbuntuConfig, "CONFIG_PSI=y\n", "# CONFIG_PSI is not set\n");
    const FeatureReport r = t.report();
    check_row(r, "psi", kYes, kNo, kNo);
    CHECK(row(r, "psi").detail == "no /proc/pressure; kernel built without CONFIG_PSI");
  }
  SECTION("one file of three -> unknown, not no") {
    FixtureCopy t("ubuntu-5.15");
    t.remove("proc/pressure/memory");
    t.remove("proc/pressure/io");
    const FeatureReport r = t.report();
    check_row(r, "psi", kYes, kUnknown, kYes);
    CHECK(row(r, "psi").detail == "/proc/pressure incomplete");
  }
  SECTION("EOPNOTSUPP from every read -> no (PSI disabled at boot)") {
    const KernelConfig cfg = parse_kernel_config("CONFIG_PSI=y\n");
    std::vector<PressureRead> reads;
    for (const char* res : {"cpu", "memory", "io"}) {
      const std::string path = std::string("/proc/pressure/") + res;
      reads.push_back({path, fail("read " + path + ": Operation not supported", EOPNOTSUPP)});
    }
    const PsiAnswer a = interpret_psi(reads, cfg, "ro quiet psi=0\n");
    CHECK(a.supported == kNo);
    CHECK(a.detail ==
          "/proc/pressure/io: PSI is disabled (EOPNOTSUPP); psi=0 on the kernel command line");
    CHECK(a.warning.empty());  // an answer, not a failure
    // Without psi=0 on a default-off kernel the note says how to turn it on.
    const PsiAnswer b = interpret_psi(
        reads, parse_kernel_config("CONFIG_PSI=y\nCONFIG_PSI_DEFAULT_DISABLED=y\n"), "ro\n");
    CHECK(b.supported == kNo);
    CHECK(has(b.detail, "CONFIG_PSI_DEFAULT_DISABLED=y: boot with psi=1"));
  }
  SECTION("interpret_psi: the other answers") {
    const KernelConfig none;
    const std::string some = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    std::vector<PressureRead> ok;
    for (const char* res : {"cpu", "memory", "io"})
      ok.push_back({std::string("/proc/pressure/") + res, some});
    CHECK(interpret_psi(ok, none, "").supported == kYes);
    std::vector<PressureRead> eacces = ok;
    eacces[1].text = fail("read /proc/pressure/memory: Permission denied", EACCES);
    const PsiAnswer denied = interpret_psi(eacces, none, "");
    CHECK(denied.supported == kUnknown);
    CHECK(denied.warning == "read /proc/pressure/memory: Permission denied");
    std::vector<PressureRead> absent = ok;
    for (auto& r : absent) r.text = fail("open: No such file or directory", ENOENT);
    CHECK(interpret_psi(absent, none, "").supported == kNo);
    // "psi=0" after the init's "--" is not the kernel's.
    CHECK(interpret_psi(absent, none, "ro -- psi=0\n").detail == "no /proc/pressure");
  }
}

TEST_CASE("facts §5 user namespaces: absent sysctl, with and without CONFIG_USER_NS",
          "[features][rows]") {
  SECTION("CONFIG_USER_NS not set -> no") {
    // ubuntu-5.15 built without user namespaces: no max_user_namespaces, the config's
    // CONFIG_USER_NS=y line turned into the not-set line.
    FixtureCopy t("ubuntu-5.15");
    t.remove("proc/sys/user/max_user_namespaces");
    t.replace(kUbuntuConfig, "CONFIG_USER_NS=y\n", "# CONFIG_USER_NS is not set\n");
    const FeatureReport r = t.report();
    check_row(r, "user_namespaces", kNo, kNo, kNo);
    CHECK(has(row(r, "user_namespaces").detail,
              "no /proc/sys/user/max_user_namespaces; CONFIG_USER_NS is not set"));
    CHECK(row(r, "user_namespaces").disagreement.empty());
  }
  SECTION("the sysctl absent, the config silent -> unknown") {
    FixtureCopy t("ubuntu-5.15");
    t.remove("proc/sys/user/max_user_namespaces");
    t.replace(kUbuntuConfig, "CONFIG_USER_NS=y\n", "");
    const FeatureReport r = t.report();
    check_row(r, "user_namespaces", kNo, kUnknown, kNo);
    CHECK(has(row(r, "user_namespaces").detail, "(kernel before 4.9?)"));
  }
  SECTION("the sysctl absent, CONFIG_USER_NS=y -> unknown, the option named") {
    FixtureCopy t("ubuntu-5.15");
    t.remove("proc/sys/user/max_user_namespaces");
    const FeatureReport r = t.report();
    check_row(r, "user_namespaces", kNo, kUnknown, kNo);
    CHECK(has(row(r, "user_namespaces").detail, "CONFIG_USER_NS=y"));
  }
}

TEST_CASE("facts §5 IPVS: loaded without the sysctl is no", "[features][rows]") {
  // ubuntu-5.15 (CONFIG_IP_VS=m) with /sys/module/ip_vs present, as el8-4.18 has it, but no
  // net.ipv4.vs: the module is there and this network namespace lacks the sysctl.
  FixtureCopy t("ubuntu-5.15");
  t.write("sys/module/ip_vs/refcnt", "0\n");
  const FeatureReport r = t.report();
  check_row(r, "ipvs_conn_reuse_mode", kYes, kNo, kNo);
  CHECK(has(row(r, "ipvs_conn_reuse_mode").detail,
            "ip_vs loaded but no net.ipv4.vs.conn_reuse_mode"));
  CHECK(has(row(r, "ipvs_conn_reuse_mode").detail, "run with hostNetwork"));
}

TEST_CASE("facts §5 MemoryQoS: no memory controller, unreadable controllers", "[features][rows]") {
  SECTION("the memory controller not in the root's cgroup.controllers -> no") {
    FixtureCopy t("ubuntu-5.15");
    t.replace("sys/fs/cgroup/cgroup.controllers", "memory ", "");
    const FeatureReport r = t.report();
    check_row(r, "memory_qos", kYes, kNo, kNo);
    CHECK(row(r, "memory_qos").detail == "no memory controller in the root cgroup.controllers");
  }
  SECTION("cgroup.controllers unreadable -> unknown and a warning") {
    FixtureCopy t("ubuntu-5.15");
    t.remove("sys/fs/cgroup/cgroup.controllers");
    const FeatureReport r = t.report();
    check_row(r, "memory_qos", kYes, kUnknown, kYes);
    CHECK(has(row(r, "memory_qos").detail, "cgroup.controllers"));
    CHECK_FALSE(r.warnings.empty());
  }
  SECTION("the memory controller without a child holding memory.high yet -> yes") {
    FixtureCopy t("ubuntu-5.15");
    t.remove("sys/fs/cgroup/kubepods.slice");
    t.remove("sys/fs/cgroup/system.slice");
    const FeatureReport r = t.report();
    check_row(r, "memory_qos", kYes, kYes, kYes);
    CHECK(has(row(r, "memory_qos").detail, "no child cgroup with memory.high yet"));
  }
}

// ---- the safe sysctls (facts §5's second table) -------------------------------------------

namespace {

// facts §5's table, written out here rather than taken from safe_sysctls().
const std::map<std::string, std::optional<KernelVersion>>& facts_min_kernel() {
  static const std::map<std::string, std::optional<KernelVersion>> kTable = {
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
  return kTable;
}

}  // namespace

TEST_CASE("facts §5 safe sysctls: kernelOk just below and at each minimum kernel",
          "[features][rows][sysctl]") {
  // Every boundary of the table (3.16, 4.5, 4.6, 4.15): a release just below it and one at
  // it, written as distributions write osrelease; the expected kernelOk of every row follows
  // from the table alone.
  struct Case {
    const char* osrelease;
    uint64_t major, minor;  // the release's version, by hand
  };
  const Case cases[] = {
      {"3.15.10\n", 3, 15},  {"3.16.0-4-amd64\n", 3, 16},       {"4.4.0-210-generic\n", 4, 4},
      {"4.5.0\n", 4, 5},     {"4.5.7-200.fc23.x86_64\n", 4, 5}, {"4.6.0-1-amd64\n", 4, 6},
      {"4.14.336\n", 4, 14}, {"4.15.0-213-generic\n", 4, 15},
  };
  for (const Case& c : cases) {
    INFO(c.osrelease);
    FixtureCopy t("real-6.18-hybrid");
    t.write("proc/sys/kernel/osrelease", c.osrelease);
    const FeatureReport r = t.report();
    REQUIRE(r.sysctls.size() == facts_min_kernel().size());
    for (const auto& s : r.sysctls) {
      INFO(s.name);
      const auto& min = facts_min_kernel().at(s.name);
      const bool want = !min || c.major > min->components[0] ||
                        (c.major == min->components[0] && c.minor >= min->components[1]);
      CHECK(s.kernel_ok == want);
      CHECK(s.supported() == want);  // every file is there: only the kernel decides
      if (!want) CHECK(has(s.detail, "kernel older than " + min->to_string()));
    }
  }
  // The boundaries themselves, by name.
  auto ok = [](const char* release, const char* sysctl) {
    FixtureCopy t("real-6.18-hybrid");
    t.write("proc/sys/kernel/osrelease", release);
    return t.report().sysctl(sysctl)->kernel_ok;
  };
  CHECK_FALSE(ok("3.15.10\n", "net.ipv4.ip_local_reserved_ports"));
  CHECK(ok("3.16.0-4-amd64\n", "net.ipv4.ip_local_reserved_ports"));
  CHECK_FALSE(ok("4.5.7\n", "net.ipv4.tcp_fin_timeout"));
  CHECK(ok("4.6.0-1-amd64\n", "net.ipv4.tcp_notsent_lowat"));
  CHECK_FALSE(ok("4.14.336\n", "net.ipv4.tcp_slow_start_after_idle"));
  CHECK(ok("4.15.0-213-generic\n", "net.ipv4.tcp_rmem"));
}

TEST_CASE("facts §5 safe sysctls: absent rows", "[features][rows][sysctl]") {
  // real-6.18-hybrid without kernel.shm_rmid_forced (a kernel built without SysV IPC) and
  // without net.ipv4.tcp_notsent_lowat.
  FixtureCopy t("real-6.18-hybrid");
  t.remove("proc/sys/kernel/shm_rmid_forced");
  t.remove("proc/sys/net/ipv4/tcp_notsent_lowat");
  const FeatureReport r = t.report();
  const SysctlSupport* shm = r.sysctl("kernel.shm_rmid_forced");
  REQUIRE(shm);
  CHECK(shm->kernel_ok);
  CHECK(shm->present == kNo);
  CHECK(shm->present_on_host == kNo);
  CHECK(shm->detail == "absent");
  CHECK_FALSE(shm->supported());
  const SysctlSupport* lowat = r.sysctl("net.ipv4.tcp_notsent_lowat");
  REQUIRE(lowat);
  CHECK(lowat->kernel_ok);
  CHECK(lowat->present == kUnknown);  // no new network namespace on a copy
  CHECK(lowat->present_on_host == kNo);
  CHECK(has(lowat->detail, "absent on the host"));
  CHECK_FALSE(lowat->supported());
  // The others are untouched.
  CHECK(r.sysctl("net.ipv4.tcp_rmem")->supported());
  // And the metric says 0 for exactly those two.
  for (const auto& fam : feature_metrics(r)) {
    if (fam.name != "nodehealth_sysctl_supported") continue;
    REQUIRE(fam.metric.size() == facts_min_kernel().size());
    for (const auto& m : fam.metric) {
      const std::string& name = m.label.at(0).value;
      INFO(name);
      const bool gone = name == "kernel.shm_rmid_forced" || name == "net.ipv4.tcp_notsent_lowat";
      CHECK(m.gauge.value == (gone ? 0 : 1));
    }
  }
}

TEST_CASE(
    "facts §5 safe sysctls: present on the host but not namespaced, in a real new "
    "network namespace",
    "[features][rows][sysctl][root]") {
  // A copy of real-6.18-hybrid whose net.ipv4.tcp_rmem is a symbolic link to a sysctl this
  // kernel keeps in the initial network namespace only (net.core.netdev_max_backlog: present
  // here, absent in a new namespace, checked below with util-linux), and without tcp_wmem.
  // Live probes forced on, so the agent's forked child looks the paths up in a real new
  // network namespace: tcp_rmem is then a row present on the host and not namespaced.
  const std::string init_only = "/proc/sys/net/core/netdev_max_backlog";
  FixtureCopy t("real-6.18-hybrid");
  t.remove("proc/sys/net/ipv4/tcp_rmem");
  t.remove("proc/sys/net/ipv4/tcp_wmem");
  fs::create_symlink(init_only, t.root / "proc/sys/net/ipv4/tcp_rmem");
  FeatureOptions opts;
  opts.live = FeatureOptions::Live::kOn;
  auto got = probe_features(HostPaths::under(t.root.string()), opts);
  REQUIRE(got);
  const FeatureReport& r = *got;
  if (::geteuid() != 0) {
    CHECK(r.sysctl_note == "net.*: unknown (needs CAP_SYS_ADMIN)");
    CHECK(r.sysctl("net.ipv4.tcp_rmem")->present == kUnknown);
    return;
  }
  // Independently: the init-only sysctl exists in this process's namespace and not in a new one.
  REQUIRE(fs::exists(init_only));
  auto in_new = run_command({"/usr/bin/unshare", "--net", "/usr/bin/test", "-e", init_only}, 5s);
  REQUIRE(in_new);
  REQUIRE(in_new->exit_status == 1);
  CHECK(r.sysctl_note.empty());
  const SysctlSupport* rmem = r.sysctl("net.ipv4.tcp_rmem");
  CHECK(rmem->kernel_ok);
  CHECK(rmem->present_on_host == kYes);
  CHECK(rmem->present == kNo);
  CHECK(rmem->detail ==
        "present on the host but not in a new network namespace: not namespaced by this kernel");
  CHECK_FALSE(rmem->supported());
  const SysctlSupport* wmem = r.sysctl("net.ipv4.tcp_wmem");
  CHECK(wmem->present_on_host == kNo);
  CHECK(wmem->present == kNo);
  CHECK(wmem->detail == "absent");
  CHECK_FALSE(wmem->supported());
  // The rest of the copy's net.ipv4 files are regular files: present in the new namespace too.
  const SysctlSupport* syn = r.sysctl("net.ipv4.tcp_syncookies");
  CHECK(syn->present == kYes);
  CHECK(syn->detail == "present in a new network namespace");
  CHECK(syn->supported());
  CHECK(missing(r, {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_syncookies"}) ==
        std::vector<std::string>{"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"});
}
