// libFuzzer target: the /proc and cgroup file parsers. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/checkpoint/parse.h"
#include "agent/parse/proc.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  namespace p = nodehealth::parse;
  switch (data[0] % 8) {
    case 0:
      (void)p::parse_meminfo(text);
      break;
    case 1:
      (void)p::parse_loadavg(text);
      break;
    case 2:
      (void)p::parse_psi(text);
      break;
    case 3:
      (void)p::parse_u64_file(text);
      break;
    case 4:
      (void)p::parse_flat_keyed(text);
      break;
    case 5:
      (void)p::parse_net_route(text);
      break;
    case 6:
      (void)p::parse_net_ipv6_route(text);
      break;
    default:
      (void)nodehealth::checkpoint::parse_smaps_rollup(text);
      break;
  }
  return 0;
}
