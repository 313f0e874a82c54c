// What the kubelet's configuration asks of the kernel (facts §5; agent/features/kubelet.h):
// failCgroupV1 and allowedUnsafeSysctls read from its files (tests/fixtures/kubelet/
// unsafe-sysctls, see its PROVENANCE), the net.* view of a tree, every verdict of the node check
// on temporary trees with an injected new-namespace view, the problems the
// KernelRequirementsMissing condition is made of, and the metrics. Live probes are off: the
// real kernel is checked by tests/e2e/test_features.py.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "agent/config/config.h"
#include "agent/features/features.h"
#include "agent/features/kubelet.h"
#include "agent/sources/sources.h"
#include "nodehealth/sample.h"
#include "tests/unit/temp_dir.h"

using namespace nodehealth;
using namespace nodehealth::features;
using nodehealth::testing::TempDir;

namespace {

std::string fixture(const std::string& rel) {
  return std::string(NODEHEALTH_FIXTURES) + "/kubelet/unsafe-sysctls/" + rel;
}

constexpr const char* kKubeletHead =
    "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";

const UnsafeSysctlCheck& entry(const FeatureReport& r, std::string_view pattern) {
  for (const auto& c : r.unsafe_sysctls)
    if (c.pattern == pattern) return c;
  FAIL("no entry " << pattern);
  throw std::logic_error("unreachable");
}

// A /proc/sys tree: a few net, kernel, fs and user sysctls, and per-device directories.
void write_tree(const TempDir& t) {
  for (const char* f :
       {"proc/sys/net/core/somaxconn", "proc/sys/net/core/netdev_max_backlog",
        "proc/sys/net/core/rmem_max", "proc/sys/net/ipv4/tcp_syncookies",
        "proc/sys/net/ipv4/conf/all/rp_filter", "proc/sys/net/ipv4/conf/default/rp_filter",
        "proc/sys/net/ipv4/conf/lo/rp_filter", "proc/sys/net/ipv4/conf/eth0/rp_filter",
        "proc/sys/net/ipv4/conf/eno2.100/rp_filter", "proc/sys/net/ipv4/neigh/eth0/gc_stale_time",
        "proc/sys/net/ipv4/neigh/default/gc_thresh1", "proc/sys/net/ipv6/conf/eth0/forwarding",
        "proc/sys/kernel/shmmax", "proc/sys/kernel/shmall", "proc/sys/kernel/shm_rmid_forced",
        "proc/sys/kernel/domainname", "proc/sys/fs/mqueue/msg_max", "proc/sys/fs/mqueue/queues_max",
        "proc/sys/user/max_user_namespaces"})
    t.write(f, "1\n");
}

}  // namespace

TEST_CASE(
    "kubelet config: failCgroupV1 defaults to true (facts §5) and allowedUnsafeSysctls "
    "come from the last file that sets them",
    "[features][kubelet]") {
  const auto k = load_kubelet_requirements(fixture("config.yaml"), fixture("conf.d"));
  CHECK(k.found);
  CHECK(k.error.empty());
  CHECK(k.origin == fixture("config.yaml") + " + " + fixture("conf.d"));
  CHECK(k.fail_cgroup_v1 == true);
  CHECK(k.fail_cgroup_v1_origin.empty());  // defaulted: set in no file
  CHECK(k.allowed_unsafe_sysctls ==
        std::vector<std::string>{"net.core.somaxconn", "net.core.*", "net.core.netdev_max_backlog",
                                 "kernel.shm*", "fs.mqueue.*", "net.ipv4.tcp_syncookies",
                                 "kernel.hostname", "net/ipv4/conf/all/forwarding",
                                 "net.nodehealth_test.absent"});
  CHECK(k.allowed_unsafe_sysctls_origin == fixture("conf.d/10-sysctls.conf") + ":3");

  // The main file alone: its own list.
  const auto main_only = load_kubelet_requirements(fixture("config.yaml"), std::nullopt);
  CHECK(main_only.allowed_unsafe_sysctls == std::vector<std::string>{"kernel.msg*"});

  TempDir t;
  const std::string f = t.write(
      "kubelet.yaml", std::string(kKubeletHead) + "cgroupDriver: systemd\nfailCgroupV1: false\n");
  const auto off = load_kubelet_requirements(f, std::nullopt);
  CHECK(off.fail_cgroup_v1 == false);
  CHECK(off.fail_cgroup_v1_origin == f + ":4");
  CHECK(off.allowed_unsafe_sysctls.empty());

  // No files: nothing found. A missing named file: found, with the error.
  CHECK_FALSE(load_kubelet_requirements(std::nullopt, std::nullopt).found);
  const auto missing = load_kubelet_requirements(t / "nope.yaml", std::nullopt);
  CHECK(missing.found);
  CHECK(missing.error.find("nope.yaml") != std::string::npos);
  CHECK_FALSE(missing.fail_cgroup_v1);
}

TEST_CASE("net.* view of a tree: dotted names, the host's own devices left out",
          "[features][kubelet]") {
  TempDir t;
  write_tree(t);
  const auto n = list_net_sysctls(HostPaths::under(t.path()), false, std::chrono::seconds(1));
  CHECK(n.listed);
  CHECK_FALSE(n.checked);
  CHECK(n.not_in_new.empty());
  CHECK(n.host ==
        std::vector<std::string>{"net.core.netdev_max_backlog", "net.core.rmem_max",
                                 "net.core.somaxconn", "net.ipv4.conf.all.rp_filter",
                                 "net.ipv4.conf.default.rp_filter", "net.ipv4.conf.lo.rp_filter",
                                 "net.ipv4.neigh.default.gc_thresh1", "net.ipv4.tcp_syncookies"});
  TempDir empty;
  const auto none =
      list_net_sysctls(HostPaths::under(empty.path()), false, std::chrono::seconds(1));
  CHECK_FALSE(none.listed);
  CHECK(none.note.find("/proc/sys/net") != std::string::npos);
}

TEST_CASE("allowedUnsafeSysctls against the node: every verdict (facts §5 namespacing)",
          "[features][kubelet]") {
  TempDir t;
  write_tree(t);
  const HostPaths paths = HostPaths::under(t.path());
  FeatureReport r;
  r.net_sysctls = list_net_sysctls(paths, false, std::chrono::seconds(1));
  // As a new network namespace would show it: these two are global on this "kernel".
  r.net_sysctls.checked = true;
  r.net_sysctls.not_in_new = {"net.core.netdev_max_backlog", "net.core.rmem_max"};
  r.kubelet.allowed_unsafe_sysctls = {"net.core.somaxconn",
                                      "net.core.*",
                                      "net.core.netdev_max_backlog",
                                      "net.core.rmem*",
                                      "net.nope.*",
                                      "net.ipv4.conf.eth0.rp_filter",
                                      "net.ipv4.conf.eth1.rp_filter",
                                      "net/ipv4/conf/lo/rp_filter",
                                      "kernel.shm*",
                                      "kernel.msg*",
                                      "kernel.sem",
                                      "kernel.domainname",
                                      "fs.mqueue.*",
                                      "user.*",
                                      "kernel.hostname",
                                      "net.core.*foo",
                                      "net.ipv4.tcp_syncookies"};
  check_allowed_unsafe_sysctls(r, paths);
  REQUIRE(r.unsafe_sysctls.size() == r.kubelet.allowed_unsafe_sysctls.size());
  using V = UnsafeSysctlVerdict;
  const std::map<std::string, V> want = {
      {"net.core.somaxconn", V::kNamespaced},
      {"net.core.*", V::kPartial},
      {"net.core.netdev_max_backlog", V::kUnsupported},
      {"net.core.rmem*", V::kUnsupported},               // a pattern whose every match is global
      {"net.nope.*", V::kUnsupported},                   // matches nothing here
      {"net.ipv4.conf.eth0.rp_filter", V::kNamespaced},  // per-device, the device exists
      {"net.ipv4.conf.eth1.rp_filter", V::kUnsupported},
      {"net/ipv4/conf/lo/rp_filter", V::kNamespaced},
      {"kernel.shm*", V::kNamespaced},
      {"kernel.msg*", V::kUnsupported},  // no kernel.msg* sysctl in this tree
      {"kernel.sem", V::kUnsupported},
      {"kernel.domainname", V::kNamespaced},
      {"fs.mqueue.*", V::kNamespaced},
      {"user.*", V::kNamespaced},
      {"kernel.hostname", V::kRejected},
      {"net.core.*foo", V::kRejected},  // "*" only at the end
      {"net.ipv4.tcp_syncookies", V::kNamespaced},
  };
  for (const auto& [pattern, verdict] : want) {
    const UnsafeSysctlCheck& c = entry(r, pattern);
    INFO(pattern << ": " << c.detail << c.reason);
    CHECK(to_string(c.verdict) == to_string(verdict));
  }
  const auto& core = entry(r, "net.core.*");
  CHECK(core.covered == 3);
  CHECK(core.not_namespaced_count == 2);
  CHECK(core.not_namespaced ==
        std::vector<std::string>{"net.core.netdev_max_backlog", "net.core.rmem_max"});
  CHECK(core.detail ==
        "2 of the 3 sysctls it covers are not in a new network namespace (this kernel does not "
        "namespace them, a pod asking for one fails to start): net.core.netdev_max_backlog, "
        "net.core.rmem_max");
  CHECK(entry(r, "net.core.netdev_max_backlog").detail ==
        "present on the host but not in a new network namespace: this kernel does not namespace "
        "it");
  CHECK(entry(r, "kernel.shm*").covered == 3);
  CHECK(entry(r, "fs.mqueue.*").covered == 2);
  CHECK(entry(r, "net.ipv4.tcp_syncookies").safe);
  CHECK(entry(r, "net.ipv4.tcp_syncookies").detail.starts_with("already in the safe set"));
  CHECK(entry(r, "net.ipv4.conf.eth1.rp_filter").detail ==
        "absent on this kernel (a module not loaded?)");

  // Not checked in a new namespace: net.* entries present on the host are unknown, the absent
  // ones still unsupported; the others do not need the namespace check.
  r.net_sysctls.checked = false;
  r.net_sysctls.not_in_new.clear();
  r.net_sysctls.note = "needs CAP_SYS_ADMIN";
  check_allowed_unsafe_sysctls(r, paths);
  CHECK(entry(r, "net.core.*").verdict == V::kUnknown);
  CHECK(entry(r, "net.core.*").detail ==
        "3 sysctl(s) it covers are on the host; not checked in a new network namespace: needs "
        "CAP_SYS_ADMIN");
  CHECK(entry(r, "net.core.somaxconn").verdict == V::kUnknown);
  CHECK(entry(r, "net.nope.*").verdict == V::kUnsupported);
  CHECK(entry(r, "kernel.shm*").verdict == V::kNamespaced);
  // No view at all (no /proc/sys/net read): unknown.
  r.net_sysctls = {};
  r.net_sysctls.note = "opendir: Permission denied";
  check_allowed_unsafe_sysctls(r, paths);
  CHECK(entry(r, "net.core.somaxconn").verdict == V::kUnknown);
  CHECK(entry(r, "kernel.hostname").verdict == V::kRejected);
}

TEST_CASE("kubelet problems: failCgroupV1 without cgroup v2, rejected and unsupported entries",
          "[features][kubelet]") {
  FeatureReport r;
  FeatureSupport v2;
  v2.name = "cgroup_v2";
  v2.has_version_rule = false;
  v2.probe_supported = false;
  r.features.push_back(v2);
  r.cgroup_layout = "hybrid";
  CHECK(kubelet_problems(r).empty());  // no kubelet configuration
  r.kubelet.found = true;
  r.kubelet.fail_cgroup_v1 = true;
  auto p = kubelet_problems(r);
  REQUIRE(p.size() == 1);
  CHECK(p[0].kind == KubeletProblem::Kind::kFailCgroupV1);
  CHECK(p[0].message.find("failCgroupV1 is true (not set: the default since Kubernetes 1.35)") !=
        std::string::npos);
  CHECK(p[0].message.find("(hybrid layout)") != std::string::npos);
  r.features[0].probe_supported = true;
  CHECK(kubelet_problems(r).empty());
  r.features[0].probe_supported = false;
  r.kubelet.fail_cgroup_v1 = false;
  CHECK(kubelet_problems(r).empty());

  UnsafeSysctlCheck partial;
  partial.pattern = "net.core.*";
  partial.accepted = true;
  partial.verdict = UnsafeSysctlVerdict::kPartial;
  UnsafeSysctlCheck unknown = partial;
  unknown.verdict = UnsafeSysctlVerdict::kUnknown;
  UnsafeSysctlCheck unsupported = partial;
  unsupported.pattern = "net.core.netdev_max_backlog";
  unsupported.verdict = UnsafeSysctlVerdict::kUnsupported;
  unsupported.detail = "not namespaced";
  r.unsafe_sysctls = {partial, unknown, check_unsafe_sysctl("vm.swappiness"), unsupported};
  p = kubelet_problems(r);
  REQUIRE(p.size() == 2);
  CHECK(p[0].kind == KubeletProblem::Kind::kUnsafeSysctl);
  CHECK(p[0].message ==
        "allowedUnsafeSysctls entry \"vm.swappiness\" is rejected by the kubelet, which then "
        "refuses to start: the sysctls \"vm.swappiness\" are not known to be namespaced");
  CHECK(p[1].message ==
        "allowedUnsafeSysctls entry \"net.core.netdev_max_backlog\" cannot be set in a pod here: "
        "not namespaced");
}

TEST_CASE("probe_features: the kubelet's list, or --allowed-unsafe-sysctls instead",
          "[features][kubelet]") {
  TempDir t;
  write_tree(t);
  t.write("proc/sys/kernel/osrelease", "6.1.0-13-amd64\n");
  FeatureOptions opts;
  opts.live = FeatureOptions::Live::kOff;
  opts.kubelet = load_kubelet_requirements(fixture("config.yaml"), fixture("conf.d"));
  auto r = probe_features(HostPaths::under(t.path()), opts);
  REQUIRE(r);
  CHECK(r->kubelet.fail_cgroup_v1 == true);
  CHECK(r->unsafe_sysctls.size() == 9);
  CHECK(r->net_sysctls.listed);
  CHECK_FALSE(r->net_sysctls.checked);
  CHECK(r->net_sysctls.note == "live probes off: turned off (--live-probes off)");
  CHECK(entry(*r, "net.core.*").verdict == UnsafeSysctlVerdict::kUnknown);
  CHECK(entry(*r, "kernel.hostname").verdict == UnsafeSysctlVerdict::kRejected);
  CHECK(entry(*r, "net.nodehealth_test.absent").verdict == UnsafeSysctlVerdict::kUnsupported);

  opts.allowed_unsafe_sysctls = {"kernel.shm*"};
  r = probe_features(HostPaths::under(t.path()), opts);
  REQUIRE(r);
  CHECK(r->kubelet.allowed_unsafe_sysctls_origin == "--allowed-unsafe-sysctls");
  REQUIRE(r->unsafe_sysctls.size() == 1);
  CHECK(r->unsafe_sysctls[0].verdict == UnsafeSysctlVerdict::kNamespaced);

  // Neither a kubelet configuration nor a net.* entry: the net view is not read.
  FeatureOptions bare;
  bare.live = FeatureOptions::Live::kOff;
  r = probe_features(HostPaths::under(t.path()), bare);
  REQUIRE(r);
  CHECK_FALSE(r->kubelet.found);
  CHECK_FALSE(r->net_sysctls.listed);
  CHECK(r->unsafe_sysctls.empty());
}

TEST_CASE("feature_metrics: nodehealth_allowed_unsafe_sysctl and nodehealth_kubelet_fail_cgroup_v1",
          "[features][kubelet][metrics]") {
  FeatureReport r;
  r.kubelet.found = true;
  r.kubelet.fail_cgroup_v1 = true;
  UnsafeSysctlCheck a;
  a.pattern = "net.core.*";
  a.accepted = true;
  a.verdict = UnsafeSysctlVerdict::kPartial;
  r.unsafe_sysctls = {a, a, check_unsafe_sysctl("kernel.hostname")};  // listed twice: one series
  std::set<std::pair<std::string, std::string>> series;
  double fail_v1 = -1;
  for (const auto& f : feature_metrics(r)) {
    if (f.name == "nodehealth_allowed_unsafe_sysctl") {
      for (const auto& m : f.metric) {
        std::map<std::string, std::string> l;
        for (const auto& lab : m.label) l[lab.name] = lab.value;
        CHECK(m.gauge.value == 1);
        CHECK(series.insert({l["sysctl"], l["verdict"]}).second);
      }
    }
    if (f.name == "nodehealth_kubelet_fail_cgroup_v1") fail_v1 = f.metric.at(0).gauge.value;
  }
  CHECK(series == std::set<std::pair<std::string, std::string>>{{"net.core.*", "partial"},
                                                                {"kernel.hostname", "rejected"}});
  CHECK(fail_v1 == 1);

  FeatureReport none;  // no kubelet configuration: neither family
  for (const auto& f : feature_metrics(none)) {
    CHECK(f.name != "nodehealth_allowed_unsafe_sysctl");
    CHECK(f.name != "nodehealth_kubelet_fail_cgroup_v1");
  }
}

TEST_CASE(
    "features source: the kubelet's files through kubelet.configFile, re-read every "
    "10 minutes",
    "[features][kubelet][sources]") {
  TempDir t;
  write_tree(t);
  t.write("proc/sys/kernel/osrelease", "6.1.0-13-amd64\n");
  t.write("etc/kubelet.yaml",
          std::string(kKubeletHead) + "allowedUnsafeSysctls: [net.core.somaxconn]\n");
  config::Config cfg;
  cfg.kubelet_config_explicit = true;
  cfg.kubelet_config_file = "/etc/kubelet.yaml";  // a host path, under the tree's root
  auto source = sources::make_features_source(cfg, HostPaths::under(t.path()));
  const TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  Sample s;
  s.taken_at = t0;
  REQUIRE(source->collect(s));
  REQUIRE(s.features);
  CHECK(s.features->kubelet.origin == t / "etc/kubelet.yaml");
  CHECK(s.features->kubelet.fail_cgroup_v1 == true);
  REQUIRE(s.features->unsafe_sysctls.size() == 1);
  // The tree is no running kernel: present on the host, not checked in a namespace.
  CHECK(s.features->unsafe_sysctls[0].verdict == UnsafeSysctlVerdict::kUnknown);

  t.write("etc/kubelet.yaml", std::string(kKubeletHead) +
                                  "failCgroupV1: false\nallowedUnsafeSysctls: [kernel.hostname]\n");
  Sample soon;
  soon.taken_at = t0 + std::chrono::minutes(1);  // between probes: the same report
  REQUIRE(source->collect(soon));
  CHECK(soon.features == s.features);
  Sample later;
  later.taken_at = t0 + std::chrono::minutes(10);
  REQUIRE(source->collect(later));
  CHECK(later.features->kubelet.fail_cgroup_v1 == false);
  REQUIRE(later.features->unsafe_sysctls.size() == 1);
  CHECK(later.features->unsafe_sysctls[0].verdict == UnsafeSysctlVerdict::kRejected);
}
