#include "agent/checkpoint/walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <set>
#include <utility>
#include <vector>

namespace nodehealth::checkpoint {

Result<TarSize> tar_size(const std::string& dir, std::size_t max_entries) {
  struct stat root {};
  if (::lstat(dir.c_str(), &root) != 0) return errno_error("lstat " + dir, errno);
  if (!S_ISDIR(root.st_mode)) return fail(dir + ": not a directory");
  TarSize out;
  out.bytes = 1024;  // two zero blocks end the archive
  std::set<std::pair<dev_t, ino_t>> linked;
  // (local path, path inside the archive)
  std::vector<std::pair<std::string, std::string>> stack{{dir, ""}};
  while (!stack.empty()) {
    auto [path, rel] = std::move(stack.back());
    stack.pop_back();
    DIR* d = ::opendir(path.c_str());
    if (!d) continue;  // vanished or unreadable: skipped
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (out.entries >= max_entries) {
        out.truncated = true;
        ::closedir(d);
        return out;
      }
      ++out.entries;
      const std::string child_rel = rel.empty() ? name : rel + "/" + name;
      out.bytes += 512;
      if (child_rel.size() + (S_ISDIR(st.st_mode) ? 1 : 0) >= 100) out.bytes += 1024;
      if (S_ISREG(st.st_mode)) {
        if (st.st_nlink > 1 && !linked.emplace(st.st_dev, st.st_ino).second) continue;
        out.bytes += (static_cast<uint64_t>(st.st_size) + 511) / 512 * 512;
      } else if (S_ISDIR(st.st_mode) && st.st_dev == root.st_dev) {
        stack.emplace_back(path + "/" + name, child_rel);
      }
    }
    ::closedir(d);
  }
  return out;
}

}  // namespace nodehealth::checkpoint
