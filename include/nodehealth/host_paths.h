// Where the host's files are. Never global: every source gets a HostPaths,
// so a test points it at tests/fixtures/<case>/ and a container at /host.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nodehealth {

struct HostPaths {
  std::string root = "/";      // the host's "/" (e.g. /host in a container)
  std::string proc = "/proc";  // the host's /proc
  std::string sys = "/sys";    // the host's /sys

  // A HostPaths rooted at `root`, with proc and sys under it unless given.
  static HostPaths under(std::string root, std::string proc = {}, std::string sys = {});

  // `/proc`-relative path, e.g. proc_file("meminfo") -> "<proc>/meminfo".
  std::string proc_file(std::string_view rel) const;
  // `/sys`-relative path.
  std::string sys_file(std::string_view rel) const;
  // A path as the host sees it (absolute, e.g. a mount point from mountinfo or
  // "/var/lib/kubelet") mapped to where this process can open it: paths under
  // /proc and /sys go to `proc` and `sys`, everything else under `root`.
  std::string host(std::string_view host_path) const;
};

}  // namespace nodehealth
