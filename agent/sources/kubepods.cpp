// Source "kubepods": the cgroup every pod lives in. Its memory limit is the node
// allocatable the kubelet enforces and its working set is what pods use, which
// gives allocatableMemory.available; on cgroup v2 its memory.pressure and
// io.pressure give pod-level PSI. A node without the cgroup (a plain host) is
// no data, not an error. Names tried: the configured one, else kubepods.slice
// (systemd cgroup driver) and kubepods (cgroupfs driver).
#include <unistd.h>

#include "agent/parse/proc.h"
#include "agent/sources/files.h"
#include "agent/sources/mounts.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

constexpr const char* kDefaultNames[] = {"kubepods.slice", "kubepods"};
// cgroup v1 reports "no limit" as a page-rounded LONG_MAX.
constexpr uint64_t kV1Unlimited = 0x7FFFFFFFFFFFF000ull;

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::optional<parse::Psi> read_psi(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  auto psi = parse::parse_psi(*text);
  if (!psi) return std::nullopt;
  return *psi;
}

class KubepodsSource final : public Source {
 public:
  KubepodsSource(const HostPaths& paths, std::string name) : paths_(paths) {
    if (!name.empty()) {
      names_.push_back(std::move(name));
    } else {
      names_.assign(std::begin(kDefaultNames), std::end(kDefaultNames));
    }
  }
  std::string_view name() const override { return "kubepods"; }

  Result<void> collect(Sample& sample) override {
    if (!found_ && sample.taken_at >= next_search_) {
      auto r = locate();
      if (!r) return std::unexpected(r.error());
      // The kubelet may start after the agent: look again now and then.
      next_search_ = sample.taken_at + kSearchInterval;
    }
    if (!found_) return {};  // no kubepods cgroup: not a Kubernetes node (yet)
    KubepodsCgroup k;
    k.name = name_;
    auto r = v1_dir_.empty() ? read_v2(v2_dir_, k) : read_v1(v1_dir_, k);
    if (!r) {
      found_ = false;  // removed or remounted: search again next tick
      next_search_ = {};
      return std::unexpected(r.error());
    }
    if (!v2_dir_.empty()) {
      k.memory_pressure = read_psi(v2_dir_ + "/memory.pressure");
      k.io_pressure = read_psi(v2_dir_ + "/io.pressure");
    }
    sample.kubepods = std::move(k);
    return {};
  }

 private:
  static Result<void> read_v1(const std::string& dir, KubepodsCgroup& k) {
    auto limit = read_u64(dir + "/memory.limit_in_bytes");
    if (!limit) return std::unexpected(limit.error());
    auto usage = read_u64(dir + "/memory.usage_in_bytes");
    if (!usage) return std::unexpected(usage.error());
    auto inactive = read_keyed_field(dir + "/memory.stat", "total_inactive_file");
    if (!inactive) return std::unexpected(inactive.error());
    if (*limit < kV1Unlimited) k.limit_bytes = *limit;
    k.usage_bytes = *usage;
    k.inactive_file_bytes = *inactive;
    return {};
  }

  static Result<void> read_v2(const std::string& dir, KubepodsCgroup& k) {
    auto max = read_file(dir + "/memory.max");
    if (!max) return std::unexpected(max.error());
    if (max->rfind("max", 0) != 0) {
      auto limit = parse::parse_u64_file(*max);
      if (!limit) return std::unexpected(with_context(dir + "/memory.max", limit.error()));
      k.limit_bytes = *limit;
    }
    auto usage = read_u64(dir + "/memory.current");
    if (!usage) return std::unexpected(usage.error());
    auto inactive = read_keyed_field(dir + "/memory.stat", "inactive_file");
    if (!inactive) return std::unexpected(inactive.error());
    k.usage_bytes = *usage;
    k.inactive_file_bytes = *inactive;
    return {};
  }

  Result<void> locate() {
    auto mounts = read_mounts(paths_);
    if (!mounts) return std::unexpected(mounts.error());
    const CgroupLayout layout = find_cgroups(*mounts);
    const std::string v2 = layout.v2_root ? paths_.host(*layout.v2_root) : "";
    const std::string v1 = layout.v1_memory ? paths_.host(*layout.v1_memory) : "";
    for (const auto& name : names_) {
      const std::string v2_dir = v2.empty() ? "" : v2 + "/" + name;
      const bool in_v1 = !v1.empty() && exists(v1 + "/" + name + "/memory.usage_in_bytes");
      const bool in_v2 = !v2_dir.empty() && exists(v2_dir + "/memory.current");
      if (!in_v1 && !in_v2) continue;
      found_ = true;
      name_ = name;
      v1_dir_ = in_v1 ? v1 + "/" + name : "";
      // Pressure files live in the v2 hierarchy, also on a hybrid node.
      v2_dir_ = !v2_dir.empty() && exists(v2_dir) ? v2_dir : "";
      return {};
    }
    return {};
  }

  static constexpr auto kSearchInterval = std::chrono::seconds(30);
  HostPaths paths_;
  std::vector<std::string> names_;
  bool found_ = false;
  TimePoint next_search_{};
  std::string name_, v1_dir_, v2_dir_;  // v1_dir_ empty: memory accounting from v2_dir_
};

}  // namespace

std::unique_ptr<Source> make_kubepods_source(const HostPaths& paths, std::string cgroup_name) {
  return std::make_unique<KubepodsSource>(paths, std::move(cgroup_name));
}

}  // namespace nodehealth::sources
