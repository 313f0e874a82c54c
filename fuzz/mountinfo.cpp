// libFuzzer target: /proc/<pid>/mountinfo.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/parse/mountinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)nodehealth::parse::parse_mountinfo(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
