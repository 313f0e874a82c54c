// estimate_checkpoints (see checkpoint.h for the size and time models).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "agent/checkpoint/checkpoint.h"
#include "agent/checkpoint/walk.h"
#include "agent/parse/proc.h"
#include "agent/sources/files.h"
#include "agent/sources/mounts.h"
#include "nodehealth/unique_fd.h"

namespace nodehealth::checkpoint {
namespace {

std::string join(const std::string& dir, std::string_view rel) {
  std::string out = dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  if (rel.empty()) return out;
  if (out != "/") out += '/';
  out += rel;
  return out;
}

bool vanished_errno(int err) { return err == ENOENT || err == ESRCH; }

// The pids listed in a cgroup.procs text.
std::vector<pid_t> parse_pids(std::string_view text) {
  std::vector<pid_t> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    pid_t pid = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (ec == std::errc() && p == line.data() + line.size() && pid > 0) out.push_back(pid);
  }
  return out;
}

struct Hierarchy {
  std::string mount_point;  // host path
  std::string local;        // where this process opens it
  int version = 0;
};

Result<Hierarchy> find_memory_hierarchy(const HostPaths& paths) {
  auto mounts = sources::read_mounts(paths);
  if (!mounts) return std::unexpected(with_context("checkpoint-cost", mounts.error()));
  const auto layout = sources::find_cgroups(*mounts);
  if (layout.v1_memory) return Hierarchy{*layout.v1_memory, paths.host(*layout.v1_memory), 1};
  if (layout.v2_root) {
    const std::string local = paths.host(*layout.v2_root);
    auto controllers = sources::read_trimmed(join(local, "cgroup.controllers"));
    if (controllers && (" " + *controllers + " ").find(" memory ") != std::string::npos)
      return Hierarchy{*layout.v2_root, local, 2};
    return fail("checkpoint-cost: the cgroup2 hierarchy at " + *layout.v2_root +
                " has no memory controller and there is no v1 memory controller");
  }
  return fail("checkpoint-cost: no memory cgroup hierarchy in the mount table");
}

// One cgroup of the walk: its path in the hierarchy and its own processes.
struct CgroupDir {
  std::string path;
  std::vector<pid_t> pids;
};

void walk_cgroups(const Hierarchy& h, const std::string& start, std::size_t max_dirs,
                  std::vector<CgroupDir>& out, std::vector<std::string>& problems) {
  std::vector<std::string> stack{start};
  std::size_t visited = 0;
  while (!stack.empty()) {
    const std::string rel = std::move(stack.back());
    stack.pop_back();
    if (++visited > max_dirs) {
      problems.push_back("cgroup walk stopped after " + std::to_string(max_dirs) + " cgroups");
      return;
    }
    const std::string dir = join(h.local, rel);
    auto procs = sources::read_file(join(dir, "cgroup.procs"), 16 << 20);
    if (procs) {
      out.push_back({rel, parse_pids(*procs)});
    } else if (!vanished_errno(procs.error().errno_value) || rel == start) {
      // A cgroup removed during the walk is normal; anything else is worth a line.
      problems.push_back(procs.error().message);
    }
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;  // removed during the walk, or not a cgroup at all
    std::vector<std::string> children;
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir =
            ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      if (is_dir) children.push_back(rel == "/" ? "/" + std::string(name) : rel + "/" + e->d_name);
    }
    ::closedir(d);
    std::sort(children.rbegin(), children.rend());  // visit in name order
    for (auto& c : children) stack.push_back(std::move(c));
  }
}

// A group of cgroups estimated together: a container (and its nested cgroups), or one plain
// cgroup.
struct Group {
  std::string cgroup;
  std::optional<parse::KubeCgroup> kube;
  std::vector<pid_t> pids;
};

// Streams a file line by line (smaps can be megabytes).
Result<void> for_each_line(const std::string& path,
                           const std::function<void(std::string_view)>& fn) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("open " + path, errno);
  std::string carry;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read " + path, errno);
    }
    if (n == 0) break;
    std::string_view chunk(buf, static_cast<std::size_t>(n));
    while (!chunk.empty()) {
      const auto nl = chunk.find('\n');
      if (nl == std::string_view::npos) {
        carry.append(chunk);
        break;
      }
      if (carry.empty()) {
        fn(chunk.substr(0, nl));
      } else {
        carry.append(chunk.substr(0, nl));
        fn(carry);
        carry.clear();
      }
      chunk.remove_prefix(nl + 1);
    }
  }
  if (!carry.empty()) fn(carry);
  return {};
}

// The memory part from the cgroup's memory.stat (fallback, an estimate).
Result<void> memory_from_stat(const Hierarchy& h, const std::string& cgroup, ContainerEstimate& e) {
  const std::string dir = join(h.local, cgroup);
  auto text = sources::read_file(join(dir, "memory.stat"));
  if (!text) return std::unexpected(text.error());
  auto stat = parse::parse_flat_keyed(*text);
  if (!stat) return std::unexpected(with_context(join(dir, "memory.stat"), stat.error()));
  auto get = [&](const char* key) -> uint64_t {
    auto it = stat->find(key);
    return it == stat->end() ? 0 : it->second;
  };
  if (h.version == 1) {
    e.anonymous_bytes = get("total_rss");
    e.shmem_bytes = get("total_shmem");
    e.swap_bytes = get("total_swap");
  } else {
    e.anonymous_bytes = get("anon");
    e.shmem_bytes = get("shmem");
    e.swap_bytes = 0;
    if (auto swap = sources::read_trimmed(join(dir, "memory.swap.current")))
      if (auto v = parse::parse_u64_file(*swap)) e.swap_bytes = *v;
  }
  e.file_cow_bytes.reset();
  e.source = "memory.stat";
  e.estimate = true;
  return {};
}

// "\054" style escapes of mount options.
std::string unescape_octal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// upperdir= of the overlay mounted at the process's "/", from /proc/<pid>/mountinfo.
std::optional<std::string> overlay_upperdir(const HostPaths& paths, pid_t pid) {
  auto text = sources::read_file(paths.proc_file(std::to_string(pid) + "/mountinfo"), 8 << 20);
  if (!text) return std::nullopt;
  auto mounts = parse::parse_mountinfo(*text);
  if (!mounts) return std::nullopt;
  const parse::MountInfo* root = parse::find_mount_for(*mounts, "/");
  if (!root || root->fs_type != "overlay") return std::nullopt;
  std::string_view opts = root->super_options;
  while (!opts.empty()) {
    const auto comma = opts.find(',');
    const std::string_view opt = opts.substr(0, comma);
    if (opt.starts_with("upperdir=")) return unescape_octal(opt.substr(9));
    if (comma == std::string_view::npos) break;
    opts.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

// Names of containers from /var/log/containers/<pod>_<ns>_<container>-<id>.log, with the size
// of the log each links to.
struct LogInfo {
  ContainerLogName name;
  uint64_t bytes = 0;
};
std::map<std::string, LogInfo, std::less<>> container_logs(const HostPaths& paths) {
  std::map<std::string, LogInfo, std::less<>> out;
  const std::string dir = paths.host("/var/log/containers");
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  std::size_t seen = 0;
  while (const dirent* e = ::readdir(d)) {
    if (++seen > 100000) break;
    auto name = parse_container_log_name(e->d_name);
    if (!name) continue;
    LogInfo info{*name, 0};
    char target[4096];
    const std::string link = join(dir, e->d_name);
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    struct stat st {};
    if (n > 0) {
      target[n] = '\0';
      const std::string t = target[0] == '/' ? paths.host(target) : join(dir, target);
      if (::stat(t.c_str(), &st) == 0) info.bytes = static_cast<uint64_t>(st.st_size);
    } else if (::stat(link.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      info.bytes = static_cast<uint64_t>(st.st_size);
    }
    out.emplace(name->container_id, std::move(info));
  }
  ::closedir(d);
  return out;
}

// Free space of the directory, or of its nearest existing ancestor (host paths).
void free_space(const HostPaths& paths, const std::string& dir, CheckpointReport& r) {
  std::string h = dir.empty() ? "/" : dir;
  for (;;) {
    struct statvfs vfs {};
    if (::statvfs(paths.host(h).c_str(), &vfs) == 0) {
      r.space_path = h;
      r.available_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
      return;
    }
    const int err = errno;
    if ((err != ENOENT && err != ENOTDIR) || h == "/") {
      r.problems.push_back("statvfs " + paths.host(h) + ": " + std::strerror(err));
      return;
    }
    const auto slash = h.find_last_of('/');
    h = slash == 0 || slash == std::string::npos ? "/" : h.substr(0, slash);
  }
}

void estimate_group(const HostPaths& paths, const Hierarchy& h, const CheckpointOptions& opt,
                    const Group& g, ContainerEstimate& e) {
  e.cgroup = g.cgroup;
  e.kube = g.kube;
  bool fallback = opt.force_memory_stat;
  std::vector<pid_t> gone;
  std::optional<pid_t> first_alive;
  uint64_t cow = 0;
  bool cow_ok = opt.file_cow_breakdown;
  for (pid_t pid : g.pids) {
    const std::string dir = paths.proc_file(std::to_string(pid));
    if (fallback) {
      struct stat st {};
      if (::stat(dir.c_str(), &st) != 0) {
        gone.push_back(pid);
        continue;
      }
      ++e.processes;
      if (!first_alive) first_alive = pid;
      continue;
    }
    auto text = sources::read_file(dir + "/smaps_rollup");
    if (!text) {
      if (vanished_errno(text.error().errno_value)) {
        gone.push_back(pid);
        continue;
      }
      e.problems.push_back(text.error().message);
      fallback = true;
      ++e.processes;
      if (!first_alive) first_alive = pid;
      continue;
    }
    if (text->empty()) {
      // A zombie or a process that exited between open and read.
      struct stat st {};
      if (::stat(dir.c_str(), &st) != 0) {
        gone.push_back(pid);
        continue;
      }
    }
    auto rollup = parse_smaps_rollup(*text);
    if (!rollup || (!text->empty() && !rollup->has_pss_shmem)) {
      e.problems.push_back(rollup ? dir + "/smaps_rollup: no Pss_Shmem (kernel before 5.9)"
                                  : with_context(dir, rollup.error()).message);
      fallback = true;
      ++e.processes;
      if (!first_alive) first_alive = pid;
      continue;
    }
    ++e.processes;
    if (!first_alive) first_alive = pid;
    e.anonymous_bytes += rollup->anonymous;
    e.shmem_bytes += rollup->pss_shmem;
    e.swap_bytes += rollup->swap;
    if (cow_ok && !text->empty()) {
      SmapsFileCow counter;
      auto r = for_each_line(dir + "/smaps", [&](std::string_view l) { counter.line(l); });
      if (r) {
        cow += counter.bytes();
      } else if (!vanished_errno(r.error().errno_value)) {
        e.problems.push_back(r.error().message);
        cow_ok = false;
      }
    }
  }
  e.vanished = gone.size();
  if (!gone.empty()) {
    std::string msg = std::to_string(gone.size()) + (gone.size() == 1 ? " process" : " processes") +
                      " exited during the walk (pid";
    for (std::size_t i = 0; i < gone.size() && i < 5; ++i)
      msg += (i ? ", " : " ") + std::to_string(gone[i]);
    msg += gone.size() > 5 ? ", ...)" : ")";
    e.problems.push_back(msg);
  }
  if (fallback) {
    e.anonymous_bytes = e.shmem_bytes = e.swap_bytes = 0;
    if (auto r = memory_from_stat(h, g.cgroup, e); !r) {
      e.problems.push_back("no memory estimate: " + r.error().message);
      e.source = "none";
      e.estimate = true;
    }
  } else if (cow_ok) {
    e.file_cow_bytes = cow;
  }
  if (opt.rootfs && first_alive) {
    if (auto upper = overlay_upperdir(paths, *first_alive)) {
      e.upperdir = *upper;
      auto size = tar_size(paths.host(*upper), opt.rootfs_max_entries);
      if (size) {
        e.rootfs_diff_bytes = size->bytes;
        e.rootfs_truncated = size->truncated;
        if (size->truncated)
          e.problems.push_back("rootfs diff: stopped after " +
                               std::to_string(opt.rootfs_max_entries) + " entries of " + *upper);
      } else {
        e.problems.push_back("rootfs diff: " + size.error().message);
      }
    }
  }
}

}  // namespace

double predict_seconds(uint64_t bytes, double bare_bytes_per_second, double slowdown) {
  if (bare_bytes_per_second <= 0) return 0;
  return static_cast<double>(bytes) * slowdown / bare_bytes_per_second;
}

Result<CheckpointReport> estimate_checkpoints(const HostPaths& paths,
                                              const CheckpointOptions& opt) {
  auto h = find_memory_hierarchy(paths);
  if (!h) return std::unexpected(h.error());
  CheckpointReport r;
  r.mount_point = h->mount_point;
  r.hierarchy = h->version == 1 ? "cgroup v1 memory controller at " + h->mount_point
                                : "cgroup v2 at " + h->mount_point;
  r.checkpoint_dir = opt.checkpoint_dir;

  std::string start = opt.cgroup.empty() ? "/" : opt.cgroup;
  if (start.front() != '/') start.insert(0, "/");
  while (start.size() > 1 && start.back() == '/') start.pop_back();
  std::vector<CgroupDir> dirs;
  walk_cgroups(*h, start, opt.max_cgroups, dirs, r.problems);

  // Kubernetes containers when there are any, else every cgroup with processes of its own.
  std::vector<Group> groups;
  std::map<std::string, std::size_t> by_container;
  for (const auto& d : dirs) {
    auto kc = parse::parse_cgroup_path(d.path);
    if (!kc || kc->container_id.empty() || kc->monitor) continue;
    r.kubernetes = true;
    auto [it, added] = by_container.emplace(kc->container_cgroup, groups.size());
    if (added) {
      Group g{kc->container_cgroup, *kc, {}};
      g.kube->nested = false;
      groups.push_back(std::move(g));
    }
    auto& pids = groups[it->second].pids;
    pids.insert(pids.end(), d.pids.begin(), d.pids.end());
  }
  if (!r.kubernetes)
    for (const auto& d : dirs)
      if (d.path != "/" && !d.pids.empty()) groups.push_back({d.path, std::nullopt, d.pids});
  // Stopped containers (no process left) cannot be checkpointed.
  std::erase_if(groups, [](const Group& g) { return g.pids.empty(); });

  const auto logs =
      r.kubernetes ? container_logs(paths) : std::map<std::string, LogInfo, std::less<>>{};
  if (opt.measure) {
    auto t = measure_write_throughput(paths.host(opt.checkpoint_dir), opt.measure_bytes);
    if (t) {
      r.throughput = *t;
    } else {
      r.problems.push_back("--measure: " + t.error().message + " (using the assumed rate)");
    }
  }
  free_space(paths, opt.checkpoint_dir, r);

  std::vector<ContainerEstimate> all;
  all.reserve(groups.size());
  for (const auto& g : groups) {
    ContainerEstimate e;
    estimate_group(paths, *h, opt, g, e);
    if (e.processes == 0) {
      // Every process exited while we walked: report it, there is nothing to checkpoint.
      for (auto& p : e.problems) r.problems.push_back(g.cgroup + ": " + p);
      continue;
    }
    if (e.kube) {
      if (auto it = logs.find(e.kube->container_id); it != logs.end()) {
        e.names = it->second.name;
        e.log_bytes = it->second.bytes;
      }
    }
    e.metadata_bytes = kMetadataBaseBytes + kMetadataPerProcessBytes * e.processes;
    e.predicted_bytes =
        e.memory_bytes() + e.rootfs_diff_bytes.value_or(0) + e.log_bytes + e.metadata_bytes;
    const double rate = r.throughput.bytes_per_second;
    e.predicted_seconds = predict_seconds(e.predicted_bytes, rate, r.throughput.runtime_slowdown);
    e.predicted_seconds_low = predict_seconds(e.predicted_bytes, rate, kRuntimeSlowdownLow);
    e.predicted_seconds_high = predict_seconds(e.predicted_bytes, rate, kRuntimeSlowdownHigh);
    e.fits = r.available_bytes && e.predicted_bytes <= *r.available_bytes;
    r.total_predicted_bytes += e.predicted_bytes;
    all.push_back(std::move(e));
  }
  r.estimated = all.size();
  r.total_predicted_seconds = predict_seconds(
      r.total_predicted_bytes, r.throughput.bytes_per_second, r.throughput.runtime_slowdown);
  r.all_fit = r.available_bytes && r.total_predicted_bytes <= *r.available_bytes;
  std::sort(all.begin(), all.end(), [](const ContainerEstimate& a, const ContainerEstimate& b) {
    if (a.predicted_bytes != b.predicted_bytes) return a.predicted_bytes > b.predicted_bytes;
    return a.cgroup < b.cgroup;
  });
  if (opt.top > 0 && all.size() > opt.top) all.resize(opt.top);
  r.containers = std::move(all);
  return r;
}

}  // namespace nodehealth::checkpoint
