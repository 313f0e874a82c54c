// Watches configuration files and directories with inotify so that an edit (or
// a ConfigMap's symlink swap) is noticed at once. The owner polls fd() in the
// event loop and calls drain(); it then re-reads the files itself.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "nodehealth/result.h"
#include "nodehealth/unique_fd.h"

namespace nodehealth::config {

class FileWatch {
 public:
  // Watches the directory of each file, and each directory with its
  // subdirectories. Paths that do not exist yet are watched through their
  // nearest existing parent, so creating them is noticed too.
  static Result<FileWatch> create(const std::vector<std::string>& files,
                                  const std::vector<std::string>& dirs);
  int fd() const { return fd_.get(); }
  // Reads every pending event; true when any of them may concern our files.
  bool drain();
  // Re-adds watches (new subdirectories appear after drop-in changes).
  void rewatch();

 private:
  FileWatch() = default;
  void add(const std::string& dir, bool recursive);
  UniqueFd fd_;
  std::vector<std::string> files_, dirs_;
  std::set<int> whole_dir_watches_;           // watch descriptors where every event matters
  std::set<std::string, std::less<>> names_;  // watched files' names, in their directories
};

}  // namespace nodehealth::config
