#include "agent/thresholds.h"

#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace nodehealth {

Result<Thresholds> Thresholds::load(const config::Config& cfg, const HostPaths& paths) {
  Thresholds t;
  t.settings_ = t.agent_settings_ = cfg.eviction;
  auto [file, dir] = config::kubelet_files(cfg, paths);
  if (!cfg.kubelet_config_explicit) {
    t.default_file_ = paths.host(config::kDefaultKubeletConfigFile);
    t.default_dir_ = paths.host(config::kDefaultKubeletConfigDir);
    t.discover_ = true;
  }
  if (!file && !dir) return t;  // no kubelet here: the agent's own thresholds
  auto settings = config::load_kubelet_eviction(file, dir);
  if (!settings) {
    if (cfg.kubelet_config_explicit) return std::unexpected(settings.error());
    spdlog::error("kubelet config invalid, using the agent's thresholds: {}",
                  settings.error().message);
    return t;
  }
  t.file_ = std::move(file);
  t.dir_ = std::move(dir);
  t.settings_ = std::move(*settings);
  return t;
}

std::string Thresholds::origin() const {
  if (!file_ && !dir_) return "agent config";
  std::string out = "kubelet config";
  if (file_) out += " " + *file_;
  if (dir_) out += (file_ ? " + " : " ") + *dir_;
  return out;
}

Result<void> Thresholds::watch() {
  std::vector<std::string> files, dirs;
  if (discover_) {
    files.push_back(default_file_);
    dirs.push_back(default_dir_);
  } else {
    if (file_) files.push_back(*file_);
    if (dir_) dirs.push_back(*dir_);
  }
  if (files.empty() && dirs.empty()) return {};
  auto w = config::FileWatch::create(files, dirs);
  if (!w) return std::unexpected(w.error());
  watch_.emplace(std::move(*w));
  return {};
}

bool Thresholds::notice() { return watch_ && watch_->drain(); }

bool Thresholds::reload() {
  auto file = file_, dir = dir_;
  if (discover_) {
    file.reset();
    dir.reset();
    std::error_code ec;
    if (std::filesystem::is_regular_file(default_file_, ec)) file = default_file_;
    if (std::filesystem::is_directory(default_dir_, ec)) dir = default_dir_;
  }
  config::EvictionSettings next;
  if (file || dir) {
    auto loaded = config::load_kubelet_eviction(file, dir);
    if (!loaded) {
      spdlog::error("kubelet config changed but is invalid, keeping the previous thresholds: {}",
                    loaded.error().message);
      return false;
    }
    next = std::move(*loaded);
  } else {
    next = agent_settings_;
  }
  const std::string before = origin();
  file_ = std::move(file);
  dir_ = std::move(dir);
  if (origin() != before) spdlog::info("thresholds from {} (was {})", origin(), before);
  const std::string changes = describe_changes(settings_, next);
  if (changes.empty()) return false;
  spdlog::info("thresholds changed: {} origin=\"{}\"", changes, origin());
  settings_ = std::move(next);
  return true;
}

std::string describe_changes(const config::EvictionSettings& before,
                             const config::EvictionSettings& after) {
  std::set<std::string> keys;
  for (const auto& [k, v] : before.text) keys.insert(k);
  for (const auto& [k, v] : after.text) keys.insert(k);
  std::vector<std::string> parts;
  for (const auto& key : keys) {
    auto b = before.text.find(key);
    auto a = after.text.find(key);
    const std::string bs = b == before.text.end() ? "(none)" : b->second;
    const std::string as = a == after.text.end() ? "(none)" : a->second;
    if (bs == as) continue;
    // "hard/memory.available" -> "memory.available hard"
    const auto slash = key.find('/');
    parts.push_back(
        fmt::format("{} {} {} -> {}", key.substr(slash + 1), key.substr(0, slash), bs, as));
  }
  if (before.pressure_transition_period != after.pressure_transition_period)
    parts.push_back(fmt::format(
        "evictionPressureTransitionPeriod {}s -> {}s",
        std::chrono::duration_cast<std::chrono::seconds>(before.pressure_transition_period).count(),
        std::chrono::duration_cast<std::chrono::seconds>(after.pressure_transition_period)
            .count()));
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace nodehealth
