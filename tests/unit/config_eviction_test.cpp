// Tests for agent/config/eviction.h: the kubelet's eviction settings, parsed and defaulted as
// the kubelet does it (facts §1; pkg/kubelet/eviction/helpers.go ParseThresholdConfig and
// friends, cmd/kubelet/app/server.go loadConfigFile and parseResourceList), with the kubelet's
// own error texts after "<file>:<line>: <key path>: ".
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "agent/config/eviction.h"

namespace nc = nodehealth::config;
using namespace std::chrono_literals;

namespace {

constexpr double kMi = 1024.0 * 1024;
constexpr double kGi = 1024.0 * kMi;

// Parses `yaml` as the file "kubelet.yaml" (so line 1 is the first line of `yaml`).
nc::Document doc_of(const std::string& yaml) {
  auto doc = nc::parse_yaml(yaml, "kubelet.yaml");
  INFO((doc ? std::string() : doc.error().message));
  REQUIRE(doc.has_value());
  return *doc;
}

nc::EvictionSettings ok(const std::string& yaml) {
  auto s = nc::eviction_settings(doc_of(yaml));
  INFO((s ? std::string() : s.error().message));
  REQUIRE(s.has_value());
  return *s;
}

std::string error(const std::string& yaml) {
  auto s = nc::eviction_settings(doc_of(yaml));
  REQUIRE_FALSE(s.has_value());
  return s.error().message;
}

bool is_quantity(const nodehealth::parse::ThresholdValue& t, double q) {
  return !t.is_percentage && t.quantity == Approx(q);
}
// The kubelet keeps percentages as float32: float32(10) / 100.
bool is_percent(const nodehealth::parse::ThresholdValue& t, float whole) {
  return t.is_percentage && t.percentage == static_cast<double>(whole / 100.0f);
}

void check_defaults(const nc::ThresholdMap& hard) {
  CHECK(is_quantity(hard.at("memory.available"), 100 * kMi));
  CHECK(is_percent(hard.at("nodefs.available"), 10));
  CHECK(is_percent(hard.at("nodefs.inodesFree"), 5));
  CHECK(is_percent(hard.at("imagefs.available"), 15));
  CHECK(is_percent(hard.at("imagefs.inodesFree"), 5));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// evictionHard defaulting (facts §1, loadConfigFile)

TEST_CASE("eviction: evictionHard absent gives the kubelet's Linux defaults (facts §1)",
          "[config][eviction]") {
  const nc::EvictionSettings s = ok("kind: KubeletConfiguration\n");
  REQUIRE(s.hard.size() == 6);
  check_defaults(s.hard);
  // enforceNodeAllocatable defaults to ["pods"]: the memory threshold is copied.
  CHECK(is_quantity(s.hard.at("allocatableMemory.available"), 100 * kMi));
  CHECK(s.soft.empty());
  CHECK(s.soft_grace_period.empty());
  CHECK(s.minimum_reclaim.empty());
  CHECK(s.pressure_transition_period == 5min);
  CHECK_FALSE(s.merge_default_eviction_settings);
  CHECK(s.enforce_node_allocatable == std::vector<std::string>{"pods"});
  CHECK_FALSE(s.kube_reserved_memory_bytes.has_value());
  CHECK_FALSE(s.system_reserved_memory_bytes.has_value());
  CHECK(s.text.at("hard/memory.available") == "100Mi");
  CHECK(s.text.at("hard/allocatableMemory.available") == "100Mi");
  CHECK(s.text.at("hard/nodefs.available") == "10%");
  CHECK(nc::default_eviction_hard().size() == 5);
}

TEST_CASE("eviction: a partial evictionHard disables the other defaults", "[config][eviction]") {
  const nc::EvictionSettings s = ok("evictionHard:\n  nodefs.available: 20%\n");
  REQUIRE(s.hard.size() == 1);
  CHECK(is_percent(s.hard.at("nodefs.available"), 20));
  CHECK(s.text.at("hard/nodefs.available") == "20%");
}

TEST_CASE("eviction: mergeDefaultEvictionSettings fills only the signals not mentioned",
          "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("mergeDefaultEvictionSettings: true\n"
         "evictionHard:\n"
         "  memory.available: 1Gi\n"
         "  imagefs.available: \"0%\"\n"
         "  pid.available: 10%\n");
  CHECK(s.merge_default_eviction_settings);
  CHECK(is_quantity(s.hard.at("memory.available"), kGi));
  CHECK(is_quantity(s.hard.at("allocatableMemory.available"), kGi));
  CHECK(is_percent(s.hard.at("nodefs.available"), 10));
  CHECK(is_percent(s.hard.at("nodefs.inodesFree"), 5));
  CHECK(is_percent(s.hard.at("imagefs.inodesFree"), 5));
  CHECK(is_percent(s.hard.at("pid.available"), 10));
  CHECK(s.hard.count("imagefs.available") == 0);  // mentioned as "0%": stays disabled
  CHECK(s.hard.size() == 6);
  CHECK(s.text.at("hard/nodefs.inodesFree") == "5%");

  // An empty map merged with the defaults is the defaults.
  const nc::EvictionSettings e = ok("evictionHard: {}\nmergeDefaultEvictionSettings: true\n");
  check_defaults(e.hard);
  CHECK(e.hard.size() == 6);
}

TEST_CASE("eviction: exactly \"0%\" and \"100%\" disable a threshold", "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("evictionHard:\n"
         "  memory.available: 0%\n"
         "  nodefs.available: 100%\n"
         "  imagefs.available: 0.0%\n");
  // "0.0%" is not "0%": a threshold of 0 percent, enabled (parseThresholdStatement compares the
  // text, not the value).
  REQUIRE(s.hard.size() == 1);
  CHECK(s.hard.at("imagefs.available").is_percentage);
  CHECK(s.hard.at("imagefs.available").percentage == 0);
  CHECK(s.hard.count("allocatableMemory.available") == 0);  // memory disabled: nothing to copy
  CHECK(s.text.count("hard/memory.available") == 0);
}

TEST_CASE("eviction: an explicitly empty evictionHard means no hard thresholds",
          "[config][eviction]") {
  const nc::EvictionSettings s = ok("evictionHard: {}\n");
  CHECK(s.hard.empty());
  // null is "not set": the defaults (a drop-in's null deletes the key before this point).
  check_defaults(ok("evictionHard: ~\n").hard);
}

TEST_CASE("eviction: quantities and percentages as the kubelet parses them", "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("evictionHard:\n"
         "  memory.available: 1.5Gi\n"
         "  nodefs.available: 12.5%\n"
         "  nodefs.inodesFree: \"100000\"\n"
         "  imagefs.available: 10G\n"
         "  pid.available: 1k\n");
  CHECK(is_quantity(s.hard.at("memory.available"), 1.5 * kGi));
  CHECK(is_percent(s.hard.at("nodefs.available"), 12.5f));
  CHECK(is_quantity(s.hard.at("nodefs.inodesFree"), 100000));
  CHECK(is_quantity(s.hard.at("imagefs.available"), 10e9));
  CHECK(is_quantity(s.hard.at("pid.available"), 1000));
  CHECK(s.text.at("hard/memory.available") == "1.5Gi");
}

// ---------------------------------------------------------------------------------------------
// The kubelet's error texts (parseThresholdStatement)

TEST_CASE("eviction: threshold errors carry the kubelet's texts", "[config][eviction]") {
  CHECK(error("evictionHard:\n  cpu.available: 1%\n") ==
        "kubelet.yaml:2: evictionHard[cpu.available]: unsupported eviction signal cpu.available");
  CHECK(error("evictionHard:\n  memory.availabel: 1Gi\n") ==
        "kubelet.yaml:2: evictionHard[memory.availabel]: unsupported eviction signal "
        "memory.availabel, did you mean \"memory.available\"?");
  CHECK(error("evictionHard:\n  nodefs.available: -5%\n") ==
        "kubelet.yaml:2: evictionHard[nodefs.available]: eviction percentage threshold "
        "nodefs.available must be >= 0%: -5%");
  CHECK(error("evictionHard:\n  nodefs.available: 101%\n") ==
        "kubelet.yaml:2: evictionHard[nodefs.available]: eviction percentage threshold "
        "nodefs.available must be <= 100%: 101%");
  CHECK(error("evictionHard:\n  memory.available: \"0\"\n") ==
        "kubelet.yaml:2: evictionHard[memory.available]: eviction threshold memory.available "
        "must be positive: 0");
  CHECK(error("evictionHard:\n  memory.available: -1Gi\n") ==
        "kubelet.yaml:2: evictionHard[memory.available]: eviction threshold memory.available "
        "must be positive: -1Gi");
  CHECK(error("evictionHard:\n  memory.available: lots\n") ==
        "kubelet.yaml:2: evictionHard[memory.available]: quantities must match the regular "
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  CHECK(error("evictionHard:\n  memory.available: 100MB\n") ==
        "kubelet.yaml:2: evictionHard[memory.available]: quantities must match the regular "
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  CHECK(error("evictionHard:\n  memory.available: 100Mk\n") ==
        "kubelet.yaml:2: evictionHard[memory.available]: unable to parse quantity's suffix");
  CHECK(error("evictionHard:\n  nodefs.available: ten%\n") ==
        "kubelet.yaml:2: evictionHard[nodefs.available]: strconv.ParseFloat: parsing \"ten\": "
        "invalid syntax");
  // The same rules for evictionSoft.
  CHECK(error("evictionSoft:\n  memory.available: \"0\"\nevictionSoftGracePeriod:\n"
              "  memory.available: 1m\n") ==
        "kubelet.yaml:2: evictionSoft[memory.available]: eviction threshold memory.available "
        "must be positive: 0");
}

TEST_CASE("eviction: values must be strings; the fields must be mappings", "[config][eviction]") {
  CHECK(error("evictionHard:\n  memory.available: 100\n") ==
        "kubelet.yaml:2: evictionHard[memory.available]: must be a string, got number 100 "
        "(quote it to make it a string)");
  CHECK(error("evictionSoft: [a]\n") ==
        "kubelet.yaml:1: evictionSoft: must be a mapping, got a list");
  CHECK(error("mergeDefaultEvictionSettings: yes\n") ==
        "kubelet.yaml:1: mergeDefaultEvictionSettings: must be true or false, got string "
        "\"yes\"");
}

// ---------------------------------------------------------------------------------------------
// Soft thresholds and grace periods (ParseThresholdConfig, parseGracePeriods)

TEST_CASE("eviction: a soft threshold with its grace period", "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("evictionSoft:\n"
         "  memory.available: 1Gi\n"
         "  nodefs.available: 15%\n"
         "evictionSoftGracePeriod:\n"
         "  memory.available: 1m30s\n"
         "  nodefs.available: 2m\n");
  REQUIRE(s.soft.size() == 2);
  CHECK(is_quantity(s.soft.at("memory.available"), kGi));
  CHECK(is_percent(s.soft.at("nodefs.available"), 15));
  CHECK(s.soft_grace_period.at("memory.available") == 90s);
  CHECK(s.soft_grace_period.at("nodefs.available") == 2min);
  CHECK(s.text.at("soft/memory.available") == "1Gi");
  CHECK(s.text.at("gracePeriod/memory.available") == "1m30s");
  // Soft thresholds do not replace the hard defaults.
  check_defaults(s.hard);
}

TEST_CASE("eviction: a soft threshold without a grace period is the kubelet's error",
          "[config][eviction]") {
  CHECK(error("evictionSoft:\n  memory.available: 1Gi\n") ==
        "kubelet.yaml:2: evictionSoft[memory.available]: grace period must be specified for the "
        "soft eviction threshold memory.available");
  // A grace period for another signal does not help.
  CHECK(error("evictionSoft:\n  memory.available: 1Gi\nevictionSoftGracePeriod:\n"
              "  nodefs.available: 1m\n") ==
        "kubelet.yaml:2: evictionSoft[memory.available]: grace period must be specified for the "
        "soft eviction threshold memory.available");
  // A disabled soft threshold needs none.
  CHECK(ok("evictionSoft:\n  memory.available: 0%\n").soft.empty());
}

TEST_CASE("eviction: a grace period without a soft threshold is checked, then ignored",
          "[config][eviction]") {
  const nc::EvictionSettings s = ok("evictionSoftGracePeriod:\n  memory.available: 1m\n");
  CHECK(s.soft.empty());
  CHECK(s.soft_grace_period.empty());
  CHECK(s.text.count("gracePeriod/memory.available") == 0);
  CHECK(error("evictionSoftGracePeriod:\n  memory.availble: 1m\n") ==
        "kubelet.yaml:2: evictionSoftGracePeriod[memory.availble]: unsupported eviction signal "
        "memory.availble, did you mean \"memory.available\"?");
  CHECK(error("evictionSoftGracePeriod:\n  memory.available: soon\n") ==
        "kubelet.yaml:2: evictionSoftGracePeriod[memory.available]: time: invalid duration "
        "\"soon\"");
  CHECK(error("evictionSoftGracePeriod:\n  memory.available: 90\n") ==
        "kubelet.yaml:2: evictionSoftGracePeriod[memory.available]: must be a string, got number "
        "90 (quote it to make it a string)");
}

TEST_CASE("eviction: negative grace periods are the kubelet's error; zero is allowed",
          "[config][eviction]") {
  CHECK(error("evictionSoft:\n  memory.available: 1Gi\nevictionSoftGracePeriod:\n"
              "  memory.available: -30s\n") ==
        "kubelet.yaml:4: evictionSoftGracePeriod[memory.available]: invalid eviction grace "
        "period specified: -30s, must be a positive value");
  const nc::EvictionSettings s =
      ok("evictionSoft:\n  nodefs.available: 20%\nevictionSoftGracePeriod:\n"
         "  nodefs.available: 0s\n");
  CHECK(s.soft_grace_period.at("nodefs.available") == 0s);
}

TEST_CASE("eviction: an invalid grace period is reported once, not as missing",
          "[config][eviction]") {
  CHECK(error("evictionSoft:\n  memory.available: 1Gi\nevictionSoftGracePeriod:\n"
              "  memory.available: 1x\n") ==
        "kubelet.yaml:4: evictionSoftGracePeriod[memory.available]: time: unknown unit \"x\" in "
        "duration \"1x\"");
}

// ---------------------------------------------------------------------------------------------
// Minimum reclaim (parseMinimumReclaims)

TEST_CASE("eviction: minimum reclaim as a quantity or a percentage", "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("evictionHard:\n"
         "  memory.available: 500Mi\n"
         "  nodefs.available: 10%\n"
         "  imagefs.available: 15%\n"
         "evictionMinimumReclaim:\n"
         "  memory.available: \"0\"\n"
         "  nodefs.available: 5%\n"
         "  imagefs.available: 150%\n"
         "  pid.available: \"100\"\n");
  CHECK(is_quantity(s.minimum_reclaim.at("memory.available"), 0));  // zero is allowed
  CHECK(is_percent(s.minimum_reclaim.at("nodefs.available"), 5));
  // No upper bound for a reclaim percentage.
  CHECK(is_percent(s.minimum_reclaim.at("imagefs.available"), 150));
  // pid.available has no threshold: its reclaim is ignored.
  CHECK(s.minimum_reclaim.count("pid.available") == 0);
  CHECK(s.text.at("minimumReclaim/nodefs.available") == "5%");
}

TEST_CASE("eviction: minimum reclaim errors carry the kubelet's texts", "[config][eviction]") {
  CHECK(error("evictionMinimumReclaim:\n  memory.available: -1Mi\n") ==
        "kubelet.yaml:2: evictionMinimumReclaim[memory.available]: negative eviction minimum "
        "reclaim specified for memory.available");
  CHECK(error("evictionMinimumReclaim:\n  nodefs.available: 0%\n") ==
        "kubelet.yaml:2: evictionMinimumReclaim[nodefs.available]: eviction percentage minimum "
        "reclaim nodefs.available must be positive: 0%");
  CHECK(error("evictionMinimumReclaim:\n  nodefs.available: -5%\n") ==
        "kubelet.yaml:2: evictionMinimumReclaim[nodefs.available]: eviction percentage minimum "
        "reclaim nodefs.available must be positive: -5%");
  CHECK(error("evictionMinimumReclaim:\n  nodefs.available: x%\n") ==
        "kubelet.yaml:2: evictionMinimumReclaim[nodefs.available]: strconv.ParseFloat: parsing "
        "\"x\": invalid syntax");
  CHECK(error("evictionMinimumReclaim:\n  memory.available: 1kk\n") ==
        "kubelet.yaml:2: evictionMinimumReclaim[memory.available]: unable to parse quantity's "
        "suffix");
  CHECK(error("evictionMinimumReclaim:\n  cpu: 1\n") ==
        "kubelet.yaml:2: evictionMinimumReclaim[cpu]: must be a string, got number 1 (quote it "
        "to make it a string)");
  CHECK(error("evictionMinimumReclaim:\n  cpu: \"1\"\n") ==
        "kubelet.yaml:2: evictionMinimumReclaim[cpu]: unsupported eviction signal cpu");
}

TEST_CASE("eviction: minimum reclaim applies to soft thresholds too", "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("evictionHard: {}\n"
         "evictionSoft:\n  nodefs.inodesFree: 10%\n"
         "evictionSoftGracePeriod:\n  nodefs.inodesFree: 1m\n"
         "evictionMinimumReclaim:\n  nodefs.inodesFree: \"5000\"\n");
  CHECK(is_quantity(s.minimum_reclaim.at("nodefs.inodesFree"), 5000));
}

// ---------------------------------------------------------------------------------------------
// allocatableMemory.available (addAllocatableThresholds, facts §1)

TEST_CASE(
    "eviction: allocatableMemory.available copies the hard memory threshold when "
    "enforceNodeAllocatable contains pods",
    "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("evictionHard:\n  memory.available: 5%\n"
         "evictionMinimumReclaim:\n  memory.available: 200Mi\n"
         "enforceNodeAllocatable: [pods, kube-reserved]\n");
  CHECK(is_percent(s.hard.at("allocatableMemory.available"), 5));
  // MinReclaim travels with the copy.
  CHECK(is_quantity(s.minimum_reclaim.at("allocatableMemory.available"), 200 * kMi));
  CHECK(s.text.at("hard/allocatableMemory.available") == "5%");
  CHECK(s.enforce_node_allocatable == std::vector<std::string>{"pods", "kube-reserved"});

  // Without "pods": no copy.
  CHECK(ok("enforceNodeAllocatable: [none]\n").hard.count("allocatableMemory.available") == 0);
  CHECK(
      ok("enforceNodeAllocatable: [system-reserved]\n").hard.count("allocatableMemory.available") ==
      0);
  // An explicit empty list stays empty (only nil is defaulted to ["pods"]).
  const nc::EvictionSettings empty = ok("enforceNodeAllocatable: []\n");
  CHECK(empty.enforce_node_allocatable.empty());
  CHECK(empty.hard.count("allocatableMemory.available") == 0);
}

TEST_CASE("eviction: a soft memory threshold is not copied, unless its grace period is 0s",
          "[config][eviction]") {
  const nc::EvictionSettings soft =
      ok("evictionHard: {}\n"
         "evictionSoft:\n  memory.available: 1Gi\n"
         "evictionSoftGracePeriod:\n  memory.available: 1m\n");
  CHECK(soft.hard.empty());
  // isHardEvictionThreshold is GracePeriod == 0.
  const nc::EvictionSettings zero =
      ok("evictionHard: {}\n"
         "evictionSoft:\n  memory.available: 1Gi\n"
         "evictionSoftGracePeriod:\n  memory.available: 0s\n");
  REQUIRE(zero.hard.size() == 1);
  CHECK(is_quantity(zero.hard.at("allocatableMemory.available"), kGi));
  CHECK(zero.text.at("hard/allocatableMemory.available") == "1Gi");
}

TEST_CASE("eviction: an explicit allocatableMemory.available threshold is kept over the copy",
          "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("evictionHard:\n"
         "  memory.available: 100Mi\n"
         "  allocatableMemory.available: 300Mi\n"
         "evictionMinimumReclaim:\n"
         "  allocatableMemory.available: 50Mi\n");
  CHECK(is_quantity(s.hard.at("allocatableMemory.available"), 300 * kMi));
  CHECK(is_quantity(s.minimum_reclaim.at("allocatableMemory.available"), 50 * kMi));
}

TEST_CASE("eviction: enforceNodeAllocatable options are checked with the kubelet's texts",
          "[config][eviction]") {
  CHECK(error("enforceNodeAllocatable: [pods, nodes]\n") ==
        "kubelet.yaml:1: invalid configuration: option \"nodes\" specified for "
        "enforceNodeAllocatable (--enforce-node-allocatable). Valid options are \"pods\", "
        "\"system-reserved\", \"system-reserved-compressible\", \"kube-reserved\", "
        "\"kube-reserved-compressible\" or \"none\"");
  CHECK(error("enforceNodeAllocatable: [pods, pods]\n") ==
        "kubelet.yaml:1: invalid configuration: duplicated enforcements \"pods\" in "
        "enforceNodeAllocatable (--enforce-node-allocatable)");
  CHECK(error("enforceNodeAllocatable: [none, pods]\n") ==
        "kubelet.yaml:1: invalid configuration: enforceNodeAllocatable "
        "(--enforce-node-allocatable) may not contain additional enforcements when \"none\" is "
        "specified");
  CHECK(error("enforceNodeAllocatable: [kube-reserved, kube-reserved-compressible]\n") ==
        "kubelet.yaml:1: invalid configuration: both \"kube-reserved\" and "
        "\"kube-reserved-compressible\" cannot be specified together in enforceNodeAllocatable "
        "(--enforce-node-allocatable)");
  CHECK(error("enforceNodeAllocatable: pods\n") ==
        "kubelet.yaml:1: enforceNodeAllocatable: must be a list of strings, got string \"pods\"");
}

// ---------------------------------------------------------------------------------------------
// kubeReserved / systemReserved (parseResourceList)

TEST_CASE("eviction: kubeReserved and systemReserved memory for node allocatable",
          "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("kubeReserved:\n  cpu: 100m\n  memory: 256Mi\n  ephemeral-storage: 1Gi\n  pid: \"1000\"\n"
         "systemReserved:\n  memory: 0.5Gi\n");
  CHECK(s.kube_reserved_memory_bytes == 256 * kMi);
  CHECK(s.system_reserved_memory_bytes == 512 * kMi);
  CHECK_FALSE(ok("kubeReserved:\n  cpu: 100m\n").kube_reserved_memory_bytes.has_value());

  CHECK(error("kubeReserved:\n  gpu: \"1\"\n") ==
        "kubelet.yaml:2: kubeReserved[gpu]: cannot reserve \"gpu\" resource");
  CHECK(error("systemReserved:\n  memory: -1Gi\n") ==
        "kubelet.yaml:2: systemReserved[memory]: resource quantity for \"memory\" cannot be "
        "negative: -1Gi");
  CHECK(error("systemReserved:\n  memory: lots\n") ==
        "kubelet.yaml:2: systemReserved[memory]: failed to parse quantity \"lots\" for "
        "\"memory\" resource: quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

// ---------------------------------------------------------------------------------------------
// evictionPressureTransitionPeriod (defaults.go, facts §1)

TEST_CASE("eviction: evictionPressureTransitionPeriod, an explicit 0s becomes 5m (facts §1)",
          "[config][eviction]") {
  CHECK(ok("evictionPressureTransitionPeriod: 0s\n").pressure_transition_period == 5min);
  CHECK(ok("evictionPressureTransitionPeriod: \"0\"\n").pressure_transition_period == 5min);
  CHECK(ok("evictionPressureTransitionPeriod: 30s\n").pressure_transition_period == 30s);
  CHECK(ok("evictionPressureTransitionPeriod: 1h30m\n").pressure_transition_period == 90min);
  // No validation rule in the kubelet: a negative period is accepted (and acts as zero).
  CHECK(ok("evictionPressureTransitionPeriod: -1m\n").pressure_transition_period == -1min);
  CHECK(error("evictionPressureTransitionPeriod: 0\n") ==
        "kubelet.yaml:1: evictionPressureTransitionPeriod: must be a duration string such as "
        "\"5m\" or \"30s\", got number 0");
  CHECK(error("evictionPressureTransitionPeriod: 5 minutes\n") ==
        "kubelet.yaml:1: evictionPressureTransitionPeriod: time: unknown unit \" minutes\" in "
        "duration \"5 minutes\"");
}

// ---------------------------------------------------------------------------------------------
// containerfs.* (facts §1, UpdateContainerFsThresholds)

TEST_CASE("eviction: containerfs values are checked, then ignored (facts §1)",
          "[config][eviction]") {
  const nc::EvictionSettings s =
      ok("evictionHard:\n"
         "  containerfs.available: 20%\n"
         "  containerfs.inodesFree: 10%\n"
         "  nodefs.available: 10%\n"
         "evictionSoft:\n  containerfs.available: 30%\n"
         "evictionSoftGracePeriod:\n  containerfs.available: 1m\n"
         "evictionMinimumReclaim:\n  containerfs.available: 1Gi\n");
  CHECK(s.hard.size() == 1);
  CHECK(s.soft.empty());
  CHECK(s.soft_grace_period.empty());
  CHECK(s.minimum_reclaim.empty());
  CHECK(s.text.count("hard/containerfs.available") == 0);
  CHECK(error("evictionHard:\n  containerfs.available: lots%\n") ==
        "kubelet.yaml:2: evictionHard[containerfs.available]: strconv.ParseFloat: parsing "
        "\"lots\": invalid syntax");
  // ParseThresholdConfig runs before the containerfs rewrite: a soft one still needs its
  // grace period.
  CHECK(error("evictionSoft:\n  containerfs.available: 30%\n") ==
        "kubelet.yaml:2: evictionSoft[containerfs.available]: grace period must be specified for "
        "the soft eviction threshold containerfs.available");
}

// ---------------------------------------------------------------------------------------------
// Everything at once, blamed on the right file

TEST_CASE("eviction: every problem at once, in line order", "[config][eviction]") {
  CHECK(error("evictionSoft:\n"
              "  memory.available: 1Gi\n"
              "evictionHard:\n"
              "  nodefs.available: 200%\n"
              "evictionMinimumReclaim:\n"
              "  memory.available: \"-1\"\n") ==
        "kubelet.yaml:2: evictionSoft[memory.available]: grace period must be specified for the "
        "soft eviction threshold memory.available\n"
        "kubelet.yaml:4: evictionHard[nodefs.available]: eviction percentage threshold "
        "nodefs.available must be <= 100%: 200%\n"
        "kubelet.yaml:6: evictionMinimumReclaim[memory.available]: negative eviction minimum "
        "reclaim specified for memory.available");
}

TEST_CASE("eviction: a value merged from a drop-in is blamed on the drop-in",
          "[config][eviction]") {
  nc::Document merged = doc_of(
      "kind: KubeletConfiguration\n"
      "evictionHard:\n"
      "  memory.available: 100Mi\n");
  auto dropin = nc::parse_yaml("evictionHard:\n  nodefs.available: 10\n", "conf.d/10.conf");
  REQUIRE(dropin.has_value());
  nc::merge_patch(merged, *dropin);
  auto s = nc::eviction_settings(merged);
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().message ==
        "conf.d/10.conf:2: evictionHard[nodefs.available]: must be a string, got number 10 "
        "(quote it to make it a string)");
}

TEST_CASE("eviction: EvictionSettings compare by value", "[config][eviction]") {
  const std::string yaml = "evictionHard:\n  memory.available: 1Gi\n";
  CHECK(ok(yaml) == ok(yaml));
  CHECK_FALSE(ok(yaml) == ok("evictionHard:\n  memory.available: 2Gi\n"));
  CHECK_FALSE(ok(yaml) == ok(yaml + "evictionPressureTransitionPeriod: 1m\n"));
}
