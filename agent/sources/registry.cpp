// The one explicit list of sources. Adding a source: write its file, add a row here.
#include <algorithm>
#include <array>

#include "agent/config/config.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

struct Entry {
  std::string_view name;
  std::unique_ptr<Source> (*make)(const config::Config&, const HostPaths&);
};

const std::array<Entry, 9> kRegistry{{
    {"meminfo", [](const config::Config&, const HostPaths& p) { return make_meminfo_source(p); }},
    {"cgroup_memory",
     [](const config::Config&, const HostPaths& p) { return make_cgroup_memory_source(p); }},
    {"kubepods", [](const config::Config& c,
                    const HostPaths& p) { return make_kubepods_source(p, c.kubepods_cgroup); }},
    {"pids", [](const config::Config&, const HostPaths& p) { return make_pids_source(p); }},
    {"psi", [](const config::Config&, const HostPaths& p) { return make_psi_source(p); }},
    {"filesystem",
     [](const config::Config& c, const HostPaths& p) {
       FilesystemOptions opts;
       opts.nodefs_path = c.nodefs_path;
       opts.imagefs_path = c.imagefs_path;
       opts.statfs_timeout = c.statfs_timeout;
       return make_filesystem_source(p, std::move(opts));
     }},
    {"network", [](const config::Config&, const HostPaths& p) { return make_network_source(p); }},
    {"features",
     [](const config::Config& c, const HostPaths& p) { return make_features_source(c, p); }},
    {"checkpoints",
     [](const config::Config& c, const HostPaths& p) {
       return make_checkpoints_source(p, c.checkpoint_dir);
     }},
}};

}  // namespace

std::span<const std::string_view> source_names() {
  static const std::array<std::string_view, kRegistry.size()> names = [] {
    std::array<std::string_view, kRegistry.size()> out{};
    std::transform(kRegistry.begin(), kRegistry.end(), out.begin(),
                   [](const Entry& e) { return e.name; });
    return out;
  }();
  return names;
}

std::vector<std::unique_ptr<Source>> make_sources(const config::Config& cfg,
                                                  const HostPaths& paths) {
  std::vector<std::unique_ptr<Source>> out;
  for (const auto& e : kRegistry)
    if (cfg.source_on(e.name)) out.push_back(e.make(cfg, paths));
  return out;
}

}  // namespace nodehealth::sources
