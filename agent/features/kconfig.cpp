#include "agent/features/kconfig.h"

#include "agent/features/gunzip.h"
#include "agent/sources/files.h"

namespace nodehealth::features {

std::optional<std::string> KernelConfig::get(std::string_view name) const {
  auto it = options.find(name);
  if (it == options.end()) return std::nullopt;
  return it->second;
}

KernelConfig parse_kernel_config(std::string_view text) {
  KernelConfig cfg;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("CONFIG_")) {
      const std::size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view value = line.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      cfg.options.insert_or_assign(std::string(line.substr(0, eq)), std::string(value));
    } else if (line.starts_with("# CONFIG_") && line.ends_with(" is not set")) {
      constexpr std::size_t kPrefix = 2, kSuffix = 11;  // "# ", " is not set"
      const std::size_t n = line.size() - kPrefix - kSuffix;
      if (n == 0 || n > 256) continue;
      cfg.options.insert_or_assign(std::string(line.substr(kPrefix, n)), std::string(1, 'n'));
    }
  }
  return cfg;
}

Result<KernelConfig> load_kernel_config(const HostPaths& paths, const std::string& release) {
  const std::string gz = paths.proc_file("config.gz");
  auto data = sources::read_file(gz, 4 << 20);
  if (data) {
    auto text = gunzip(*data);
    if (!text) return std::unexpected(with_context(gz, text.error()));
    KernelConfig cfg = parse_kernel_config(*text);
    cfg.source = gz;
    return cfg;
  }
  if (data.error().errno_value != ENOENT) return std::unexpected(data.error());
  if (release.empty() || release.find('/') != std::string::npos) return KernelConfig{};
  const std::string boot = paths.host("/boot/config-" + release);
  auto plain = sources::read_file(boot, 16 << 20);
  if (!plain) {
    if (plain.error().errno_value == ENOENT) return KernelConfig{};
    return std::unexpected(plain.error());
  }
  KernelConfig cfg = parse_kernel_config(*plain);
  cfg.source = boot;
  return cfg;
}

}  // namespace nodehealth::features
