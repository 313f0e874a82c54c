// libFuzzer target: quantities ("1.5Gi"), thresholds ("10%"), durations ("1m30s").
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/parse/quantity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  namespace p = nodehealth::parse;
  (void)p::parse_quantity(text);
  (void)p::parse_threshold("memory.available", text);
  (void)p::parse_threshold("nodefs.inodesFree", text);
  if (auto d = p::parse_duration(text)) (void)p::format_duration(*d);
  return 0;
}
