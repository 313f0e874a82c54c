// Source "filesystem": statfs of nodefs (the kubelet root dir, default
// /var/lib/kubelet, "/" when absent) and imagefs (the container runtime's root,
// default the containerd or CRI-O root when present, else the nodefs path), as
// the kubelet's nodefs.* and imagefs.* signals use them (facts §1). Every statfs
// runs on its own worker with a timeout, so a hung filesystem (dead NFS) makes
// this source fail, never the agent hang.
#include <sys/statvfs.h>

#include <fmt/format.h>

#include "agent/sources/mounts.h"
#include "agent/sources/sources.h"
#include "agent/sources/timed_call.h"

namespace nodehealth::sources {

Result<StatfsResult> real_statfs(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return errno_error("statfs " + path, errno);
  StatfsResult r;
  const uint64_t frsize = st.f_frsize ? st.f_frsize : st.f_bsize;
  r.capacity_bytes = static_cast<uint64_t>(st.f_blocks) * frsize;
  r.available_bytes = static_cast<uint64_t>(st.f_bavail) * frsize;
  r.inodes_total = st.f_files;
  r.inodes_free = st.f_ffree;
  r.read_only = (st.f_flag & ST_RDONLY) != 0;
  return r;
}

namespace {

constexpr const char* kImagefsCandidates[] = {"/var/lib/containerd", "/var/lib/containers/storage"};
constexpr std::string_view kDefaultNodefs = "/var/lib/kubelet";
constexpr auto kMountRefresh = std::chrono::seconds(30);

class FilesystemSource final : public Source {
 public:
  FilesystemSource(const HostPaths& paths, FilesystemOptions opts)
      : paths_(paths), opts_(std::move(opts)), nodefs_(opts_.statfs), imagefs_(opts_.statfs) {}
  std::string_view name() const override { return "filesystem"; }

  Result<void> collect(Sample& sample) override {
    // Only the default falls back to "/" (a plain host without a kubelet); a
    // configured path that does not exist is an error worth seeing.
    std::vector<std::string> node_candidates{opts_.nodefs_path};
    if (opts_.nodefs_path == kDefaultNodefs) node_candidates.emplace_back("/");
    auto nodefs = stat_first(nodefs_, "nodefs", node_candidates);
    if (!nodefs) return std::unexpected(nodefs.error());

    std::vector<std::string> image_candidates;
    if (!opts_.imagefs_path.empty()) {
      image_candidates.push_back(opts_.imagefs_path);
    } else {
      image_candidates.assign(std::begin(kImagefsCandidates), std::end(kImagefsCandidates));
    }
    auto imagefs = stat_first(imagefs_, "imagefs", image_candidates);
    if (!imagefs) {
      if (!opts_.imagefs_path.empty() || imagefs.error().errno_value != ENOENT)
        return std::unexpected(imagefs.error());
      imagefs = *nodefs;  // no runtime root: images live on nodefs
      imagefs->role = "imagefs";
    }
    refresh_mounts(sample.taken_at, nodefs->read_only || imagefs->read_only);
    annotate(*nodefs);
    annotate(*imagefs);
    sample.nodefs = std::move(*nodefs);
    sample.imagefs = std::move(*imagefs);
    return {};
  }

 private:
  // statfs of the first candidate that exists.
  Result<FsUsage> stat_first(TimedStatfs& runner, const char* role,
                             const std::vector<std::string>& candidates) {
    Error last("no candidate path", ENOENT);
    for (const auto& host_path : candidates) {
      auto r = runner.run(paths_.host(host_path), opts_.statfs_timeout);
      if (!r) {
        last = r.error();
        if (last.errno_value == ENOENT) continue;
        return std::unexpected(with_context(role, last));
      }
      FsUsage fs;
      fs.role = role;
      fs.path = host_path;
      fs.capacity_bytes = r->capacity_bytes;
      fs.available_bytes = r->available_bytes;
      fs.inodes_total = r->inodes_total;
      fs.inodes_free = r->inodes_free;
      fs.read_only = r->read_only;
      return fs;
    }
    return std::unexpected(with_context(role, last));
  }

  // The mount table changes rarely; statfs already sees read-only remounts.
  void refresh_mounts(TimePoint now, bool any_read_only) {
    if (have_mounts_ && now - mounts_read_at_ < kMountRefresh && !any_read_only) return;
    auto mounts = read_mounts(paths_);
    if (!mounts) return;  // mount points are informational; statfs is what counts
    mounts_ = std::move(*mounts);
    mounts_read_at_ = now;
    have_mounts_ = true;
  }

  void annotate(FsUsage& fs) const {
    const parse::MountInfo* m = parse::find_mount_for(mounts_, fs.path);
    if (!m) return;
    fs.mount_point = m->mount_point;
    fs.device = fmt::format("{}:{}", m->major, m->minor);
    fs.fs_type = m->fs_type;
    fs.read_only = fs.read_only || m->read_only();
  }

  HostPaths paths_;
  FilesystemOptions opts_;
  TimedStatfs nodefs_, imagefs_;
  std::vector<parse::MountInfo> mounts_;
  TimePoint mounts_read_at_{};
  bool have_mounts_ = false;
};

}  // namespace

std::unique_ptr<Source> make_filesystem_source(const HostPaths& paths, FilesystemOptions opts) {
  return std::make_unique<FilesystemSource>(paths, std::move(opts));
}

}  // namespace nodehealth::sources
