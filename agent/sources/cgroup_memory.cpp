// Source "cgroup_memory": the root cgroup's usage and inactive file pages, the
// inputs of memory.available (facts §1). v2 when the unified hierarchy has the
// memory controller (usage = anon + file of the root memory.stat, since v2 has
// no root memory.current); else v1 (memory.usage_in_bytes, total_inactive_file).
// On a hybrid node such as Debian 12 with systemd's hybrid mode the v2 mount has
// no controllers, so v1 is used, as the kubelet does.
#include "agent/parse/proc.h"
#include "agent/sources/files.h"
#include "agent/sources/mounts.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

Result<uint64_t> need(const std::map<std::string, uint64_t, std::less<>>& keyed,
                      std::string_view key, const std::string& path) {
  auto it = keyed.find(key);
  if (it == keyed.end()) return fail(path + ": no \"" + std::string(key) + "\" field");
  return it->second;
}

// true when whitespace-separated `text` has `word` as one of its words.
bool has_word(std::string_view text, std::string_view word) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = text.find_first_not_of(" \t\n", pos);
    if (start == std::string_view::npos) break;
    size_t end = text.find_first_of(" \t\n", start);
    if (end == std::string_view::npos) end = text.size();
    if (text.substr(start, end - start) == word) return true;
    pos = end;
  }
  return false;
}

class CgroupMemorySource final : public Source {
 public:
  explicit CgroupMemorySource(const HostPaths& paths) : paths_(paths) {}
  std::string_view name() const override { return "cgroup_memory"; }

  Result<void> collect(Sample& sample) override {
    if (!located_) {
      auto where = locate();
      if (!where) return std::unexpected(where.error());
    }
    auto mem = read();
    if (!mem) {
      located_ = false;  // mounts may have changed: find them again next tick
      return std::unexpected(mem.error());
    }
    sample.root_memory = *mem;
    return {};
  }

 private:
  Result<void> locate() {
    auto mounts = read_mounts(paths_);
    if (!mounts) return std::unexpected(mounts.error());
    const CgroupLayout layout = find_cgroups(*mounts);
    if (layout.v2_root) {
      const std::string root = paths_.host(*layout.v2_root);
      auto controllers = read_file(root + "/cgroup.controllers");
      if (controllers && has_word(*controllers, "memory")) {
        version_ = CgroupMemory::Version::kV2;
        dir_ = root;
        located_ = true;
        return {};
      }
    }
    if (layout.v1_memory) {
      version_ = CgroupMemory::Version::kV1;
      dir_ = paths_.host(*layout.v1_memory);
      located_ = true;
      return {};
    }
    return fail(
        "no memory cgroup controller is mounted (neither cgroup2 with memory nor "
        "cgroup v1 memory in mountinfo)");
  }

  Result<CgroupMemory> read() const {
    CgroupMemory mem;
    mem.version = version_;
    const std::string stat_path = dir_ + "/memory.stat";
    auto stat = read_keyed(stat_path);
    if (!stat) return std::unexpected(stat.error());
    if (version_ == CgroupMemory::Version::kV2) {
      auto anon = need(*stat, "anon", stat_path);
      if (!anon) return std::unexpected(anon.error());
      auto file = need(*stat, "file", stat_path);
      if (!file) return std::unexpected(file.error());
      auto inactive = need(*stat, "inactive_file", stat_path);
      if (!inactive) return std::unexpected(inactive.error());
      mem.path = stat_path;
      mem.usage_bytes = *anon + *file;
      mem.inactive_file_bytes = *inactive;
      return mem;
    }
    const std::string usage_path = dir_ + "/memory.usage_in_bytes";
    auto usage = read_u64(usage_path);
    if (!usage) return std::unexpected(usage.error());
    auto inactive = need(*stat, "total_inactive_file", stat_path);
    if (!inactive) return std::unexpected(inactive.error());
    mem.path = usage_path;
    mem.usage_bytes = *usage;
    mem.inactive_file_bytes = *inactive;
    return mem;
  }

  HostPaths paths_;
  bool located_ = false;
  CgroupMemory::Version version_ = CgroupMemory::Version::kV1;
  std::string dir_;
};

}  // namespace

std::unique_ptr<Source> make_cgroup_memory_source(const HostPaths& paths) {
  return std::make_unique<CgroupMemorySource>(paths);
}

}  // namespace nodehealth::sources
