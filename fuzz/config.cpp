// libFuzzer target: YAML documents as the agent's configuration, as a kubelet drop-in
// (merged over the defaults, then validated as the kubelet does), and the RFC 7386 merge.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/config/config.h"
#include "agent/config/kubelet_defaults.h"
#include "agent/config/layered.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace c = nodehealth::config;
  auto doc = c::parse_yaml(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (!doc) return 0;
  static constexpr std::string_view kSources[] = {"meminfo", "psi"};
  (void)c::config_from_document(*doc, kSources);
  c::Document merged;
  c::merge_patch(merged, *doc);
  c::merge_patch(merged, *doc);
  c::Document effective = merged;
  effective.value = c::apply_kubelet_defaults(merged.value);
  (void)c::validate_kubelet_config(effective);
  return 0;
}
