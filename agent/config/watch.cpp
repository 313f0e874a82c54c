#include "agent/config/watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>

namespace nodehealth::config {
namespace {

constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                           IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;

// The path itself when it exists, else its nearest existing ancestor.
std::string existing(std::filesystem::path p) {
  std::error_code ec;
  while (!p.empty() && !std::filesystem::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  return p.empty() ? "/" : p.string();
}

}  // namespace

Result<FileWatch> FileWatch::create(const std::vector<std::string>& files,
                                    const std::vector<std::string>& dirs) {
  FileWatch w;
  w.fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!w.fd_) return errno_error("inotify_init1", errno);
  w.files_ = files;
  w.dirs_ = dirs;
  w.rewatch();
  return w;
}

void FileWatch::add(const std::string& dir, bool recursive) {
  const int wd = ::inotify_add_watch(fd_.get(), dir.c_str(), kMask);
  if (wd < 0) return;  // nothing to watch there (yet)
  whole_dir_watches_.insert(wd);
  if (!recursive) return;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      const int sub = ::inotify_add_watch(fd_.get(), it->path().c_str(), kMask);
      if (sub >= 0) whole_dir_watches_.insert(sub);
    }
  }
}

void FileWatch::rewatch() {
  // inotify_add_watch on a watched inode returns the same descriptor: no duplicates.
  for (const auto& f : files_) {
    const std::filesystem::path p(f);
    const std::string parent = existing(p.parent_path());
    if (parent == p.parent_path().string()) {
      // Only events naming the file matter in its directory.
      names_.insert(p.filename().string());
      ::inotify_add_watch(fd_.get(), parent.c_str(), kMask);
    } else {
      add(parent, false);  // the nearest ancestor: any event there may create the path
    }
  }
  for (const auto& d : dirs_) {
    const std::string e = existing(d);
    add(e, e == d);
  }
}

bool FileWatch::drain() {
  alignas(inotify_event) char buf[8192];
  bool relevant = false;
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t off = 0; off + ssize_t(sizeof(inotify_event)) <= n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      const std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view();
      // ConfigMap volumes swap a "..data" symlink: names starting with ".." matter too.
      if (whole_dir_watches_.contains(ev->wd) || (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) ||
          names_.contains(name) || name.starts_with(".."))
        relevant = true;
      off += ssize_t(sizeof(inotify_event)) + ev->len;
    }
  }
  if (relevant) rewatch();
  return relevant;
}

}  // namespace nodehealth::config
