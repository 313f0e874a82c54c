// libFuzzer target: what `features` and the web config read from files: kernel build
// configurations (/boot/config-*, or /proc/config.gz through gunzip), kernel releases
// (/proc/sys/kernel/osrelease) and the web config file (TLS, users, tokens).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/features/gunzip.h"
#include "agent/features/kconfig.h"
#include "agent/features/version.h"
#include "agent/sinks/web_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace f = nodehealth::features;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)f::parse_kernel_config(text);
  if (auto v = f::parse_kernel_version(text)) (void)f::compare(*v, *v);
  (void)f::go_quote(text);
  if (auto unpacked = f::gunzip(text, 1 << 20)) (void)f::parse_kernel_config(*unpacked);
  (void)nodehealth::sinks::parse_web_config(text, "fuzz");
  return 0;
}
