// The live probes of the running kernel: their interpretation as pure functions, and the probes
// themselves where they are harmless anywhere (the mount_setattr call with invalid flags, the
// bounded command runner). The network namespace check needs CAP_SYS_ADMIN and is checked
// when the test runs as root.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cerrno>

#include "agent/features/probes.h"

using namespace nodehealth::features;
using namespace std::chrono_literals;

TEST_CASE("facts §5 recursive read-only mounts: mount_setattr answers", "[features][probes]") {
  CHECK(interpret_mount_setattr(-1, EINVAL).supported == true);
  CHECK(interpret_mount_setattr(-1, EBADF).supported == true);
  CHECK(interpret_mount_setattr(-1, ENOSYS).supported == false);
  CHECK(interpret_mount_setattr(-1, EPERM).supported == std::nullopt);  // seccomp
  CHECK(interpret_mount_setattr(-1, ENOMEM).supported == std::nullopt);
  CHECK(interpret_mount_setattr(-1, ENOSYS).detail.find("ENOSYS") != std::string::npos);
  // The real call: flags no kernel accepts, so nothing is ever changed.
  const ProbeAnswer live = probe_mount_setattr();
  CHECK_FALSE(live.detail.empty());
}

TEST_CASE("run_command: output, exit status, timeout, missing binary", "[features][probes]") {
  auto echo = run_command({"/bin/sh", "-c", "echo nftables v1.0.6; exit 3"}, 5s);
  REQUIRE(echo);
  CHECK(echo->output == "nftables v1.0.6\n");
  CHECK(echo->exit_status == 3);
  CHECK_FALSE(echo->timed_out);

  auto slow = run_command({"/bin/sh", "-c", "exec sleep 30"}, 100ms);
  REQUIRE(slow);
  CHECK(slow->timed_out);
  CHECK(slow->exit_status == -1);

  auto missing = run_command({"/nonexistent/nft", "--version"}, 1s);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("/nonexistent/nft") != std::string::npos);

  // No shell: an argument is passed as is.
  auto args = run_command({"/bin/echo", "a;b", "$HOME"}, 5s);
  REQUIRE(args);
  CHECK(args->output == "a;b $HOME\n");
}

TEST_CASE("facts §5 safe sysctls: the throwaway network namespace", "[features][probes][root]") {
  const std::vector<std::string> paths = {"/proc/sys/net/ipv4/tcp_syncookies",
                                          "/proc/sys/net/ipv4/no_such_sysctl",
                                          "/proc/sys/net/core/somaxconn"};
  auto r = check_paths_in_new_netns(paths, 5s);
  if (::geteuid() != 0) {
    // Without CAP_SYS_ADMIN the answer is "unknown", with the reason.
    if (!r) CHECK(r.error().message.find("CAP_SYS_ADMIN") != std::string::npos);
    return;
  }
  REQUIRE(r);
  REQUIRE(r->present.size() == 3);
  CHECK(r->present[0] == true);
  CHECK(r->present[1] == false);
  CHECK(r->present[2] == true);
}

TEST_CASE("statfs_type and the running kernel's release", "[features][probes]") {
  auto proc = statfs_type("/proc");
  REQUIRE(proc);
  CHECK(*proc == 0x9fa0);  // PROC_SUPER_MAGIC
  CHECK_FALSE(statfs_type("/nonexistent-nodehealth"));
  CHECK_FALSE(running_kernel_release().empty());
}
