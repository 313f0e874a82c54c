// audit_checkpoint_dir: the checkpoint directory's mode and owner, and every file in it
// (facts §6: directory 0700, archives root-owned 0600; nothing deletes them). One lstat per
// entry and no reads, so it is cheap enough to run every minute.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <tuple>

#include "agent/checkpoint/checkpoint.h"

namespace nodehealth::checkpoint {
namespace {

std::string octal(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// Who besides the owner can do what, e.g. "readable by group and others".
std::string who(uint32_t mode, uint32_t group_bit, uint32_t other_bit, const char* what) {
  const bool g = mode & group_bit, o = mode & other_bit;
  return std::string(what) + " by " + (g && o ? "group and others" : g ? "group" : "others");
}

// "<ns>_<pod>_<uid>" directories of /var/log/pods: the pods this node runs, to split
// "<namespace>-<container>" of an archive name when both hold '-'.
std::set<std::pair<std::string, std::string>> known_pods(const HostPaths& paths) {
  std::set<std::pair<std::string, std::string>> out;
  DIR* d = ::opendir(paths.host("/var/log/pods").c_str());
  if (!d) return out;
  std::size_t seen = 0;
  while (const dirent* e = ::readdir(d)) {
    if (++seen > 100000) break;
    const std::string_view n = e->d_name;
    const auto u1 = n.find('_');
    const auto u2 = u1 == std::string_view::npos ? u1 : n.find('_', u1 + 1);
    if (u2 == std::string_view::npos) continue;
    out.emplace(std::string(n.substr(0, u1)), std::string(n.substr(u1 + 1, u2 - u1 - 1)));
  }
  ::closedir(d);
  return out;
}

}  // namespace

Result<CheckpointAudit> audit_checkpoint_dir(const HostPaths& paths, const std::string& dir) {
  CheckpointAudit a;
  a.dir = dir;
  const std::string local = paths.host(dir);
  struct stat st {};
  if (::lstat(local.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return a;  // no checkpoint taken yet
    return errno_error("checkpoint audit: lstat " + local, errno);
  }
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    const ssize_t n = ::readlink(local.c_str(), target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    a.findings.push_back(
        {dir, "dir-symlink", "the checkpoint directory is a symlink to " + std::string(target)});
    if (::stat(local.c_str(), &st) != 0) {
      if (errno == ENOENT) return a;
      return errno_error("checkpoint audit: stat " + local, errno);
    }
  }
  if (!S_ISDIR(st.st_mode)) return fail("checkpoint audit: " + local + " is not a directory");
  a.exists = true;
  a.dir_mode = st.st_mode & 07777;
  a.dir_uid = st.st_uid;
  if (a.dir_mode & 077) {
    a.dir_mode_ok = false;
    a.findings.push_back(
        {dir, "dir-mode",
         "directory mode " + octal(a.dir_mode) + ", want 0700: " +
             who(a.dir_mode, 050, 005, (a.dir_mode & 044) ? "listable" : "accessible")});
  }
  if (st.st_uid != 0) {
    a.dir_mode_ok = false;
    a.findings.push_back(
        {dir, "dir-owner", "directory owned by uid " + std::to_string(st.st_uid) + ", want root"});
  }

  DIR* d = ::opendir(local.c_str());
  if (!d) return errno_error("checkpoint audit: opendir " + local, errno);
  std::optional<std::set<std::pair<std::string, std::string>>> pods;
  const std::string sep = dir.ends_with('/') ? "" : "/";
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name.starts_with("nodehealth-test-")) continue;  // our own --measure file
    const std::string path = dir + sep + name;
    struct stat fs {};
    if (::fstatat(::dirfd(d), e->d_name, &fs, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT)
        a.problems.push_back("lstat " + local + "/" + name + ": " + std::strerror(errno));
      continue;  // removed while we looked
    }
    if (S_ISLNK(fs.st_mode)) {
      a.findings.push_back({path, "symlink", "a symlink, not an archive"});
      continue;
    }
    if (!S_ISREG(fs.st_mode)) {
      a.findings.push_back(
          {path, "not-regular",
           std::string(S_ISDIR(fs.st_mode) ? "a directory" : "not a regular file") + " (mode " +
               octal(fs.st_mode) + "), not audited"});
      continue;
    }
    ArchiveFile f;
    f.path = path;
    f.name = name;
    f.bytes = static_cast<uint64_t>(fs.st_size);
    f.mode = fs.st_mode & 07777;
    f.uid = fs.st_uid;
    f.gid = fs.st_gid;
    f.modified = TimePoint(std::chrono::seconds(fs.st_mtim.tv_sec) +
                           std::chrono::duration_cast<TimePoint::duration>(
                               std::chrono::nanoseconds(fs.st_mtim.tv_nsec)));
    f.parsed = parse_archive_name(name, [&](std::string_view ns, std::string_view pod) {
      if (!pods) pods = known_pods(paths);
      return pods->contains({std::string(ns), std::string(pod)});
    });
    bool exposed = false;
    if (f.mode & 044) {
      exposed = true;
      a.findings.push_back({path, "mode",
                            "mode " + octal(f.mode) +
                                ", want 0600: " + who(f.mode, 040, 004, "readable") +
                                " (an archive holds every memory page of the container)"});
    }
    if (f.mode & 022) {
      exposed = true;
      a.findings.push_back({path, "mode",
                            "mode " + octal(f.mode) +
                                ", want 0600: " + who(f.mode, 020, 002, "writable") +
                                " (a restore would run what was written)"});
    }
    if (f.uid != 0) {
      exposed = true;
      a.findings.push_back(
          {path, "owner", "owned by uid " + std::to_string(f.uid) + ", want root"});
    }
    if (exposed) ++a.exposed_archives;
    a.archive_bytes += f.bytes;
    a.archives.push_back(std::move(f));
  }
  ::closedir(d);
  std::sort(a.archives.begin(), a.archives.end(),
            [](const ArchiveFile& x, const ArchiveFile& y) { return x.name < y.name; });
  std::sort(a.findings.begin(), a.findings.end(), [](const AuditFinding& x, const AuditFinding& y) {
    return std::tie(x.path, x.kind, x.message) < std::tie(y.path, y.kind, y.message);
  });
  return a;
}

}  // namespace nodehealth::checkpoint
