// `nodehealth features` as a command: flags, --help, -o table|json, --require and exit codes
// 0/1/2, on the fixture trees (live probes off).
#include <catch2/catch.hpp>

#include "tests/unit/run_command.h"
#include "tests/unit/temp_dir.h"

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/commands/features.h"

namespace {

using nodehealth::testing::Run;

// `nodehealth features <args...>`: exit code, stdout, stderr.
Run run(std::vector<std::string> args) {
  return nodehealth::testing::run_command(
      [](int argc, char** argv, std::FILE* out, std::FILE* err) {
        return nodehealth::commands::features(argc, argv, out, err);
      },
      "features", std::move(args));
}

std::string fixture(const char* name) {
  return std::string(NODEHEALTH_FIXTURES) + "/features/" + name;
}

}  // namespace

TEST_CASE("features command: --help and usage errors exit 2", "[features][command]") {
  auto help = run({"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.starts_with("Usage: nodehealth features"));
  CHECK(run({"--bogus"}).code == 2);
  CHECK(run({"-o", "yaml"}).code == 2);
  CHECK(run({"--host-root"}).code == 2);
  CHECK(run({"stray"}).code == 2);
  CHECK(run({"--live-probes", "sometimes"}).code == 2);
  auto unknown = run({"--require", "psi,warp_drive"});
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("\"warp_drive\"") != std::string::npos);
  auto noroot = run({"--host-root", "/nonexistent-nodehealth-root"});
  CHECK(noroot.code == 2);
  CHECK(noroot.err.find("/nonexistent-nodehealth-root/proc") != std::string::npos);
}

TEST_CASE("features command: table on a fixture", "[features][command]") {
  auto r = run({"--host-root", fixture("el8-4.18"), "--live-probes", "off"});
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("4.18.0-513.el8.x86_64") != std::string::npos);
  CHECK(r.out.find("\nFeatures\n") != std::string::npos);
  CHECK(r.out.find("\nSafe sysctls\n") != std::string::npos);
  CHECK(r.out.find("\nDevice plugins\n") != std::string::npos);
}

TEST_CASE("features command: JSON, --require and exit code 1", "[features][command]") {
  auto ok = run({"--host-root=" + fixture("ubuntu-5.15"), "--live-probes=off", "-o", "json",
                 "--require", "cgroup_v2,memory_qos,net.ipv4.tcp_rmem"});
  CHECK(ok.code == 0);
  auto j = nlohmann::json::parse(ok.out);
  CHECK(j["cgroupLayout"] == "unified");
  CHECK(j["missing"].empty());

  auto bad = run({"--host-root", fixture("el8-4.18"), "--live-probes", "off", "-o", "json",
                  "--require", "psi,cgroup_v2,tmpfs_noswap"});
  CHECK(bad.code == 1);
  auto jb = nlohmann::json::parse(bad.out);
  CHECK(jb["missing"] == nlohmann::json::array({"cgroup_v2", "tmpfs_noswap"}));
  CHECK(bad.err == "nodehealth: required features missing: cgroup_v2, tmpfs_noswap\n");
}

TEST_CASE("features command: --allowed-unsafe-sysctls and --proc-root/--sys-root",
          "[features][command]") {
  auto r = run({"--proc-root", fixture("ubuntu-5.15") + "/proc", "--sys-root",
                fixture("ubuntu-5.15") + "/sys", "--live-probes", "off", "--allowed-unsafe-sysctls",
                "net.core.somaxconn, kernel.hostname", "-o", "json"});
  CHECK(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["kernel"]["release"] == "5.15.0-1049-azure");
  REQUIRE(j["allowedUnsafeSysctls"].size() == 2);
  CHECK(j["allowedUnsafeSysctls"][0]["accepted"] == true);
  CHECK(j["allowedUnsafeSysctls"][1]["reason"] ==
        "the sysctls \"kernel.hostname\" are not known to be namespaced");
  // The host root stays "/": no device plugin directory of the fixture is read.
  CHECK(j["cgroupLayout"] == "unified");
}

TEST_CASE("features command: the kubelet's configuration, named or through the agent's",
          "[features][command][kubelet]") {
  const std::string kubelet = std::string(NODEHEALTH_FIXTURES) + "/kubelet/unsafe-sysctls";
  // Host paths, as the agent's kubelet.configFile: under --host-root, which holds no kubelet
  // files here, so a file named there is missing: exit 2, the mapped path named.
  auto r = run({"--host-root", fixture("el8-4.18"), "--live-probes", "off", "--kubelet-config",
                kubelet + "/config.yaml"});
  CHECK(r.code == 2);
  CHECK(r.err.find(fixture("el8-4.18") + kubelet + "/config.yaml") != std::string::npos);

  // With the host root "/" (and the fixture's /proc through --proc-root), the same files load.
  r = run({"--proc-root", fixture("el8-4.18") + "/proc", "--sys-root", fixture("el8-4.18") + "/sys",
           "--live-probes", "off", "-o", "json", "--kubelet-config", kubelet + "/config.yaml",
           "--kubelet-config-dir", kubelet + "/conf.d"});
  CHECK(r.code == 0);  // kubelet problems are reported; the exit code is --require's
  CHECK(r.err.empty());
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["kubelet"]["error"] == "");
  CHECK(j["kubelet"]["failCgroupV1"] == true);
  CHECK(j["allowedUnsafeSysctls"].size() == 9);
  CHECK(j["allowedUnsafeSysctls"][6]["pattern"] == "kernel.hostname");
  CHECK(j["allowedUnsafeSysctls"][6]["verdict"] == "rejected");

  // A kubelet file named on the command line that cannot be read: exit 2.
  auto bad = run({"--live-probes", "off", "--kubelet-config", kubelet + "/nope.yaml"});
  CHECK(bad.code == 2);
  CHECK(bad.err.find("nope.yaml") != std::string::npos);

  // Through the agent's configuration: kubelet.configFile, and its hostRoot-free paths.
  nodehealth::testing::TempDir t;
  const std::string cfg =
      t.write("agent.yaml",
              "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\nkubelet:\n"
              "  configFile: " +
                  kubelet + "/config.yaml\n");
  r = run({"--config", cfg, "--proc-root", fixture("el8-4.18") + "/proc", "--sys-root",
           fixture("el8-4.18") + "/sys", "--live-probes", "off", "-o", "json"});
  CHECK(r.code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["kubelet"]["files"] == kubelet + "/config.yaml");
  CHECK(j["allowedUnsafeSysctls"].size() == 1);  // the main file's list alone
  CHECK(j["allowedUnsafeSysctls"][0]["pattern"] == "kernel.msg*");
  // --allowed-unsafe-sysctls replaces the kubelet's list.
  r = run({"--config", cfg, "--proc-root", fixture("el8-4.18") + "/proc", "--live-probes", "off",
           "-o", "json", "--allowed-unsafe-sysctls", "net.core.somaxconn,user.*"});
  j = nlohmann::json::parse(r.out);
  CHECK(j["kubelet"]["allowedUnsafeSysctlsOrigin"] == "--allowed-unsafe-sysctls");
  CHECK(j["allowedUnsafeSysctls"].size() == 2);
  auto badcfg = run({"--config", t / "missing.yaml"});
  CHECK(badcfg.code == 2);
}
