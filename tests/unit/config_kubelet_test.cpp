// Tests for agent/config/kubelet_defaults.h and `nodehealth kubelet-config`
// (agent/commands/kubelet_config.h): the kubelet's files merged as the kubelet merges them
// (facts §4), the kubelet's defaults applied after the merge (SetDefaults_KubeletConfiguration,
// Kubernetes 1.35), the three examples of kubernetes-node-reference.txt ("Kubelet Configuration
// Directory Merging") end to end through the command, the fixtures under
// tests/fixtures/kubelet/, and the agent configuration's kubelet.* keys.
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/unit/run_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>
#include "tests/unit/temp_dir.h"

#include "agent/commands/kubelet_config.h"
#include "agent/config/config.h"
#include "agent/config/kubelet_defaults.h"

namespace nc = nodehealth::config;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kFixtures = std::string(NODEHEALTH_FIXTURES) + "/kubelet";

const std::string kHeader =
    "apiVersion: kubelet.config.k8s.io/v1beta1\n"
    "kind: KubeletConfiguration\n";

using nodehealth::testing::TempDir;

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json yaml(const std::string& text) {
  auto doc = nc::parse_yaml(text, "expected.yaml");
  INFO((doc ? std::string() : doc.error().message));
  REQUIRE(doc.has_value());
  return doc->value;
}

json defaults_of(const std::string& text) { return nc::apply_kubelet_defaults(yaml(text)); }

using nodehealth::testing::Run;

// `nodehealth kubelet-config <args...>`: exit code, stdout, stderr.
Run run(std::vector<std::string> args) {
  return nodehealth::testing::run_command(
      [](int argc, char** argv, std::FILE* out, std::FILE* err) {
        return nodehealth::commands::kubelet_config(argc, argv, out, err);
      },
      "kubelet-config", std::move(args));
}

// The effective configuration of the reference's example 1, exactly as the command prints it:
// the merged values, every SetDefaults_KubeletConfiguration default, durations as Go prints them.
const std::string kExample1 = R"(address: 192.168.0.8
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 2m0s
    enabled: true
  x509: {}
authorization:
  mode: AlwaysAllow
  webhook:
    cacheAuthorizedTTL: 8m0s
    cacheUnauthorizedTTL: 45s
cgroupDriver: cgroupfs
cgroupsPerQOS: true
configMapAndSecretChangeDetectionStrategy: Watch
containerLogMaxFiles: 5
containerLogMaxSize: 10Mi
containerLogMaxWorkers: 1
containerLogMonitorInterval: 10s
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
contentType: application/vnd.kubernetes.protobuf
cpuCFSQuota: true
cpuCFSQuotaPeriod: 100ms
cpuManagerPolicy: none
cpuManagerReconcilePeriod: 10s
crashLoopBackOff:
  maxContainerRestartPeriod: 5m0s
enableControllerAttachDetach: true
enableDebugFlagsHandler: true
enableDebuggingHandlers: true
enableProfilingHandler: true
enableServer: true
enableSystemLogHandler: true
enforceNodeAllocatable:
  - pods
eventBurst: 100
eventRecordQPS: 50
evictionHard:
  imagefs.available: 15%
  imagefs.inodesFree: 5%
  memory.available: 100Mi
  nodefs.available: 10%
  nodefs.inodesFree: 5%
evictionPressureTransitionPeriod: 5m0s
failCgroupV1: true
failSwapOn: true
fileCheckFrequency: 20s
hairpinMode: promiscuous-bridge
healthzBindAddress: 127.0.0.1
healthzPort: 10248
httpCheckFrequency: 20s
imageGCHighThresholdPercent: 85
imageGCLowThresholdPercent: 80
imageMaximumGCAge: 0s
imageMinimumGCAge: 2m0s
imagePullCredentialsVerificationPolicy: NeverVerifyPreloadedImages
iptablesDropBit: 15
iptablesMasqueradeBit: 14
kind: KubeletConfiguration
kubeAPIBurst: 100
kubeAPIQPS: 50
localStorageCapacityIsolation: true
logging:
  flushFrequency: 5s
  format: text
  options:
    json:
      infoBufferSize: "0"
    text:
      infoBufferSize: "0"
  verbosity: 0
makeIPTablesUtilChains: true
maxOpenFiles: 1000000
maxPods: 110
memoryManagerPolicy: None
memorySwap: {}
memoryThrottlingFactor: 0.9
mergeDefaultEvictionSettings: false
nodeLeaseDurationSeconds: 40
nodeStatusMaxImages: 50
nodeStatusReportFrequency: 5m0s
nodeStatusUpdateFrequency: 10s
oomScoreAdj: -999
podLogsDir: /var/log/pods
podPidsLimit: -1
port: 20250
registerNode: true
registryBurst: 10
registryPullQPS: 5
resolvConf: /etc/resolv.conf
runtimeRequestTimeout: 2m0s
seccompDefault: false
serializeImagePulls: false
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
streamingConnectionIdleTimeout: 4h0m0s
syncFrequency: 1m0s
topologyManagerPolicy: none
topologyManagerScope: container
volumePluginDir: /usr/libexec/kubernetes/kubelet-plugins/volume/exec/
volumeStatsAggPeriod: 1m0s
)";

}  // namespace

// ---------------------------------------------------------------------------------------------
// The reference's three examples, end to end through the command

TEST_CASE("kubelet-config: reference example 1, structure fields, whole output",
          "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kHeader +
                                                       "port: 20250\n"
                                                       "authorization:\n"
                                                       "  mode: Webhook\n"
                                                       "  webhook:\n"
                                                       "    cacheAuthorizedTTL: \"5m\"\n"
                                                       "    cacheUnauthorizedTTL: \"30s\"\n"
                                                       "serializeImagePulls: false\n"
                                                       "address: \"192.168.0.1\"\n");
  t.write("conf.d/10-auth.conf", kHeader +
                                     "authorization:\n"
                                     "  mode: AlwaysAllow\n"
                                     "  webhook:\n"
                                     "    cacheAuthorizedTTL: \"8m\"\n"
                                     "    cacheUnauthorizedTTL: \"45s\"\n"
                                     "address: \"192.168.0.8\"\n");
  const Run r = run({"--config", main, "--config-dir", t / "conf.d"});
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out == kExample1);

  // The reference's "resulting configuration", with the defaults, is what -o json prints.
  const Run j = run({"--config", main, "--config-dir", t / "conf.d", "-o", "json"});
  REQUIRE(j.code == 0);
  CHECK(json::parse(j.out) == defaults_of(kHeader + "port: 20250\n"
                                                    "serializeImagePulls: false\n"
                                                    "authorization:\n"
                                                    "  mode: AlwaysAllow\n"
                                                    "  webhook:\n"
                                                    "    cacheAuthorizedTTL: \"8m\"\n"
                                                    "    cacheUnauthorizedTTL: \"45s\"\n"
                                                    "address: \"192.168.0.8\"\n"));
  CHECK(json::parse(j.out) == yaml(r.out));  // both outputs say the same
}

TEST_CASE("kubelet-config: reference example 2, lists are replaced whole", "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kHeader +
                                                       "port: 20250\n"
                                                       "serializeImagePulls: false\n"
                                                       "clusterDNS:\n"
                                                       "  - \"192.168.0.9\"\n"
                                                       "  - \"192.168.0.8\"\n");
  t.write("conf.d/20-dns.conf", kHeader +
                                    "clusterDNS:\n"
                                    "  - \"192.168.0.2\"\n"
                                    "  - \"192.168.0.3\"\n"
                                    "  - \"192.168.0.5\"\n");
  const Run r = run({"--config", main, "--config-dir", t / "conf.d", "-o", "json"});
  REQUIRE(r.code == 0);
  const json out = json::parse(r.out);
  CHECK(out == defaults_of(kHeader + "port: 20250\n"
                                     "serializeImagePulls: false\n"
                                     "clusterDNS:\n"
                                     "  - \"192.168.0.2\"\n"
                                     "  - \"192.168.0.3\"\n"
                                     "  - \"192.168.0.5\"\n"));
  CHECK(out["clusterDNS"] == json::parse(R"(["192.168.0.2","192.168.0.3","192.168.0.5"])"));
  CHECK(out["port"] == 20250);
  CHECK(out["serializeImagePulls"] == false);
  CHECK(out["syncFrequency"] == "1m0s");  // a default
  const Run y = run({"--config", main, "--config-dir", t / "conf.d"});
  REQUIRE(y.code == 0);
  CHECK_THAT(y.out, Catch::Contains("clusterDNS:\n  - 192.168.0.2\n  - 192.168.0.3\n"
                                    "  - 192.168.0.5\n"));
}

TEST_CASE(
    "kubelet-config: reference example 3, maps merged per key, map[string][]string lists "
    "replaced",
    "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kHeader +
                                                       "port: 20250\n"
                                                       "serializeImagePulls: false\n"
                                                       "featureGates:\n"
                                                       "  AllAlpha: false\n"
                                                       "  MemoryQoS: true\n"
                                                       "staticPodURLHeader:\n"
                                                       "  kubelet-api-support:\n"
                                                       "  - \"Authorization: 234APSDFA\"\n"
                                                       "  - \"X-Custom-Header: 123\"\n"
                                                       "  custom-static-pod:\n"
                                                       "  - \"Authorization: 223EWRWER\"\n"
                                                       "  - \"X-Custom-Header: 456\"\n");
  t.write("conf.d/30-gates.conf", kHeader +
                                      "featureGates:\n"
                                      "  MemoryQoS: false\n"
                                      "  KubeletTracing: true\n"
                                      "  DynamicResourceAllocation: true\n"
                                      "staticPodURLHeader:\n"
                                      "  custom-static-pod:\n"
                                      "  - \"Authorization: 223EWRWER\"\n"
                                      "  - \"X-Custom-Header: 345\"\n");
  const Run r = run({"--config", main, "--config-dir", t / "conf.d", "-o", "json"});
  REQUIRE(r.code == 0);
  const json out = json::parse(r.out);
  CHECK(out == defaults_of(kHeader + "port: 20250\n"
                                     "serializeImagePulls: false\n"
                                     "featureGates:\n"
                                     "  AllAlpha: false\n"
                                     "  MemoryQoS: false\n"
                                     "  KubeletTracing: true\n"
                                     "  DynamicResourceAllocation: true\n"
                                     "staticPodURLHeader:\n"
                                     "  kubelet-api-support:\n"
                                     "  - \"Authorization: 234APSDFA\"\n"
                                     "  - \"X-Custom-Header: 123\"\n"
                                     "  custom-static-pod:\n"
                                     "  - \"Authorization: 223EWRWER\"\n"
                                     "  - \"X-Custom-Header: 345\"\n"));
  CHECK(out["featureGates"] == json::parse(R"({"AllAlpha":false,"MemoryQoS":false,
      "KubeletTracing":true,"DynamicResourceAllocation":true})"));
  CHECK(out["staticPodURLHeader"]["custom-static-pod"] ==
        json::parse(R"(["Authorization: 223EWRWER","X-Custom-Header: 345"])"));
  const Run y = run({"--config", main, "--config-dir", t / "conf.d"});
  REQUIRE(y.code == 0);
  CHECK(yaml(y.out) == out);
  CHECK_THAT(y.out, Catch::Contains("  custom-static-pod:\n    - \"Authorization: 223EWRWER\"\n"));
}

// ---------------------------------------------------------------------------------------------
// Order, subdirectories, null, empty and invalid files (facts §4)

TEST_CASE("kubelet-config: drop-ins in bytewise order, subdirectories at their position",
          "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kHeader + "maxPods: 100\n");
  t.write("d/10.conf", kHeader + "maxPods: 10\nclusterDomain: from-10\n");
  t.write("d/9.conf", kHeader + "maxPods: 9\n");  // after 10.conf: '9' > '1'
  t.write("d/50-sub/00.conf", kHeader + "clusterDomain: from-sub\nmaxPods: 50\n");
  t.write("d/60.conf", kHeader + "clusterDomain: from-60\n");
  t.write("d/70.CONF", kHeader + "maxPods: 70\n");   // not ".conf": ignored
  t.write("d/80.conf~", kHeader + "maxPods: 80\n");  // not ".conf": ignored
  auto doc = nc::load_kubelet_config(main, t / "d");
  REQUIRE(doc.has_value());
  CHECK(doc->value["maxPods"] == 9);
  CHECK(doc->value["clusterDomain"] == "from-60");
  CHECK(doc->where("/maxPods").str() == (t / "d/9.conf") + ":3");
  // An empty directory changes nothing.
  t.mkdir("empty");
  auto alone = nc::load_kubelet_config(main, std::nullopt);
  auto with_empty = nc::load_kubelet_config(main, t / "empty");
  REQUIRE(alone.has_value());
  REQUIRE(with_empty.has_value());
  CHECK(alone->value == with_empty->value);
  CHECK(alone->value["maxPods"] == 100);
}

TEST_CASE("kubelet-config: null in a drop-in deletes a value, and the default comes back",
          "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kHeader +
                                                       "port: 20250\n"
                                                       "evictionHard:\n"
                                                       "  memory.available: 1Gi\n"
                                                       "  nodefs.available: 20%\n"
                                                       "featureGates:\n"
                                                       "  MemoryQoS: true\n");
  t.write("d/10.conf", kHeader +
                           "port: null\n"
                           "evictionHard:\n"
                           "  nodefs.available: ~\n"
                           "featureGates: null\n");
  const Run r = run({"--config", main, "--config-dir", t / "d", "-o", "json"});
  REQUIRE(r.code == 0);
  const json out = json::parse(r.out);
  CHECK(out["port"] == 10250);
  CHECK(out["evictionHard"] == json::parse(R"({"memory.available":"1Gi"})"));
  CHECK_FALSE(out.contains("featureGates"));

  // Deleting the whole evictionHard brings back the kubelet's defaults (facts §1).
  t.write("d/20.conf", kHeader + "evictionHard: null\n");
  auto doc = nc::load_kubelet_config(main, t / "d");
  REQUIRE(doc.has_value());
  CHECK(doc->value["evictionHard"] ==
        json::parse(R"({"memory.available":"100Mi","nodefs.available":"10%",
          "nodefs.inodesFree":"5%","imagefs.available":"15%","imagefs.inodesFree":"5%"})"));
}

TEST_CASE("kubelet-config: empty, missing and invalid files are errors, exit code 2",
          "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kHeader + "port: 20250\n");
  const std::string empty = t.write("d/10.conf", "");
  Run r = run({"--config", main, "--config-dir", t / "d"});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err == "nodehealth: invalid kubelet configuration: kubelet config file \"" + empty +
                     "\" was empty\n");

  // An empty main file too.
  const std::string empty_main = t.write("empty.yaml", "");
  r = run({"--config", empty_main});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: invalid kubelet configuration: kubelet config file \"" + empty_main +
                     "\" was empty\n");

  // A drop-in without kind.
  TempDir u;
  const std::string kindless =
      u.write("d/10.conf", "apiVersion: kubelet.config.k8s.io/v1beta1\nport: 1\n");
  r = run({"--config", main, "--config-dir", u / "d"});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: invalid kubelet configuration: kubelet config file \"" + kindless +
                     "\": Object 'Kind' is missing (want kind: KubeletConfiguration)\n");

  // The wrong kind, blamed on its line.
  TempDir v;
  const std::string wrong = v.write("d/10.conf",
                                    "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                    "kind: KubeProxyConfiguration\n");
  r = run({"--config", main, "--config-dir", v / "d"});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: invalid kubelet configuration: " + wrong +
                     ":2: unknown apiVersion/kind: kubelet.config.k8s.io/v1beta1, "
                     "Kind=KubeProxyConfiguration (want kubelet.config.k8s.io/v1beta1, "
                     "Kind=KubeletConfiguration)\n");

  // YAML that does not parse.
  TempDir w;
  const std::string broken = w.write("d/10.conf", kHeader + "port: [\n");
  r = run({"--config", main, "--config-dir", w / "d"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err,
             Catch::StartsWith("nodehealth: invalid kubelet configuration: " + broken + ":"));

  // Missing file and directory.
  r = run({"--config", t / "nope.yaml"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("No such file or directory"));
  r = run({"--config", main, "--config-dir", t / "nope.d"});
  CHECK(r.code == 2);
  CHECK(r.err ==
        "nodehealth: invalid kubelet configuration: failed to walk through kubelet "
        "dropin directory \"" +
            (t / "nope.d") + "\": lstat " + (t / "nope.d") + ": No such file or directory\n");
}

TEST_CASE("kubelet-config: the kubelet's eviction errors, every one, named by file and line",
          "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kHeader +
                                                       "syncFrequency: 5\n"
                                                       "evictionSoft:\n"
                                                       "  memory.available: 1Gi\n");
  const std::string dropin = t.write("d/10.conf", kHeader +
                                                      "evictionHard:\n"
                                                      "  memory.available: 0Mi\n"
                                                      "runtimeRequestTimeout: 2 minutes\n");
  const Run r = run({"--config", main, "--config-dir", t / "d"});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "nodehealth: invalid kubelet configuration:\n"
        "  " +
            main +
            ":3: syncFrequency: must be a duration string such as \"5m\" or "
            "\"30s\", got number 5\n"
            "  " +
            main +
            ":5: evictionSoft[memory.available]: grace period must be "
            "specified for the soft eviction threshold memory.available\n"
            "  " +
            dropin +
            ":4: evictionHard[memory.available]: eviction threshold "
            "memory.available must be positive: 0\n"
            "  " +
            dropin +
            ":5: runtimeRequestTimeout: time: unknown unit \" minutes\" "
            "in duration \"2 minutes\"\n");
}

// ---------------------------------------------------------------------------------------------
// Defaults (SetDefaults_KubeletConfiguration, Kubernetes 1.35), after the merge (facts §4)

TEST_CASE("apply_kubelet_defaults: an empty configuration gets every default",
          "[config][kubelet]") {
  const json d = nc::apply_kubelet_defaults(json::object());
  CHECK(d == yaml(R"(address: 0.0.0.0
authentication:
  anonymous: {enabled: false}
  webhook: {cacheTTL: 2m0s, enabled: true}
  x509: {}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 5m0s, cacheUnauthorizedTTL: 30s}
cgroupDriver: cgroupfs
cgroupsPerQOS: true
configMapAndSecretChangeDetectionStrategy: Watch
containerLogMaxFiles: 5
containerLogMaxSize: 10Mi
containerLogMaxWorkers: 1
containerLogMonitorInterval: 10s
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
contentType: application/vnd.kubernetes.protobuf
cpuCFSQuota: true
cpuCFSQuotaPeriod: 100ms
cpuManagerPolicy: none
cpuManagerReconcilePeriod: 10s
crashLoopBackOff: {maxContainerRestartPeriod: 5m0s}
enableControllerAttachDetach: true
enableDebugFlagsHandler: true
enableDebuggingHandlers: true
enableProfilingHandler: true
enableServer: true
enableSystemLogHandler: true
enforceNodeAllocatable: [pods]
eventBurst: 100
eventRecordQPS: 50
evictionHard:
  imagefs.available: 15%
  imagefs.inodesFree: 5%
  memory.available: 100Mi
  nodefs.available: 10%
  nodefs.inodesFree: 5%
evictionPressureTransitionPeriod: 5m0s
failCgroupV1: true
failSwapOn: true
fileCheckFrequency: 20s
hairpinMode: promiscuous-bridge
healthzBindAddress: 127.0.0.1
healthzPort: 10248
httpCheckFrequency: 20s
imageGCHighThresholdPercent: 85
imageGCLowThresholdPercent: 80
imageMaximumGCAge: 0s
imageMinimumGCAge: 2m0s
imagePullCredentialsVerificationPolicy: NeverVerifyPreloadedImages
iptablesDropBit: 15
iptablesMasqueradeBit: 14
kubeAPIBurst: 100
kubeAPIQPS: 50
localStorageCapacityIsolation: true
logging:
  flushFrequency: 5s
  format: text
  options:
    json: {infoBufferSize: "0"}
    text: {infoBufferSize: "0"}
  verbosity: 0
makeIPTablesUtilChains: true
maxOpenFiles: 1000000
maxPods: 110
memoryManagerPolicy: None
memorySwap: {}
memoryThrottlingFactor: 0.9
mergeDefaultEvictionSettings: false
nodeLeaseDurationSeconds: 40
nodeStatusMaxImages: 50
nodeStatusReportFrequency: 5m0s
nodeStatusUpdateFrequency: 10s
oomScoreAdj: -999
podLogsDir: /var/log/pods
podPidsLimit: -1
port: 10250
registerNode: true
registryBurst: 10
registryPullQPS: 5
resolvConf: /etc/resolv.conf
runtimeRequestTimeout: 2m0s
seccompDefault: false
serializeImagePulls: true
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
streamingConnectionIdleTimeout: 4h0m0s
syncFrequency: 1m0s
topologyManagerPolicy: none
topologyManagerScope: container
volumePluginDir: /usr/libexec/kubernetes/kubelet-plugins/volume/exec/
volumeStatsAggPeriod: 1m0s
)"));
  // Idempotent.
  CHECK(nc::apply_kubelet_defaults(d) == d);
}

TEST_CASE(
    "apply_kubelet_defaults: an explicit zero of a plain field comes back as the default "
    "(facts §4); a pointer field keeps it",
    "[config][kubelet]") {
  const json d = defaults_of(
      "port: 0\n"
      "address: \"\"\n"
      "syncFrequency: 0s\n"
      "evictionPressureTransitionPeriod: \"0\"\n"
      "maxPods: 0\n"
      "cgroupDriver: \"\"\n"
      "containerRuntimeEndpoint: \"\"\n"
      // *T fields: an explicit zero is a value.
      "healthzPort: 0\n"
      "registryPullQPS: 0\n"
      "eventRecordQPS: 0\n"
      "imageGCHighThresholdPercent: 0\n"
      "resolvConf: \"\"\n"
      "cpuCFSQuotaPeriod: 0s\n"
      "enableServer: false\n"
      "failCgroupV1: false\n");
  CHECK(d["port"] == 10250);
  CHECK(d["address"] == "0.0.0.0");
  CHECK(d["syncFrequency"] == "1m0s");
  CHECK(d["evictionPressureTransitionPeriod"] == "5m0s");
  CHECK(d["maxPods"] == 110);
  CHECK(d["cgroupDriver"] == "cgroupfs");
  CHECK(d["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock");
  CHECK(d["healthzPort"] == 0);
  CHECK(d["registryPullQPS"] == 0);
  CHECK(d["eventRecordQPS"] == 0);
  CHECK(d["imageGCHighThresholdPercent"] == 0);
  CHECK(d["resolvConf"] == "");
  CHECK(d["cpuCFSQuotaPeriod"] == "0s");
  CHECK(d["enableServer"] == false);
  CHECK(d["failCgroupV1"] == false);
}

TEST_CASE("apply_kubelet_defaults: the defaults that depend on other fields", "[config][kubelet]") {
  // nodeStatusReportFrequency follows an explicit nodeStatusUpdateFrequency.
  CHECK(defaults_of("nodeStatusUpdateFrequency: 20s\n")["nodeStatusReportFrequency"] == "20s");
  CHECK(defaults_of("nodeStatusUpdateFrequency: 0s\n")["nodeStatusReportFrequency"] == "5m0s");
  CHECK(defaults_of("nodeStatusReportFrequency: 1m\n")["nodeStatusReportFrequency"] == "1m0s");
  // serializeImagePulls is false when maxParallelImagePulls allows parallel pulls.
  CHECK(defaults_of("maxParallelImagePulls: 5\n")["serializeImagePulls"] == false);
  CHECK(defaults_of("maxParallelImagePulls: 1\n")["serializeImagePulls"] == true);
  CHECK(defaults_of("serializeImagePulls: false\n")["serializeImagePulls"] == false);
  // podPidsLimit: nil or negative -> -1.
  CHECK(defaults_of("podPidsLimit: -5\n")["podPidsLimit"] == -1);
  CHECK(defaults_of("podPidsLimit: 4096\n")["podPidsLimit"] == 4096);
  CHECK(defaults_of("podPidsLimit: 0\n")["podPidsLimit"] == 0);
  // An explicit empty enforceNodeAllocatable stays empty (only nil is defaulted).
  CHECK(defaults_of("enforceNodeAllocatable: []\n")["enforceNodeAllocatable"] == json::array());
}

TEST_CASE(
    "apply_kubelet_defaults: evictionHard, the kubelet's defaults and "
    "mergeDefaultEvictionSettings (facts §1)",
    "[config][kubelet]") {
  CHECK(defaults_of("evictionHard:\n  memory.available: 1Gi\n")["evictionHard"] ==
        json::parse(R"({"memory.available":"1Gi"})"));
  CHECK(defaults_of("evictionHard: {}\n")["evictionHard"] == json::object());
  CHECK(defaults_of("mergeDefaultEvictionSettings: true\nevictionHard:\n"
                    "  memory.available: 1Gi\n  nodefs.available: 0%\n")["evictionHard"] ==
        json::parse(R"({"memory.available":"1Gi","nodefs.available":"0%",
          "nodefs.inodesFree":"5%","imagefs.available":"15%","imagefs.inodesFree":"5%"})"));
}

TEST_CASE("apply_kubelet_defaults: feature-gated defaults follow featureGates",
          "[config][kubelet]") {
  json off = defaults_of("featureGates:\n  KubeletCrashLoopBackOffMax: false\n");
  CHECK(off["crashLoopBackOff"] == json::object());
  CHECK(off["imagePullCredentialsVerificationPolicy"] == "NeverVerifyPreloadedImages");
  off = defaults_of("featureGates:\n  AllBeta: false\n");
  CHECK(off["crashLoopBackOff"] == json::object());
  CHECK_FALSE(off.contains("imagePullCredentialsVerificationPolicy"));
  // A gate named explicitly beats AllBeta.
  const json on =
      defaults_of("featureGates:\n  AllBeta: false\n  KubeletCrashLoopBackOffMax: true\n");
  CHECK(on["crashLoopBackOff"]["maxContainerRestartPeriod"] == "5m0s");
  CHECK(nc::kubelet_feature_enabled(json::object(), "KubeletEnsureSecretPulledImages"));
  CHECK_FALSE(nc::kubelet_feature_enabled(json::object(), "SomethingUnknown"));
  // An explicit value is kept.
  CHECK(defaults_of(
            "crashLoopBackOff:\n  maxContainerRestartPeriod: 30s\n")["crashLoopBackOff"]
                                                                    ["maxContainerRestartPeriod"] ==
        "30s");
}

TEST_CASE("apply_kubelet_defaults: durations as Go prints them; other values untouched",
          "[config][kubelet]") {
  const json d = defaults_of(
      "syncFrequency: 90s\n"
      "imageMinimumGCAge: 1h\n"
      "runtimeRequestTimeout: 1.5m\n"
      "shutdownGracePeriod: 30s\n"
      "logging:\n  flushFrequency: 2500ms\n"
      "evictionSoftGracePeriod:\n  memory.available: 90s\n"  // map[string]string: as written
      "fileCheckFrequency: soon\n"                           // does not parse: left for the check
      "port: \"10250\"\n");                                  // wrong type: left for the decoder
  CHECK(d["syncFrequency"] == "1m30s");
  CHECK(d["imageMinimumGCAge"] == "1h0m0s");
  CHECK(d["runtimeRequestTimeout"] == "1m30s");
  CHECK(d["shutdownGracePeriod"] == "30s");
  CHECK(d["logging"]["flushFrequency"] == "2.5s");
  CHECK(d["evictionSoftGracePeriod"]["memory.available"] == "90s");
  CHECK(d["fileCheckFrequency"] == "soon");
  CHECK(d["port"] == "10250");
  // logging.flushFrequency also takes nanoseconds; zero is the default.
  CHECK(defaults_of("logging:\n  flushFrequency: 1000000000\n")["logging"]["flushFrequency"] ==
        1000000000);
  CHECK(defaults_of("logging:\n  flushFrequency: 0\n")["logging"]["flushFrequency"] == "5s");
  CHECK(defaults_of("logging:\n  format: json\n")["logging"]["format"] == "json");
}

TEST_CASE(
    "load_kubelet_config: relative paths in the main file are resolved against its "
    "directory (configfiles.go)",
    "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("etc/kubelet.yaml", kHeader +
                                                           "staticPodPath: manifests\n"
                                                           "tlsCertFile: ../pki/kubelet.crt\n"
                                                           "tlsPrivateKeyFile: /abs/kubelet.key\n"
                                                           "resolvConf: \"\"\n"
                                                           "authentication:\n"
                                                           "  x509:\n"
                                                           "    clientCAFile: ./ca.crt\n");
  auto doc = nc::load_kubelet_config(main, std::nullopt);
  REQUIRE(doc.has_value());
  CHECK(doc->value["staticPodPath"] == t / "etc/manifests");
  CHECK(doc->value["tlsCertFile"] == t / "pki/kubelet.crt");
  CHECK(doc->value["tlsPrivateKeyFile"] == "/abs/kubelet.key");
  CHECK(doc->value["resolvConf"] == "");  // "no path" is a valid input
  CHECK(doc->value["authentication"]["x509"]["clientCAFile"] == t / "etc/ca.crt");
}

TEST_CASE(
    "load_kubelet_config: --config-dir alone starts from the kubelet's command-line "
    "baseline (options.go applyLegacyDefaults)",
    "[config][kubelet]") {
  TempDir t;
  t.write("d/10.conf", kHeader + "maxPods: 50\n");
  auto doc = nc::load_kubelet_config(std::nullopt, t / "d");
  REQUIRE(doc.has_value());
  CHECK(doc->value["maxPods"] == 50);
  CHECK(doc->value["authentication"]["anonymous"]["enabled"] == true);
  CHECK(doc->value["authentication"]["webhook"]["enabled"] == false);
  CHECK(doc->value["authorization"]["mode"] == "AlwaysAllow");
  CHECK(doc->value["readOnlyPort"] == 10255);
  CHECK(doc->value["port"] == 10250);  // and then the defaults
  CHECK(doc->value["kind"] == "KubeletConfiguration");
}

// ---------------------------------------------------------------------------------------------
// The command line

TEST_CASE("kubelet-config: flags, help and usage errors", "[config][kubelet]") {
  Run r = run({"--help"});
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("Usage: nodehealth kubelet-config --config FILE"));
  for (const char* flag :
       {"--config FILE", "--config-dir DIR", "-o, --output FORMAT", "-h, --help"})
    CHECK_THAT(r.out, Catch::Contains(flag));
  CHECK(run({"-h"}).out == r.out);

  r = run({});
  CHECK(r.code == 2);
  CHECK(r.err ==
        "nodehealth: kubelet-config needs --config FILE, --config-dir DIR or both (see "
        "--help)\n");
  r = run({"--config", "/x", "-o", "table"});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: -o: want yaml or json, got \"table\"\n");
  r = run({"--config"});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: flag --config needs a value\n");
  r = run({"--kubeconfig", "x"});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: unknown flag --kubeconfig (see --help)\n");
  r = run({"config.yaml"});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: unexpected argument \"config.yaml\"\n");
  CHECK(r.out.empty());
}

TEST_CASE("kubelet-config: --flag=value and yaml/json agree", "[config][kubelet]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kHeader + "maxPods: 42\n");
  const Run y = run({"--config=" + main});
  const Run j = run({"--config=" + main, "--output=json"});
  REQUIRE(y.code == 0);
  REQUIRE(j.code == 0);
  CHECK(yaml(y.out) == json::parse(j.out));
  CHECK(json::parse(j.out)["maxPods"] == 42);
}

TEST_CASE("to_yaml: sorted keys, strings quoted where YAML would read something else",
          "[config][kubelet]") {
  const json v = json::parse(R"({
    "b": "true", "a": "0", "c": "", "d": "0.0.0.0", "e": "10%", "f": "1e3", "g": "yes",
    "h": 0.9, "i": {}, "j": [], "k": [1, "2", {"x": null}], "l": "0x1F", "m": "12:30",
    "n": "~", "o": "-1", "p": "100Mi", "q": "5m0s", "r": ".inf", "s": "a: b", "t": false,
    "u": -999, "v": "NULL", "w": "1_000", "x": "0o17", "y": ".5", "z": "on"
  })");
  CHECK(nodehealth::commands::to_yaml(v) == R"(a: "0"
b: "true"
c: ""
d: 0.0.0.0
e: 10%
f: "1e3"
g: "yes"
h: 0.9
i: {}
j: []
k:
  - 1
  - "2"
  - x: ~
l: "0x1F"
m: "12:30"
"n": "~"
o: "-1"
p: 100Mi
q: 5m0s
r: ".inf"
s: "a: b"
t: false
u: -999
v: "NULL"
w: "1_000"
x: "0o17"
"y": ".5"
z: "on"
)");
  // Reads back as it was.
  CHECK(yaml(nodehealth::commands::to_yaml(v)) == v);
}

// ---------------------------------------------------------------------------------------------
// Fixtures: tests/fixtures/kubelet/<case>

TEST_CASE("kubelet-config: fixture kubeadm, the effective configuration", "[config][kubelet]") {
  const std::string dir = kFixtures + "/kubeadm";
  const Run y = run({"--config", dir + "/config.yaml", "--config-dir", dir + "/conf.d"});
  REQUIRE(y.code == 0);
  CHECK(y.out == read(dir + "/expected.yaml"));
  const Run j =
      run({"--config", dir + "/config.yaml", "--config-dir", dir + "/conf.d", "-o", "json"});
  REQUIRE(j.code == 0);
  CHECK(json::parse(j.out) == json::parse(read(dir + "/expected.json")));

  // kubeadm's explicit zeros came back as defaults.
  const json out = json::parse(j.out);
  CHECK(out["syncFrequency"] == "1m0s");
  CHECK(out["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock");
  CHECK(out["logging"]["flushFrequency"] == "5s");
  CHECK(out["cgroupDriver"] == "systemd");  // kubeadm's own value
  // The drop-ins: per-key evictionHard merge (the main file has none), lists replaced,
  // the subdirectory applied last, README and *.conf.bak ignored.
  CHECK(out["evictionPressureTransitionPeriod"] == "2m0s");
  CHECK(out["clusterDNS"] == json::parse(R"(["169.254.20.10","10.96.0.10"])"));
  CHECK(out["logging"]["verbosity"] == 2);
  CHECK(out["maxPods"] == 110);
  CHECK(out["crashLoopBackOff"] == json::object());  // its gate switched off in the subdirectory
}

TEST_CASE("load_kubelet_eviction: fixture kubeadm, the thresholds the kubelet uses",
          "[config][kubelet]") {
  const std::string dir = kFixtures + "/kubeadm";
  auto s = nc::load_kubelet_eviction(dir + "/config.yaml", dir + "/conf.d");
  INFO((s ? std::string() : s.error().message));
  REQUIRE(s.has_value());
  constexpr double kMi = 1024.0 * 1024;
  // mergeDefaultEvictionSettings: the two given, the three other defaults, and the copy.
  REQUIRE(s->hard.size() == 6);
  CHECK(s->hard.at("memory.available").quantity == 500 * kMi);
  CHECK(s->hard.at("allocatableMemory.available").quantity == 500 * kMi);
  CHECK(s->hard.at("imagefs.available").percentage == static_cast<double>(15.0f / 100.0f));
  CHECK(s->soft.at("memory.available").quantity == 1024 * kMi);
  CHECK(s->soft_grace_period.at("memory.available") == 90s);
  CHECK(s->soft_grace_period.at("nodefs.available") == 2min);
  CHECK(s->minimum_reclaim.at("memory.available").quantity == 256 * kMi);
  CHECK(s->minimum_reclaim.at("allocatableMemory.available").quantity == 256 * kMi);
  CHECK(s->minimum_reclaim.at("nodefs.available").quantity == 1024 * kMi);
  CHECK(s->pressure_transition_period == 2min);
  CHECK(s->kube_reserved_memory_bytes == 256 * kMi);
  CHECK(s->system_reserved_memory_bytes == 512 * kMi);
  CHECK(s->merge_default_eviction_settings);
}

TEST_CASE("kubelet-config: fixtures soft-without-grace and empty-drop-in are refused",
          "[config][kubelet]") {
  const std::string soft = kFixtures + "/soft-without-grace/config.yaml";
  Run r = run({"--config", soft});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: invalid kubelet configuration: " + soft +
                     ":5: evictionSoft[memory.available]: grace period must be specified for "
                     "the soft eviction threshold memory.available\n");
  auto s = nc::load_kubelet_eviction(soft, std::nullopt);
  REQUIRE_FALSE(s.has_value());

  const std::string dir = kFixtures + "/empty-drop-in";
  r = run({"--config", dir + "/config.yaml", "--config-dir", dir + "/conf.d"});
  CHECK(r.code == 2);
  CHECK(r.err == "nodehealth: invalid kubelet configuration: kubelet config file \"" + dir +
                     "/conf.d/10-empty.conf\" was empty\n");
}

// ---------------------------------------------------------------------------------------------
// The agent's configuration: kubelet.configFile, kubelet.configDir, kubelet_files()

namespace {

constexpr std::string_view kSources[] = {"procfs", "cgroup", "statfs", "psi", "netlink"};
const std::string kAgentHeader =
    "apiVersion: nodehealth.io/v1alpha1\n"
    "kind: AgentConfiguration\n";

nodehealth::Result<nc::Config> agent(const TempDir& t, const std::string& body) {
  return nc::load_config(t.write("agent.yaml", kAgentHeader + body), std::nullopt, kSources);
}

}  // namespace

TEST_CASE("agent config: kubelet.configFile and kubelet.configDir", "[config][kubelet]") {
  TempDir t;
  auto c = agent(t,
                 "kubelet:\n  configFile: /var/lib/kubelet/config.yaml\n"
                 "  configDir: /etc/kubernetes/kubelet.conf.d\n");
  REQUIRE(c.has_value());
  CHECK(c->kubelet_config_explicit);
  CHECK(c->kubelet_config_file == "/var/lib/kubelet/config.yaml");
  CHECK(c->kubelet_config_dir == "/etc/kubernetes/kubelet.conf.d");

  c = agent(t, "kubelet:\n  configDir: /etc/kubelet.d\n");
  REQUIRE(c.has_value());
  CHECK(c->kubelet_config_explicit);
  CHECK_FALSE(c->kubelet_config_file.has_value());

  c = agent(t, "kubelet: {}\n");
  REQUIRE(c.has_value());
  CHECK_FALSE(c->kubelet_config_explicit);

  const std::string path = t / "agent.yaml";
  c = agent(t, "kubelet:\n  configFile: config.yaml\n");
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        path + ":4: kubelet.configFile: must be an absolute path, got \"config.yaml\"");
  c = agent(t, "kubelet:\n  confDir: /etc/kubelet.d\n");
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        path + ":4: kubelet.confDir: unknown key, did you mean \"configDir\"?");
  c = agent(t, "kubelet: /var/lib/kubelet\n");
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        path + ":3: kubelet: must be a mapping, got string \"/var/lib/kubelet\"");
}

TEST_CASE("agent config: the kubelet's eviction fields under their own names",
          "[config][kubelet]") {
  TempDir t;
  auto c = agent(t,
                 "evictionHard:\n  memory.available: 1Gi\n"
                 "evictionSoft:\n  memory.available: 2Gi\n"
                 "evictionSoftGracePeriod:\n  memory.available: 1m\n"
                 "evictionMinimumReclaim:\n  memory.available: 100Mi\n"
                 "kubeReserved:\n  memory: 1Gi\n"
                 "systemReserved:\n  memory: 500Mi\n"
                 "enforceNodeAllocatable: [pods]\n");
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.has_value());
  CHECK(c->eviction.soft_grace_period.at("memory.available") == 1min);
  CHECK(c->eviction.hard.count("allocatableMemory.available") == 1);
  CHECK(c->eviction.kube_reserved_memory_bytes == 1024.0 * 1024 * 1024);
  // The same settings as the kubelet's files would give.
  auto from_doc = nc::eviction_settings(*nc::parse_yaml(read(t / "agent.yaml"), "x"));
  REQUIRE(from_doc.has_value());
  CHECK(c->eviction == *from_doc);

  // The kubelet's texts, with file and line.
  c = agent(t, "evictionSoft:\n  memory.available: 2Gi\n");
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message == (t / "agent.yaml") +
                                 ":4: evictionSoft[memory.available]: grace period must be "
                                 "specified for the soft eviction threshold memory.available");
}

TEST_CASE("agent config: eviction fields next to an explicit kubelet file are refused",
          "[config][kubelet]") {
  TempDir t;
  auto c = agent(t,
                 "kubelet:\n  configFile: /var/lib/kubelet/config.yaml\n"
                 "evictionHard:\n  memory.available: 1Gi\n");
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        (t / "agent.yaml") +
            ":5: evictionHard: set in the kubelet's configuration instead: kubelet.configFile or "
            "kubelet.configDir is set, and the kubelet's own value is read from there");
}

TEST_CASE("kubelet_files: explicit paths, else the defaults that exist, under the host root",
          "[config][kubelet]") {
  TempDir host;
  const nodehealth::HostPaths paths = nodehealth::HostPaths::under(host / "");
  nc::Config cfg;
  // Nothing on the host: nothing to read.
  auto [file, dir] = nc::kubelet_files(cfg, paths);
  CHECK_FALSE(file.has_value());
  CHECK_FALSE(dir.has_value());

  host.write("var/lib/kubelet/config.yaml", kHeader);
  std::tie(file, dir) = nc::kubelet_files(cfg, paths);
  CHECK(file == host / "var/lib/kubelet/config.yaml");
  CHECK_FALSE(dir.has_value());

  host.mkdir("etc/kubernetes/kubelet.conf.d");
  std::tie(file, dir) = nc::kubelet_files(cfg, paths);
  CHECK(file == host / "var/lib/kubelet/config.yaml");
  CHECK(dir == host / "etc/kubernetes/kubelet.conf.d");

  // A directory where the file should be does not count.
  TempDir odd;
  odd.mkdir("var/lib/kubelet/config.yaml");
  std::tie(file, dir) = nc::kubelet_files(cfg, nodehealth::HostPaths::under(odd / ""));
  CHECK_FALSE(file.has_value());

  // Explicit paths are used as given (mapped to the host root), existing or not.
  cfg.kubelet_config_explicit = true;
  cfg.kubelet_config_file = "/etc/kubelet/kubelet.yaml";
  std::tie(file, dir) = nc::kubelet_files(cfg, paths);
  CHECK(file == host / "etc/kubelet/kubelet.yaml");
  CHECK_FALSE(dir.has_value());  // not looked for once anything is explicit
}
