// Direct probes of the running kernel that have no side effects (or, for the tmpfs test mount,
// none visible outside a throwaway mount namespace). They describe the kernel this process runs
// on, so the report runs them only when the tree it reads is that kernel's (see features.h).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "nodehealth/result.h"

namespace nodehealth::features {

// A yes/no/unknown answer with what it rests on.
struct ProbeAnswer {
  std::optional<bool> supported;
  std::string detail;
};

// mount_setattr(2) (5.12: MOUNT_ATTR_RDONLY with AT_RECURSIVE, recursive read-only mounts),
// called with flags no kernel accepts, so it fails before looking at anything: ENOSYS means the
// call is missing, EINVAL that it exists, EPERM (seccomp) that it cannot be told.
ProbeAnswer probe_mount_setattr();
// The interpretation alone, for tests: rc and errno of the call above.
ProbeAnswer interpret_mount_setattr(long rc, int err);

// Whether each path exists inside a new, empty network namespace: a forked child unshares
// CLONE_NEWNET, opens each path (e.g. /proc/sys/net/ipv4/tcp_rmem) and reports one byte per path
// through a pipe, then exits (the namespace dies with it). Needs CAP_SYS_ADMIN: without it the
// error is "needs CAP_SYS_ADMIN".
struct NetnsCheck {
  std::vector<std::optional<bool>> present;  // per path; nullopt when the open failed otherwise
};
Result<NetnsCheck> check_paths_in_new_netns(const std::vector<std::string>& paths,
                                            std::chrono::milliseconds timeout);

// The kubelet's tmpfs noswap probe: a test mount of tmpfs with "noswap" on a temporary directory
// (/tmp/nodehealth-test-noswap-*), done by a forked child inside its own private mount
// namespace, so no other process ever sees the mount; the directory is removed afterwards.
// An unknown option also logs "tmpfs: Unknown parameter 'noswap'" to the kernel log.
ProbeAnswer probe_tmpfs_noswap_mount(std::chrono::milliseconds timeout);

// statfs(2) f_type of a path.
Result<uint64_t> statfs_type(const std::string& path);

// Runs argv (argv[0] an absolute path, no shell) with stdout and stderr captured, a minimal
// environment and default signal dispositions; killed after `timeout`.
struct CommandResult {
  int exit_status = -1;  // exit code, or -1 when killed by a signal
  bool timed_out = false;
  std::string output;  // stdout and stderr, at most 64 KiB
};
Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout);

// The release of the running kernel (uname(2)).
std::string running_kernel_release();

}  // namespace nodehealth::features
