// libFuzzer target: cgroup paths to pod/container, checkpoint archive and log file names.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/checkpoint/parse.h"
#include "agent/parse/cgroup_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)nodehealth::parse::parse_cgroup_path(text);
  (void)nodehealth::checkpoint::parse_container_log_name(text);
  (void)nodehealth::checkpoint::parse_rfc3339(text);
  return 0;
}
