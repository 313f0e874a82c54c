// The running kernel's build configuration: /proc/config.gz (CONFIG_IKCONFIG_PROC) or, as
// distributions ship it, /boot/config-<release>. It explains probe answers
// (CONFIG_PSI_DEFAULT_DISABLED, CONFIG_IP_VS=m, ...) and, where the file a probe looks for is
// missing, decides it (features.cpp: CONFIG_NF_TABLES, CONFIG_IP_VS, CONFIG_USER_NS).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "nodehealth/host_paths.h"
#include "nodehealth/result.h"

namespace nodehealth::features {

struct KernelConfig {
  std::string source;  // the file it came from; empty when none was found
  std::map<std::string, std::string, std::less<>> options;  // "CONFIG_PSI" -> "y"; not set -> "n"

  // "y", "m", "n", a string; nullopt when the option is absent or there is no config.
  std::optional<std::string> get(std::string_view name) const;
};

// "CONFIG_X=y" and "# CONFIG_X is not set" lines; everything else ignored.
KernelConfig parse_kernel_config(std::string_view text);

// <proc>/config.gz, else <root>/boot/config-<release>. A missing file is an empty config (no
// error); a file that does not read or decompress is an error naming it.
Result<KernelConfig> load_kernel_config(const HostPaths& paths, const std::string& release);

}  // namespace nodehealth::features
