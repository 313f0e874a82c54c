// deploy/host/config.yaml, the configuration `make install` ships, is what the README says it
// is: valid, and equal to the built-in defaults in every field of Config. A field added to
// Config fails the field count below until it is compared here (and, being a new key, listed in
// deploy/host/config.yaml and the README's configuration table: tests/e2e/test_cli.py checks
// those two agree).
#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "agent/config/config.h"
#include "agent/sources/sources.h"

namespace nc = nodehealth::config;

namespace {

// The number of fields of an aggregate: the most initializers T{...} accepts. A field's
// initializer converts to any type through an rvalue-reference conversion, which a class's own
// constructors (std::optional's converting one) cannot make ambiguous.
struct AnyField {
  template <typename T>
  operator T&&() const;
};

template <typename T, typename... A>
constexpr std::size_t field_count() {
  if constexpr (requires { T{A{}..., AnyField{}}; })
    return field_count<T, A..., AnyField>();
  else
    return sizeof...(A);
}

// webConfigFile's field, when this build has it (it arrives with the web config's TLS and auth).
template <typename C>
constexpr bool kHasWebConfig = requires(const C& c) {
  c.web_config_file;
};

template <typename C>
void check_web_config(const C& s, const C& d) {
  if constexpr (kHasWebConfig<C>) CHECK(s.web_config_file == d.web_config_file);
}

const std::string kShipped = std::string(NODEHEALTH_FIXTURES) + "/../../deploy/host/config.yaml";

}  // namespace

TEST_CASE("deploy/host/config.yaml is valid and equal to the defaults, field by field",
          "[config]") {
  auto shipped = nc::load_config(kShipped, std::nullopt, nodehealth::sources::source_names());
  INFO((shipped ? std::string() : shipped.error().message));
  REQUIRE(shipped.has_value());
  auto defaults = nc::load_config(std::nullopt, std::nullopt, nodehealth::sources::source_names());
  REQUIRE(defaults.has_value());
  const nc::Config& s = *shipped;
  const nc::Config& d = *defaults;

  // Every field of Config, in declaration order. Adding one changes the count: compare it below.
  static_assert(field_count<nc::Config>() == 43 + (kHasWebConfig<nc::Config> ? 1 : 0),
                "Config has a new field: compare it in this test, list its key in "
                "deploy/host/config.yaml and in the README's configuration table");

  CHECK(s.listen_address == d.listen_address);
  check_web_config(s, d);
  CHECK(s.node_name == d.node_name);
  CHECK(s.sample_interval == d.sample_interval);
  CHECK(s.log_level == d.log_level);
  CHECK(s.host_root == d.host_root);
  CHECK(s.proc_root == d.proc_root);
  CHECK(s.sys_root == d.sys_root);
  CHECK(s.nodefs_path == d.nodefs_path);
  CHECK(s.imagefs_path == d.imagefs_path);
  CHECK(s.statfs_timeout == d.statfs_timeout);
  CHECK(s.eviction.hard.size() == d.eviction.hard.size());
  CHECK(s.eviction == d.eviction);
  CHECK(s.kubelet_config_file == d.kubelet_config_file);
  CHECK(s.kubelet_config_dir == d.kubelet_config_dir);
  CHECK(s.kubelet_config_explicit == d.kubelet_config_explicit);
  CHECK(s.kubepods_cgroup == d.kubepods_cgroup);
  CHECK(s.memory_stall_percent == d.memory_stall_percent);
  CHECK(s.io_stall_percent == d.io_stall_percent);
  CHECK(s.forecast_horizon == d.forecast_horizon);
  CHECK(s.forecast_window == d.forecast_window);
  CHECK(s.psi_triggers == d.psi_triggers);
  CHECK(s.psi_trigger_stall == d.psi_trigger_stall);
  CHECK(s.psi_trigger_window == d.psi_trigger_window);
  CHECK(s.filesystem_events == d.filesystem_events);
  CHECK(s.memory_threshold_events == d.memory_threshold_events);
  CHECK(s.required_features == d.required_features);
  CHECK(s.checkpoint_dir == d.checkpoint_dir);
  CHECK(s.probes_enabled == d.probes_enabled);
  // The file sets each probe's `enabled: true`: the same as not naming it.
  for (std::string_view probe : {"oom", "fork", "biolatency", "reclaim", "drops"}) {
    INFO(probe);
    CHECK(s.probe_on(probe) == d.probe_on(probe));
  }
  for (const auto& [name, on] : s.probe_enabled) CHECK(on);
  CHECK(s.oom_window == d.oom_window);
  CHECK(s.fork_storm_rate == d.fork_storm_rate);
  CHECK(s.slow_disk_p99 == d.slow_disk_p99);
  CHECK(s.drop_rate == d.drop_rate);
  CHECK(s.bpf_btf_path == d.bpf_btf_path);
  CHECK(s.bpf_stats_enabled == d.bpf_stats_enabled);
  CHECK(s.kubernetes_enabled == d.kubernetes_enabled);
  CHECK(s.kubeconfig == d.kubeconfig);
  CHECK(s.kube_heartbeat == d.kube_heartbeat);
  CHECK(s.kube_remove_stale == d.kube_remove_stale);
  CHECK(s.kube_events_namespace == d.kube_events_namespace);
  CHECK(s.kube_feature_labels == d.kube_feature_labels);
  CHECK(s.sandbox_seccomp == d.sandbox_seccomp);
  CHECK(s.sandbox_drop_capabilities == d.sandbox_drop_capabilities);
  // Likewise every source `enabled: true`, and every source the agent has is named.
  for (std::string_view source : nodehealth::sources::source_names()) {
    INFO(source);
    CHECK(s.source_enabled.contains(source));
    CHECK(s.source_on(source) == d.source_on(source));
  }
  CHECK(s.source_enabled.size() == nodehealth::sources::source_names().size());
}
