// Tests for agent/thresholds.h: where the eviction thresholds come from (the kubelet's files,
// named or found at the kubeadm default paths, else the agent's configuration) and how they
// follow the files: an edit, a kubelet installed after the agent started, one removed.
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>

#include "agent/config/config.h"
#include "agent/thresholds.h"
#include "nodehealth/host_paths.h"
#include "tests/unit/temp_dir.h"

namespace nc = nodehealth::config;
using nodehealth::HostPaths;
using nodehealth::Thresholds;
using nodehealth::testing::TempDir;

namespace {

constexpr std::string_view kSources[] = {"procfs", "cgroup", "statfs", "psi", "netlink"};
const std::string kAgentHeader =
    "apiVersion: nodehealth.io/v1alpha1\n"
    "kind: AgentConfiguration\n";
const std::string kKubeletHeader =
    "apiVersion: kubelet.config.k8s.io/v1beta1\n"
    "kind: KubeletConfiguration\n";

nc::Config agent_config(const TempDir& t, const std::string& body) {
  auto c = nc::load_config(t.write("agent.yaml", kAgentHeader + body), std::nullopt, kSources);
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.has_value());
  return *c;
}

std::string hard(const Thresholds& t, const std::string& signal) {
  auto it = t.settings().text.find("hard/" + signal);
  return it == t.settings().text.end() ? "(none)" : it->second;
}

}  // namespace

TEST_CASE("thresholds: the kubelet's file at the default path is used when the agent sets none",
          "[thresholds]") {
  TempDir host, work;
  host.write("var/lib/kubelet/config.yaml",
             kKubeletHeader + "evictionHard:\n  memory.available: 300Mi\n");
  auto t = Thresholds::load(agent_config(work, ""), HostPaths::under(host / ""));
  REQUIRE(t.has_value());
  CHECK(t->origin() == "kubelet config " + (host / "var/lib/kubelet/config.yaml"));
  CHECK(hard(*t, "memory.available") == "300Mi");
  // A partial evictionHard disables the other defaults (facts §1).
  CHECK(hard(*t, "nodefs.available") == "(none)");
}

TEST_CASE(
    "thresholds: the agent's own eviction settings are the fallback while a kubelet file "
    "exists at the default paths",
    "[thresholds]") {
  TempDir host, work;
  host.write("var/lib/kubelet/config.yaml",
             kKubeletHeader + "evictionHard:\n  memory.available: 300Mi\n");
  auto t = Thresholds::load(agent_config(work, "evictionHard:\n  memory.available: 1Gi\n"),
                            HostPaths::under(host / ""));
  REQUIRE(t.has_value());
  CHECK(t->origin() == "kubelet config " + (host / "var/lib/kubelet/config.yaml"));
  CHECK(hard(*t, "memory.available") == "300Mi");
  // The kubelet removed: the agent's own set (1Gi), not the kubelet's defaults.
  REQUIRE(t->watch().has_value());
  std::filesystem::remove_all(host / "var/lib/kubelet");
  CHECK(t->notice());
  CHECK(t->reload());
  CHECK(t->origin() == "agent config");
  CHECK(hard(*t, "memory.available") == "1Gi");
}

TEST_CASE(
    "thresholds: a kubelet installed after the agent started is picked up, and one "
    "removed hands the thresholds back to the agent's config",
    "[thresholds]") {
  TempDir host, work;
  auto t = Thresholds::load(agent_config(work, ""), HostPaths::under(host / ""));
  REQUIRE(t.has_value());
  CHECK(t->origin() == "agent config");
  CHECK(hard(*t, "memory.available") == "100Mi");  // the kubelet's default (facts §1)
  REQUIRE(t->watch().has_value());
  REQUIRE(t->fd() >= 0);
  CHECK_FALSE(t->notice());  // nothing happened yet

  // kubeadm writes /var/lib/kubelet/config.yaml: the watch of the nearest existing ancestor
  // notices the new directory, then the file in it.
  host.write("var/lib/kubelet/config.yaml",
             kKubeletHeader + "evictionHard:\n  memory.available: 300Mi\n");
  CHECK(t->notice());
  CHECK(t->reload());
  CHECK(t->origin() == "kubelet config " + (host / "var/lib/kubelet/config.yaml"));
  CHECK(hard(*t, "memory.available") == "300Mi");

  // A drop-in directory created later joins too.
  host.write("etc/kubernetes/kubelet.conf.d/10-mem.conf",
             kKubeletHeader + "evictionHard:\n  memory.available: 500Mi\n");
  CHECK(t->notice());
  CHECK(t->reload());
  CHECK(t->origin() == "kubelet config " + (host / "var/lib/kubelet/config.yaml") + " + " +
                           (host / "etc/kubernetes/kubelet.conf.d"));
  CHECK(hard(*t, "memory.available") == "500Mi");

  // An invalid edit keeps the previous thresholds.
  host.write("etc/kubernetes/kubelet.conf.d/10-mem.conf", "");
  CHECK(t->notice());
  CHECK_FALSE(t->reload());
  CHECK(hard(*t, "memory.available") == "500Mi");

  // The kubelet removed: the agent's own thresholds again.
  std::filesystem::remove_all(host / "etc/kubernetes");
  std::filesystem::remove_all(host / "var/lib/kubelet");
  CHECK(t->notice());
  CHECK(t->reload());
  CHECK(t->origin() == "agent config");
  CHECK(hard(*t, "memory.available") == "100Mi");
}

TEST_CASE("thresholds: an explicitly named kubelet file is used and watched as named",
          "[thresholds]") {
  TempDir host, work;
  const std::string file = host.write("etc/kubelet/config.yaml",
                                      kKubeletHeader + "evictionHard:\n  memory.available: 2Gi\n");
  // A kubeadm default beside it is not looked at.
  host.write("var/lib/kubelet/config.yaml",
             kKubeletHeader + "evictionHard:\n  memory.available: 300Mi\n");
  auto t =
      Thresholds::load(agent_config(work, "kubelet:\n  configFile: /etc/kubelet/config.yaml\n"),
                       HostPaths::under(host / ""));
  REQUIRE(t.has_value());
  CHECK(t->origin() == "kubelet config " + file);
  CHECK(hard(*t, "memory.available") == "2Gi");
  REQUIRE(t->watch().has_value());
  host.write("etc/kubelet/config.yaml",
             kKubeletHeader + "evictionHard:\n  memory.available: 3Gi\n");
  CHECK(t->notice());
  CHECK(t->reload());
  CHECK(hard(*t, "memory.available") == "3Gi");
}
