// Tests for agent/config/config.h: validation of the merged AgentConfiguration into Config,
// the kubelet's evictionHard defaulting (facts §1) and errors that name file, line and key.
#include <stdlib.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include "tests/unit/temp_dir.h"

#include "agent/config/config.h"

namespace nc = nodehealth::config;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kSources[] = {"procfs", "cgroup", "statfs", "psi", "netlink"};

const std::string kHeader =
    "apiVersion: nodehealth.io/v1alpha1\n"
    "kind: AgentConfiguration\n";

using nodehealth::testing::TempDir;

// Writes kHeader + body (so body starts on line 3) and loads it.
struct Loaded {
  TempDir dir;
  std::string path;
  nodehealth::Result<nc::Config> result;
};

std::unique_ptr<Loaded> load(const std::string& body) {
  auto l = std::make_unique<Loaded>();
  l->path = l->dir.write("config.yaml", kHeader + body);
  l->result = nc::load_config(l->path, std::nullopt, kSources);
  return l;
}

nc::Config load_ok(const std::string& body) {
  auto l = load(body);
  INFO((l->result ? std::string() : l->result.error().message));
  REQUIRE(l->result.has_value());
  return *l->result;
}

// The error message, checked to cite `path:line` and `key`.
std::string load_error(const std::string& body, int line, const std::string& key) {
  auto l = load(body);
  REQUIRE_FALSE(l->result.has_value());
  const std::string& msg = l->result.error().message;
  CHECK_THAT(msg, Catch::StartsWith(l->path + ":" + std::to_string(line) + ": " + key + ": "));
  // Return it without the (temporary) path, for exact comparisons.
  return msg.substr(l->path.size());
}

nc::Config from_json(const char* text) {
  nc::Document doc;
  doc.value = nlohmann::json::parse(text);
  auto cfg = nc::config_from_document(doc, kSources);
  INFO((cfg ? std::string() : cfg.error().message));
  REQUIRE(cfg.has_value());
  return *cfg;
}

bool is_quantity(const nodehealth::parse::ThresholdValue& t, double q) {
  return !t.is_percentage && t.quantity == Approx(q);
}
bool is_percent(const nodehealth::parse::ThresholdValue& t, double p) {
  return t.is_percentage && t.percentage == Approx(p);
}

void check_default_hard(const nc::ThresholdMap& hard) {
  CHECK(is_quantity(hard.at("memory.available"), 100.0 * 1024 * 1024));
  CHECK(is_percent(hard.at("nodefs.available"), 0.10));
  CHECK(is_percent(hard.at("nodefs.inodesFree"), 0.05));
  CHECK(is_percent(hard.at("imagefs.available"), 0.15));
  CHECK(is_percent(hard.at("imagefs.inodesFree"), 0.05));
}

// The kubelet's defaults, plus allocatableMemory.available copied from memory.available because
// enforceNodeAllocatable defaults to ["pods"] (facts §1).
void check_default_eviction(const nc::Config& c) {
  REQUIRE(c.eviction.hard.size() == 6);
  check_default_hard(c.eviction.hard);
  CHECK(is_quantity(c.eviction.hard.at("allocatableMemory.available"), 100.0 * 1024 * 1024));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Defaults

TEST_CASE("load_config: no file and no directory gives the defaults", "[config]") {
  auto cfg = nc::load_config(std::nullopt, std::nullopt, kSources);
  REQUIRE(cfg.has_value());
  CHECK(cfg->listen_address == ":9710");
  CHECK(cfg->node_name.empty());
  CHECK(cfg->sample_interval == 1s);
  CHECK(cfg->log_level == "info");
  CHECK(cfg->host_root == "/");
  CHECK(cfg->proc_root.empty());
  CHECK(cfg->sys_root.empty());
  CHECK(cfg->nodefs_path == "/var/lib/kubelet");
  CHECK(cfg->imagefs_path.empty());
  CHECK(cfg->statfs_timeout == 2s);
  CHECK_FALSE(cfg->eviction.merge_default_eviction_settings);
  CHECK(cfg->eviction.pressure_transition_period == 5min);
  CHECK_FALSE(cfg->kubelet_config_file.has_value());
  CHECK_FALSE(cfg->kubelet_config_dir.has_value());
  CHECK_FALSE(cfg->kubelet_config_explicit);
  CHECK(cfg->source_enabled.empty());
  CHECK(cfg->source_on("procfs"));
  CHECK(cfg->kubepods_cgroup.empty());
  CHECK(cfg->memory_stall_percent == 10);
  CHECK(cfg->io_stall_percent == 10);
  CHECK(cfg->forecast_horizon == 10min);
  CHECK(cfg->forecast_window == 5min);
  CHECK(cfg->psi_triggers);
  CHECK(cfg->psi_trigger_stall == 200ms);
  CHECK(cfg->psi_trigger_window == 2s);
  CHECK(cfg->sandbox_seccomp == "enforce");
  CHECK(cfg->sandbox_drop_capabilities);
  // facts §1: evictionHard absent -> the kubelet's Linux defaults.
  check_default_eviction(*cfg);
}

TEST_CASE("default_eviction_hard: the kubelet's Linux defaults (facts §1)", "[config]") {
  const nc::ThresholdMap hard = nc::default_eviction_hard();
  REQUIRE(hard.size() == 5);
  check_default_hard(hard);
}

TEST_CASE("load_config: a file with only apiVersion and kind gives the defaults", "[config]") {
  const nc::Config c = load_ok("");
  CHECK(c.listen_address == ":9710");
  CHECK(c.sample_interval == 1s);
  check_default_eviction(c);
}

TEST_CASE("load_config: every key set", "[config]") {
  const nc::Config c = load_ok(
      "listenAddress: \"127.0.0.1:9100\"\n"
      "nodeName: node-a\n"
      "sampleInterval: 250ms\n"
      "logLevel: debug\n"
      "hostRoot: /host\n"
      "procRoot: /host/proc\n"
      "sysRoot: /host/sys\n"
      "filesystems:\n"
      "  nodefs: /var/lib/kubelet2\n"
      "  imagefs: \"\"\n"
      "  statfsTimeout: 500ms\n"
      "evictionHard:\n"
      "  memory.available: 200Mi\n"
      "  pid.available: 10%\n"
      "mergeDefaultEvictionSettings: false\n"
      "evictionPressureTransitionPeriod: 30s\n"
      "kubepodsCgroup: kubepods\n"
      "contention:\n"
      "  memoryStallPercent: 2.5\n"
      "  ioStallPercent: 40\n"
      "forecast:\n"
      "  horizon: 2m\n"
      "  window: 90s\n"
      "psiTriggers:\n"
      "  enabled: false\n"
      "  stall: 150ms\n"
      "  window: 1s\n"
      "checkpointDir: /srv/checkpoints\n"
      "sandbox:\n"
      "  seccomp: log\n"
      "  dropCapabilities: false\n"
      "sources:\n"
      "  psi:\n"
      "    enabled: false\n"
      "  procfs:\n"
      "    enabled: true\n");
  CHECK(c.listen_address == "127.0.0.1:9100");
  CHECK(c.node_name == "node-a");
  CHECK(c.sample_interval == 250ms);
  CHECK(c.log_level == "debug");
  CHECK(c.host_root == "/host");
  CHECK(c.proc_root == "/host/proc");
  CHECK(c.sys_root == "/host/sys");
  CHECK(c.nodefs_path == "/var/lib/kubelet2");
  CHECK(c.imagefs_path.empty());
  CHECK(c.statfs_timeout == 500ms);
  REQUIRE(c.eviction.hard.size() == 3);
  CHECK(is_quantity(c.eviction.hard.at("memory.available"), 200.0 * 1024 * 1024));
  CHECK(is_quantity(c.eviction.hard.at("allocatableMemory.available"), 200.0 * 1024 * 1024));
  CHECK(is_percent(c.eviction.hard.at("pid.available"), 0.10));
  CHECK(c.eviction.pressure_transition_period == 30s);
  CHECK(c.kubepods_cgroup == "kubepods");
  CHECK(c.memory_stall_percent == 2.5);
  CHECK(c.io_stall_percent == 40);
  CHECK(c.forecast_horizon == 2min);
  CHECK(c.forecast_window == 90s);
  CHECK_FALSE(c.psi_triggers);
  CHECK(c.psi_trigger_stall == 150ms);
  CHECK(c.psi_trigger_window == 1s);
  CHECK(c.checkpoint_dir == "/srv/checkpoints");
  CHECK(c.sandbox_seccomp == "log");
  CHECK_FALSE(c.sandbox_drop_capabilities);
  CHECK_FALSE(c.source_on("psi"));
  CHECK(c.source_on("procfs"));
  CHECK(c.source_on("cgroup"));  // not listed: enabled
  CHECK(c.source_enabled.size() == 2);
}

TEST_CASE("config_from_document: an empty document gives the defaults", "[config]") {
  const nc::Config c = from_json("{}");
  CHECK(c.listen_address == ":9710");
  check_default_eviction(c);
}

// ---------------------------------------------------------------------------------------------
// evictionHard defaulting (facts §1)

TEST_CASE("evictionHard: a partial map disables the other defaults", "[config][eviction]") {
  const nc::Config c = load_ok("evictionHard:\n  memory.available: 500Mi\n");
  REQUIRE(c.eviction.hard.size() == 2);
  CHECK(is_quantity(c.eviction.hard.at("memory.available"), 500.0 * 1024 * 1024));
  CHECK(is_quantity(c.eviction.hard.at("allocatableMemory.available"), 500.0 * 1024 * 1024));
}

TEST_CASE("evictionHard: mergeDefaultEvictionSettings fills the missing signals",
          "[config][eviction]") {
  const nc::Config c = load_ok(
      "mergeDefaultEvictionSettings: true\n"
      "evictionHard:\n"
      "  memory.available: 500Mi\n"
      "  pid.available: 5%\n");
  CHECK(c.eviction.merge_default_eviction_settings);
  REQUIRE(c.eviction.hard.size() == 7);
  CHECK(is_quantity(c.eviction.hard.at("memory.available"), 500.0 * 1024 * 1024));
  CHECK(is_percent(c.eviction.hard.at("nodefs.available"), 0.10));
  CHECK(is_percent(c.eviction.hard.at("nodefs.inodesFree"), 0.05));
  CHECK(is_percent(c.eviction.hard.at("imagefs.available"), 0.15));
  CHECK(is_percent(c.eviction.hard.at("imagefs.inodesFree"), 0.05));
  CHECK(is_percent(c.eviction.hard.at("pid.available"), 0.05));
}

TEST_CASE("evictionHard: \"0%\" and \"100%\" remove a signal, even with merged defaults",
          "[config][eviction]") {
  const nc::Config c = load_ok(
      "mergeDefaultEvictionSettings: true\n"
      "evictionHard:\n"
      "  memory.available: \"0%\"\n"
      "  nodefs.inodesFree: 100%\n");
  REQUIRE(c.eviction.hard.size() == 3);
  CHECK(c.eviction.hard.count("memory.available") == 0);
  CHECK(c.eviction.hard.count("allocatableMemory.available") == 0);  // nothing to copy
  CHECK(c.eviction.hard.count("nodefs.inodesFree") == 0);
  CHECK(is_percent(c.eviction.hard.at("nodefs.available"), 0.10));
  CHECK(is_percent(c.eviction.hard.at("imagefs.available"), 0.15));
  CHECK(is_percent(c.eviction.hard.at("imagefs.inodesFree"), 0.05));

  const nc::Config alone = load_ok("evictionHard:\n  memory.available: 0%\n");
  CHECK(alone.eviction.hard.empty());
}

TEST_CASE("evictionHard: an explicitly empty map means no thresholds", "[config][eviction]") {
  CHECK(load_ok("evictionHard: {}\n").eviction.hard.empty());
  // ...unless the defaults are merged in.
  check_default_eviction(load_ok("evictionHard: {}\nmergeDefaultEvictionSettings: true\n"));
  // null is "not set": the defaults.
  check_default_eviction(load_ok("evictionHard: ~\n"));
}

TEST_CASE("evictionHard: containerfs.* accepted and ignored, allocatableMemory kept",
          "[config][eviction]") {
  const nc::Config c = load_ok(
      "evictionHard:\n"
      "  containerfs.available: 20%\n"
      "  containerfs.inodesFree: 10%\n"
      "  allocatableMemory.available: 300Mi\n");
  REQUIRE(c.eviction.hard.size() == 1);
  CHECK(is_quantity(c.eviction.hard.at("allocatableMemory.available"), 300.0 * 1024 * 1024));
}

TEST_CASE("evictionHard: a drop-in changes one signal of the main file's map",
          "[config][eviction]") {
  TempDir t;
  const std::string main = t.write("config.yaml", kHeader +
                                                      "evictionHard:\n"
                                                      "  memory.available: 100Mi\n"
                                                      "  nodefs.available: 10%\n");
  t.write("config.d/10.conf", kHeader + "evictionHard:\n  nodefs.available: 20%\n");
  auto c = nc::load_config(main, t / "config.d", kSources);
  REQUIRE(c.has_value());
  REQUIRE(c->eviction.hard.size() == 3);
  CHECK(is_quantity(c->eviction.hard.at("memory.available"), 100.0 * 1024 * 1024));
  CHECK(is_percent(c->eviction.hard.at("nodefs.available"), 0.20));
}

TEST_CASE("evictionHard: errors", "[config][eviction]") {
  CHECK(load_error("evictionHard:\n  memory.availble: 1Gi\n", 4, "evictionHard[memory.availble]") ==
        ":4: evictionHard[memory.availble]: unsupported eviction signal memory.availble, did you "
        "mean \"memory.available\"?");
  CHECK(load_error("evictionHard:\n  cpu.available: \"1\"\n", 4, "evictionHard[cpu.available]") ==
        ":4: evictionHard[cpu.available]: unsupported eviction signal cpu.available");
  CHECK(
      load_error("evictionHard:\n  memory.available: 100\n", 4, "evictionHard[memory.available]") ==
      ":4: evictionHard[memory.available]: must be a string, got number 100 (quote it to make "
      "it a string)");
  CHECK(load_error("evictionHard: [a]\n", 3, "evictionHard") ==
        ":3: evictionHard: must be a mapping, got a list");
  // The value itself is checked by parse::parse_threshold; its error follows the key.
  CHECK(
      load_error("evictionHard:\n  nodefs.available: -5%\n", 4, "evictionHard[nodefs.available]") ==
      ":4: evictionHard[nodefs.available]: eviction percentage threshold nodefs.available must "
      "be >= 0%: -5%");
  CHECK(load_error("evictionHard:\n  memory.available: \"0\"\n", 4,
                   "evictionHard[memory.available]") ==
        ":4: evictionHard[memory.available]: eviction threshold memory.available must be "
        "positive: 0");
  load_error("evictionHard:\n  memory.available: lots\n", 4, "evictionHard[memory.available]");
  // containerfs values are still checked even though they are then dropped.
  load_error("evictionHard:\n  containerfs.available: lots\n", 4,
             "evictionHard[containerfs.available]");
}

// ---------------------------------------------------------------------------------------------
// Durations

TEST_CASE("sampleInterval: 100ms..1h", "[config]") {
  CHECK(load_ok("sampleInterval: 100ms\n").sample_interval == 100ms);
  CHECK(load_ok("sampleInterval: 1h\n").sample_interval == 1h);
  CHECK(load_ok("sampleInterval: 1m30s\n").sample_interval == 90s);
  CHECK(load_error("sampleInterval: 5ms\n", 3, "sampleInterval") ==
        ":3: sampleInterval: must be between 100ms and 1h, got \"5ms\"");
  CHECK(load_error("sampleInterval: 61m\n", 3, "sampleInterval") ==
        ":3: sampleInterval: must be between 100ms and 1h, got \"61m\"");
  CHECK(load_error("sampleInterval: 5\n", 3, "sampleInterval") ==
        ":3: sampleInterval: must be a duration string such as \"1s\" or \"500ms\", got number 5");
  CHECK_THAT(load_error("sampleInterval: soon\n", 3, "sampleInterval"),
             Catch::StartsWith(":3: sampleInterval: invalid duration \"soon\": "));
}

TEST_CASE("filesystems.statfsTimeout: 10ms..1m", "[config]") {
  CHECK(load_ok("filesystems:\n  statfsTimeout: 10ms\n").statfs_timeout == 10ms);
  CHECK(load_ok("filesystems:\n  statfsTimeout: 1m\n").statfs_timeout == 1min);
  CHECK(load_error("filesystems:\n  statfsTimeout: 2m\n", 4, "filesystems.statfsTimeout") ==
        ":4: filesystems.statfsTimeout: must be between 10ms and 1m, got \"2m\"");
  CHECK(load_error("filesystems:\n  statfsTimeout: 1ms\n", 4, "filesystems.statfsTimeout") ==
        ":4: filesystems.statfsTimeout: must be between 10ms and 1m, got \"1ms\"");
}

TEST_CASE("evictionPressureTransitionPeriod: explicit 0s becomes 5m (facts §1)", "[config]") {
  CHECK(load_ok("evictionPressureTransitionPeriod: 0s\n").eviction.pressure_transition_period ==
        5min);
  CHECK(load_ok("evictionPressureTransitionPeriod: 30s\n").eviction.pressure_transition_period ==
        30s);
  CHECK(load_ok("evictionPressureTransitionPeriod: 2h\n").eviction.pressure_transition_period ==
        2h);
  // The kubelet has no rule against a negative period (it then behaves as zero): accepted.
  CHECK(load_ok("evictionPressureTransitionPeriod: -1s\n").eviction.pressure_transition_period ==
        -1s);
  CHECK(load_error("evictionPressureTransitionPeriod: soon\n", 3,
                   "evictionPressureTransitionPeriod") ==
        ":3: evictionPressureTransitionPeriod: time: invalid duration \"soon\"");
  // A YAML number is not a duration string, even 0 (Go's metav1.Duration rejects it too).
  load_error("evictionPressureTransitionPeriod: 0\n", 3, "evictionPressureTransitionPeriod");
}

// ---------------------------------------------------------------------------------------------
// Other keys

TEST_CASE("listenAddress", "[config]") {
  CHECK(load_ok("listenAddress: \":9710\"\n").listen_address == ":9710");
  CHECK(load_ok("listenAddress: 0.0.0.0:1\n").listen_address == "0.0.0.0:1");
  CHECK(load_ok("listenAddress: localhost:65535\n").listen_address == "localhost:65535");
  CHECK(load_ok("listenAddress: \"[::1]:9710\"\n").listen_address == "[::1]:9710");
  CHECK(load_ok("listenAddress: \"[fe80::1%eth0]:80\"\n").listen_address == "[fe80::1%eth0]:80");

  CHECK(load_error("listenAddress: \"9710\"\n", 3, "listenAddress") ==
        ":3: listenAddress: must be HOST:PORT or :PORT, got \"9710\"");
  CHECK(load_error("listenAddress: \":0\"\n", 3, "listenAddress") ==
        ":3: listenAddress: port must be a number between 1 and 65535, got \":0\"");
  CHECK(load_error("listenAddress: \":65536\"\n", 3, "listenAddress") ==
        ":3: listenAddress: port must be a number between 1 and 65535, got \":65536\"");
  CHECK(load_error("listenAddress: \"host:\"\n", 3, "listenAddress") ==
        ":3: listenAddress: port must be a number between 1 and 65535, got \"host:\"");
  CHECK(load_error("listenAddress: \"::1:9710\"\n", 3, "listenAddress") ==
        ":3: listenAddress: an IPv6 address must be in brackets, e.g. \"[::1]:9710\", got "
        "\"::1:9710\"");
  CHECK(load_error("listenAddress: \"[::1]\"\n", 3, "listenAddress") ==
        ":3: listenAddress: must be HOST:PORT, :PORT or [IPV6]:PORT, got \"[::1]\"");
  CHECK(
      load_error("listenAddress: \"[10.0.0.1]:80\"\n", 3, "listenAddress") ==
      ":3: listenAddress: \"10.0.0.1\" in brackets is not an IPv6 address, got \"[10.0.0.1]:80\"");
  CHECK(load_error("listenAddress: \"a b:80\"\n", 3, "listenAddress") ==
        ":3: listenAddress: invalid host \"a b\", got \"a b:80\"");
  CHECK(load_error("listenAddress: 9710\n", 3, "listenAddress") ==
        ":3: listenAddress: must be a string, got number 9710 (quote it to make it a string)");
}

TEST_CASE("logLevel", "[config]") {
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    CHECK(load_ok(std::string("logLevel: ") + level + "\n").log_level == level);
  }
  CHECK(load_error("logLevel: verbose\n", 3, "logLevel") ==
        ":3: logLevel: must be one of trace, debug, info, warn, error, got \"verbose\"");
  CHECK(load_error("logLevel: INFO\n", 3, "logLevel") ==
        ":3: logLevel: must be one of trace, debug, info, warn, error, got \"INFO\"");
}

TEST_CASE("paths: absolute; filesystems.* may be empty", "[config]") {
  CHECK(load_error("hostRoot: host\n", 3, "hostRoot") ==
        ":3: hostRoot: must be an absolute path, got \"host\"");
  CHECK(load_error("procRoot: \"\"\n", 3, "procRoot") ==
        ":3: procRoot: must be an absolute path, got \"\"");
  CHECK(load_error("sysRoot: [a, b]\n", 3, "sysRoot") ==
        ":3: sysRoot: must be a string, got a list");
  CHECK(load_error("filesystems:\n  nodefs: 123\n", 4, "filesystems.nodefs") ==
        ":4: filesystems.nodefs: must be a string, got number 123 (quote it to make it a string)");
  CHECK(load_error("filesystems:\n  imagefs: var/lib/containerd\n", 4, "filesystems.imagefs") ==
        ":4: filesystems.imagefs: must be an absolute path or \"\", got \"var/lib/containerd\"");
  CHECK(load_ok("filesystems:\n  nodefs: \"\"\n").nodefs_path.empty());
  CHECK(load_ok("filesystems:\n  imagefs: /var/lib/containerd\n").imagefs_path ==
        "/var/lib/containerd");
  CHECK(load_error("filesystems: /data\n", 3, "filesystems") ==
        ":3: filesystems: must be a mapping, got string \"/data\"");
}

TEST_CASE("nodeName and mergeDefaultEvictionSettings types", "[config]") {
  CHECK(load_error("nodeName:\n  - a\n", 3, "nodeName") ==
        ":3: nodeName: must be a string, got a list");
  CHECK(load_error("mergeDefaultEvictionSettings: yes\n", 3, "mergeDefaultEvictionSettings") ==
        ":3: mergeDefaultEvictionSettings: must be true or false, got string \"yes\"");
}

TEST_CASE("unknown keys, with a suggestion within edit distance 2", "[config]") {
  CHECK(load_error("sampleIntervl: 1s\n", 3, "sampleIntervl") ==
        ":3: sampleIntervl: unknown key, did you mean \"sampleInterval\"?");
  CHECK(load_error("SampleInterval: 1s\n", 3, "SampleInterval") ==
        ":3: SampleInterval: unknown key, did you mean \"sampleInterval\"?");
  CHECK(load_error("lgoLevel: info\n", 3, "lgoLevel") ==
        ":3: lgoLevel: unknown key, did you mean \"logLevel\"?");
  CHECK(load_error("colour: blue\n", 3, "colour") == ":3: colour: unknown key");
  CHECK(load_error("filesystems:\n  nodfs: /x\n", 4, "filesystems.nodfs") ==
        ":4: filesystems.nodfs: unknown key, did you mean \"nodefs\"?");
  CHECK(load_error("filesystems.nodefs: /x\n", 3, "filesystems.nodefs") ==
        ":3: filesystems.nodefs: unknown key, write it nested: \"filesystems:\" then \"nodefs:\" "
        "on the next line, indented");
}

TEST_CASE("sources", "[config]") {
  const nc::Config c = load_ok("sources:\n  netlink: {enabled: false}\n  psi: {}\n  cgroup: ~\n");
  CHECK_FALSE(c.source_on("netlink"));
  CHECK(c.source_on("psi"));
  CHECK(c.source_on("cgroup"));
  CHECK(c.source_enabled.size() == 1);

  CHECK(load_error("sources:\n  prcfs:\n    enabled: false\n", 4, "sources[prcfs]") ==
        ":4: sources[prcfs]: unknown source, did you mean \"procfs\"?");
  CHECK(load_error("sources:\n  ebpf:\n    enabled: false\n", 4, "sources[ebpf]") ==
        ":4: sources[ebpf]: unknown source; known sources: procfs cgroup statfs psi netlink");
  CHECK(load_error("sources:\n  psi:\n    enabled: \"false\"\n", 5, "sources[psi].enabled") ==
        ":5: sources[psi].enabled: must be true or false, got string \"false\"");
  CHECK(load_error("sources:\n  psi:\n    enable: false\n", 5, "sources[psi].enable") ==
        ":5: sources[psi].enable: unknown key, did you mean \"enabled\"?");
  CHECK(load_error("sources:\n  psi: false\n", 4, "sources[psi]") ==
        ":4: sources[psi]: must be a mapping such as {enabled: false}, got bool false");
}

TEST_CASE("apiVersion and kind: checked per file", "[config]") {
  TempDir t;
  const std::string p =
      t.write("config.yaml", "apiVersion: nodehealth.io/v1\nkind: AgentConfiguration\n");
  auto c = nc::load_config(p, std::nullopt, kSources);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message == p + ":1: unknown apiVersion/kind: nodehealth.io/v1, "
                                 "Kind=AgentConfiguration (want nodehealth.io/v1alpha1, "
                                 "Kind=AgentConfiguration)");

  const std::string k = t.write("kindless.yaml", "apiVersion: nodehealth.io/v1alpha1\n");
  auto d = nc::load_config(k, std::nullopt, kSources);
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().message ==
        "config file \"" + k + "\": Object 'Kind' is missing (want kind: AgentConfiguration)");

  // A document built elsewhere is checked by config_from_document too.
  nc::Document doc;
  doc.value = nlohmann::json::parse(R"({"kind":"Other"})");
  auto e = nc::config_from_document(doc, kSources);
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().message == "kind: must be \"AgentConfiguration\", got \"Other\"");
}

TEST_CASE("several problems are reported together, in line order", "[config]") {
  auto l = load(
      "logLevel: loud\n"
      "sampleInterval: 1ms\n"
      "bogus: 1\n");
  REQUIRE_FALSE(l->result.has_value());
  CHECK(l->result.error().message ==
        l->path + ":3: logLevel: must be one of trace, debug, info, warn, error, got \"loud\"\n" +
            l->path + ":4: sampleInterval: must be between 100ms and 1h, got \"1ms\"\n" + l->path +
            ":5: bogus: unknown key");
}

// ---------------------------------------------------------------------------------------------
// Provenance through drop-ins

TEST_CASE("errors cite the drop-in line that set the bad value", "[config][layered]") {
  TempDir t;
  const std::string main = t.write("config.yaml", kHeader +
                                                      "sampleInterval: 1s\n"
                                                      "logLevel: info\n");
  t.write("config.d/10-fast.conf", kHeader + "# too fast\n\nsampleInterval: 5ms\n");
  t.write("config.d/20-ok.conf", kHeader + "logLevel: debug\n");
  auto c = nc::load_config(main, t / "config.d", kSources);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message == (t / "config.d/10-fast.conf") +
                                 ":5: sampleInterval: must be between 100ms and 1h, got \"5ms\"");

  // A later drop-in that fixes it wins, and the error is gone.
  t.write("config.d/30-fix.conf", kHeader + "sampleInterval: 2s\n");
  auto fixed = nc::load_config(main, t / "config.d", kSources);
  REQUIRE(fixed.has_value());
  CHECK(fixed->sample_interval == 2s);
  CHECK(fixed->log_level == "debug");
}

TEST_CASE("a drop-in can delete a main-file value with null, restoring the default",
          "[config][layered]") {
  TempDir t;
  const std::string main = t.write("config.yaml", kHeader +
                                                      "evictionHard:\n"
                                                      "  memory.available: 1Gi\n"
                                                      "listenAddress: \":1234\"\n");
  t.write("config.d/10.conf", kHeader + "evictionHard: null\nlistenAddress: ~\n");
  auto c = nc::load_config(main, t / "config.d", kSources);
  REQUIRE(c.has_value());
  CHECK(c->listen_address == ":9710");
  check_default_eviction(*c);
}

TEST_CASE("load_config: a drop-in directory alone", "[config][layered]") {
  TempDir t;
  t.write("config.d/10.conf", kHeader + "nodeName: from-dropin\n");
  auto c = nc::load_config(std::nullopt, t / "config.d", kSources);
  REQUIRE(c.has_value());
  CHECK(c->node_name == "from-dropin");

  auto missing = nc::load_config(std::nullopt, t / "nope", kSources);
  REQUIRE_FALSE(missing.has_value());
  CHECK_THAT(missing.error().message, Catch::Contains("No such file or directory"));
}

TEST_CASE("Config::source_on", "[config]") {
  nc::Config c;
  CHECK(c.source_on("anything"));
  c.source_enabled["psi"] = false;
  c.source_enabled["procfs"] = true;
  CHECK_FALSE(c.source_on("psi"));
  CHECK(c.source_on("procfs"));
  CHECK(c.source_on("cgroup"));
}

TEST_CASE("config: checkpointDir and requiredFeatures", "[config]") {
  auto doc = nc::parse_yaml(
      "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
      "checkpointDir: /data/checkpoints\nrequiredFeatures: [cgroup_v2, psi]\n",
      "c.yaml");
  REQUIRE(doc);
  static constexpr std::string_view kNoSources[] = {"psi"};
  auto cfg = nc::config_from_document(*doc, kNoSources);
  REQUIRE(cfg);
  CHECK(cfg->checkpoint_dir == "/data/checkpoints");
  CHECK(cfg->required_features == std::vector<std::string>{"cgroup_v2", "psi"});

  auto bad = nc::parse_yaml(
      "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
      "requiredFeatures: [cgroupv3]\n",
      "c.yaml");
  REQUIRE(bad);
  auto err = nc::config_from_document(*bad, kNoSources);
  REQUIRE_FALSE(err);
  CHECK(err.error().message.find("c.yaml:3: requiredFeatures[0]: unknown feature or safe sysctl "
                                 "\"cgroupv3\"") != std::string::npos);
}

TEST_CASE("probes and bpf: switches, thresholds and their errors", "[config][probes]") {
  const nc::Config def = load_ok("logLevel: info\n");
  CHECK(def.probe_on("oom"));
  CHECK(def.oom_window == std::chrono::minutes(5));
  CHECK_FALSE(def.bpf_stats_enabled);
  const nc::Config off = load_ok("probes:\n  enabled: false\n");
  CHECK_FALSE(off.probe_on("oom"));
  const nc::Config one = load_ok(
      "probes:\n  drops: {enabled: false, dropsPerSecond: 50}\n  oom: {window: 2m}\n"
      "  fork: {stormForksPerSecond: 300}\n  biolatency: {slowP99: 20ms}\n"
      "bpf:\n  btfPath: /boot/vmlinux.btf\n  statsEnabled: true\n");
  CHECK_FALSE(one.probe_on("drops"));
  CHECK(one.probe_on("fork"));
  CHECK(one.drop_rate == 50);
  CHECK(one.oom_window == std::chrono::minutes(2));
  CHECK(one.fork_storm_rate == 300);
  CHECK(one.slow_disk_p99 == std::chrono::milliseconds(20));
  CHECK(one.bpf_btf_path == "/boot/vmlinux.btf");
  CHECK(one.bpf_stats_enabled);
  CHECK(load_error("probes:\n  forks: {enabled: false}\n", 4, "probes.forks") ==
        ":4: probes.forks: unknown key, did you mean \"fork\"?");
  CHECK(load_error("probes:\n  oom: {window: 1s}\n", 4, "probes.oom.window") ==
        ":4: probes.oom.window: must be between 10s and 24h, got \"1s\"");
  CHECK(load_error("probes:\n  fork: {stormForksPerSecond: -1}\n", 4,
                   "probes.fork.stormForksPerSecond") ==
        ":4: probes.fork.stormForksPerSecond: must be a number above 0, got number -1");
  CHECK(load_error("probes:\n  reclaim: {window: 1m}\n", 4, "probes.reclaim.window") ==
        ":4: probes.reclaim.window: unknown key");
  CHECK(load_error("bpf:\n  btfPath: vmlinux.btf\n", 4, "bpf.btfPath") ==
        ":4: bpf.btfPath: must be an absolute path or \"\", got \"vmlinux.btf\"");
}

TEST_CASE("kubernetes: sink settings and their errors", "[config][kube]") {
  const nc::Config def = load_ok("logLevel: info\n");
  CHECK_FALSE(def.kubernetes_enabled.has_value());
  CHECK(def.kube_heartbeat == std::chrono::minutes(5));
  CHECK_FALSE(def.kube_feature_labels);  // off by default: no write to the Node's metadata
  const nc::Config k = load_ok(
      "kubernetes:\n  enabled: true\n  kubeconfig: /etc/kubeconfig\n  heartbeatInterval: 30s\n"
      "  removeStaleConditions: true\n  eventsNamespace: kube-system\n  featureLabels: true\n");
  CHECK(k.kubernetes_enabled == true);
  CHECK(k.kubeconfig == "/etc/kubeconfig");
  CHECK(k.kube_heartbeat == std::chrono::seconds(30));
  CHECK(k.kube_remove_stale);
  CHECK(k.kube_events_namespace == "kube-system");
  CHECK(k.kube_feature_labels);
  CHECK(load_error("kubernetes:\n  featureLabels: yes please\n", 4, "kubernetes.featureLabels")
            .starts_with(":4: kubernetes.featureLabels: must be"));
  CHECK(
      load_error("kubernetes:\n  heartbeatInterval: 100ms\n", 4, "kubernetes.heartbeatInterval") ==
      ":4: kubernetes.heartbeatInterval: must be between 1s and 1h, got \"100ms\"");
  CHECK(load_error("kubernetes:\n  kubeconfg: /x\n", 4, "kubernetes.kubeconfg") ==
        ":4: kubernetes.kubeconfg: unknown key, did you mean \"kubeconfig\"?");
}

// ---------------------------------------------------------------------------------------------
// The agent's early warnings and its sandbox: contention.*, forecast.*, psiTriggers.*, sandbox.*

TEST_CASE("contention: PSI percentages 0 < x <= 100, errors name file, line and key", "[config]") {
  CHECK(load_ok("contention:\n  ioStallPercent: 100\n").io_stall_percent == 100);
  CHECK(load_ok("contention:\n  ioStallPercent: 0.5\n").io_stall_percent == 0.5);
  // One key set leaves the other at its default.
  CHECK(load_ok("contention:\n  ioStallPercent: 30\n").memory_stall_percent == 10);
  CHECK(load_error("contention:\n  ioStallPercent: 0\n", 4, "contention.ioStallPercent") ==
        ":4: contention.ioStallPercent: must be a percentage with 0 < x <= 100, got 0");
  CHECK(load_error("contention:\n  ioStallPercent: 100.5\n", 4, "contention.ioStallPercent") ==
        ":4: contention.ioStallPercent: must be a percentage with 0 < x <= 100, got 100.5");
  CHECK(load_error("contention:\n  memoryStallPercent: -3\n", 4, "contention.memoryStallPercent") ==
        ":4: contention.memoryStallPercent: must be a percentage with 0 < x <= 100, got -3");
  CHECK(load_error("contention:\n  ioStallPercent: \"10%\"\n", 4, "contention.ioStallPercent") ==
        ":4: contention.ioStallPercent: must be a number (a percentage, 0 < x <= 100), got "
        "string \"10%\"");
  CHECK(load_error("contention:\n  ioStalPercent: 10\n", 4, "contention.ioStalPercent") ==
        ":4: contention.ioStalPercent: unknown key, did you mean \"ioStallPercent\"?");
  CHECK(load_error("contention:\n  cpuStallPercent: 10\n", 4, "contention.cpuStallPercent") ==
        ":4: contention.cpuStallPercent: unknown key");
  CHECK(load_error("contention: 10\n", 3, "contention") ==
        ":3: contention: must be a mapping, got number 10");
}

TEST_CASE("forecast: horizon 1m..24h, window 1m..1h", "[config]") {
  CHECK(load_ok("forecast:\n  horizon: 1m\n").forecast_horizon == 1min);
  CHECK(load_ok("forecast:\n  horizon: 24h\n").forecast_horizon == 24h);
  CHECK(load_ok("forecast:\n  window: 1m\n").forecast_window == 1min);
  CHECK(load_ok("forecast:\n  window: 1h\n").forecast_window == 1h);
  CHECK(load_ok("forecast:\n  window: 2m\n").forecast_horizon == 10min);  // the default
  CHECK(load_error("forecast:\n  horizon: 30s\n", 4, "forecast.horizon") ==
        ":4: forecast.horizon: must be between 1m and 24h, got \"30s\"");
  CHECK(load_error("forecast:\n  horizon: 25h\n", 4, "forecast.horizon") ==
        ":4: forecast.horizon: must be between 1m and 24h, got \"25h\"");
  CHECK(load_error("forecast:\n  horizon: 10m\n  window: 61m\n", 5, "forecast.window") ==
        ":5: forecast.window: must be between 1m and 1h, got \"61m\"");
  CHECK(load_error("forecast:\n  window: 59s\n", 4, "forecast.window") ==
        ":4: forecast.window: must be between 1m and 1h, got \"59s\"");
  CHECK(load_error("forecast:\n  window: 300\n", 4, "forecast.window") ==
        ":4: forecast.window: must be a duration string such as \"1s\" or \"500ms\", got "
        "number 300");
  CHECK(load_error("forecast:\n  windw: 5m\n", 4, "forecast.windw") ==
        ":4: forecast.windw: unknown key, did you mean \"window\"?");
  CHECK(load_error("forecast: 10m\n", 3, "forecast") ==
        ":3: forecast: must be a mapping, got string \"10m\"");
}

TEST_CASE("filesystemEvents, memoryThresholdEvents: on by default, enabled: false turns them off",
          "[config]") {
  CHECK(load_ok("sampleInterval: 1s\n").filesystem_events);
  CHECK_FALSE(load_ok("filesystemEvents:\n  enabled: false\n").filesystem_events);
  CHECK(load_ok("sampleInterval: 1s\n").memory_threshold_events);
  CHECK_FALSE(load_ok("memoryThresholdEvents:\n  enabled: false\n").memory_threshold_events);
  CHECK(load_error("memoryThresholdEvents: true\n", 3, "memoryThresholdEvents") ==
        ":3: memoryThresholdEvents: must be a mapping, got bool true");
  CHECK(load_error("filesystemEvents:\n  enabled: \"no\"\n", 4, "filesystemEvents.enabled") ==
        ":4: filesystemEvents.enabled: must be true or false, got string \"no\"");
  CHECK(load_error("filesystemEvents:\n  enable: false\n", 4, "filesystemEvents.enable") ==
        ":4: filesystemEvents.enable: unknown key, did you mean \"enabled\"?");
}

TEST_CASE("psiTriggers: enabled, window 500ms..10s, a stall shorter than the window", "[config]") {
  const nc::Config on = load_ok("psiTriggers:\n  window: 10s\n  stall: 9s\n");
  CHECK(on.psi_triggers);
  CHECK(on.psi_trigger_window == 10s);
  CHECK(on.psi_trigger_stall == 9s);
  CHECK(load_ok("psiTriggers:\n  window: 500ms\n  stall: 1ms\n").psi_trigger_stall == 1ms);
  CHECK_FALSE(load_ok("psiTriggers:\n  enabled: false\n").psi_triggers);
  CHECK(load_error("psiTriggers:\n  enabled: 1\n", 4, "psiTriggers.enabled") ==
        ":4: psiTriggers.enabled: must be true or false, got number 1");
  CHECK(load_error("psiTriggers:\n  window: 100ms\n", 4, "psiTriggers.window") ==
        ":4: psiTriggers.window: must be between 500ms and 10s, got \"100ms\"");
  CHECK(load_error("psiTriggers:\n  window: 11s\n", 4, "psiTriggers.window") ==
        ":4: psiTriggers.window: must be between 500ms and 10s, got \"11s\"");
  CHECK(load_error("psiTriggers:\n  stall: 0s\n", 4, "psiTriggers.stall") ==
        ":4: psiTriggers.stall: must be between 1ms and 10s, got \"0s\"");
  // Against the default window (2s) when only the stall is set.
  CHECK(load_error("psiTriggers:\n  stall: 2s\n", 4, "psiTriggers.stall") ==
        ":4: psiTriggers.stall: must be shorter than psiTriggers.window");
  CHECK(load_error("psiTriggers:\n  window: 1s\n  stall: 1500ms\n", 5, "psiTriggers.stall") ==
        ":5: psiTriggers.stall: must be shorter than psiTriggers.window");
  CHECK(load_error("psiTriggers:\n  stal: 1s\n", 4, "psiTriggers.stal") ==
        ":4: psiTriggers.stal: unknown key, did you mean \"stall\"?");
}

TEST_CASE("sandbox: seccomp enforce|log|off, dropCapabilities", "[config]") {
  CHECK(load_ok("sandbox:\n  seccomp: off\n").sandbox_seccomp == "off");
  CHECK(load_ok("sandbox:\n  seccomp: enforce\n").sandbox_drop_capabilities);
  CHECK(load_error("sandbox:\n  seccomp: strict\n", 4, "sandbox.seccomp") ==
        ":4: sandbox.seccomp: must be enforce, log or off, got \"strict\"");
  CHECK(load_error("sandbox:\n  dropCapabilities: \"no\"\n", 4, "sandbox.dropCapabilities") ==
        ":4: sandbox.dropCapabilities: must be true or false, got string \"no\"");
  CHECK(load_error("sandbox:\n  seccmp: off\n", 4, "sandbox.seccmp") ==
        ":4: sandbox.seccmp: unknown key, did you mean \"seccomp\"?");
}

TEST_CASE("early-warning errors in a drop-in are blamed on the drop-in's line",
          "[config][layered]") {
  TempDir dir;
  const std::string main = dir.write("config.yaml", kHeader + "forecast:\n  horizon: 5m\n");
  const std::string drop =
      dir.write("conf.d/20-psi.conf", kHeader + "psiTriggers:\n  enabled: true\n  window: 20s\n");
  auto r = nc::load_config(main, dir.path() + "/conf.d", kSources);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message ==
        drop + ":5: psiTriggers.window: must be between 500ms and 10s, got \"20s\"");
}
