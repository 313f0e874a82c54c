#include "agent/features/probes.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "nodehealth/unique_fd.h"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442  // the same number on every architecture since 5.12 (but alpha)
#endif

namespace nodehealth::features {
namespace {

using Clock = std::chrono::steady_clock;

std::string errno_name(int err) {
  switch (err) {
    case ENOSYS:
      return "ENOSYS";
    case EINVAL:
      return "EINVAL";
    case EPERM:
      return "EPERM";
    case EACCES:
      return "EACCES";
    case EBADF:
      return "EBADF";
    case ENOENT:
      return "ENOENT";
    case E2BIG:
      return "E2BIG";
    case EFAULT:
      return "EFAULT";
    default:
      return fmt::format("errno {}", err);
  }
}

// Reads from fd until EOF, `max` bytes or the deadline; false on timeout.
bool read_until(int fd, std::string& out, std::size_t max, Clock::time_point deadline) {
  char buf[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r == 0 ? false : true;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    if (out.size() < max)
      out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), max - out.size()));
  }
}

// Waits for our own child until the deadline, then kills it (SIGKILL) and reaps it.
// Returns the wait status and whether it had to be killed.
std::pair<int, bool> reap(pid_t pid, Clock::time_point deadline) {
  int status = 0;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return {status, false};
    if (r < 0 && errno != EINTR) return {0, false};
    if (Clock::now() >= deadline) break;
    const timespec ts{0, static_cast<long>(std::chrono::nanoseconds(pause).count())};
    ::nanosleep(&ts, nullptr);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {status, true};
}

// Child side: write all of buf (async-signal-safe).
void write_all(int fd, const void* buf, std::size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// A failure report from a child: 'E', the stage, then errno.
void child_fail(int fd, char stage, int err) {
  char msg[2 + sizeof(int)];
  msg[0] = 'E';
  msg[1] = stage;
  std::memcpy(msg + 2, &err, sizeof err);
  write_all(fd, msg, sizeof msg);
}

}  // namespace

ProbeAnswer interpret_mount_setattr(long rc, int err) {
  if (rc == 0) return {true, "mount_setattr(2) accepted the call: present (5.12+)"};
  switch (err) {
    case EINVAL:
    case EBADF:
    case E2BIG:
    case EFAULT:
      return {true, "mount_setattr(2) answered " + errno_name(err) +
                        " to invalid flags: the call exists"};
    case ENOSYS:
      return {false,
              "mount_setattr(2) answered ENOSYS: no such system call (or a seccomp filter "
              "hides it)"};
    case EPERM:
    case EACCES:
      return {std::nullopt, "mount_setattr(2) answered " + errno_name(err) +
                                ": blocked (a seccomp filter?), cannot tell"};
    default:
      return {std::nullopt, "mount_setattr(2) answered " + errno_name(err) + ": cannot tell"};
  }
}

ProbeAnswer probe_mount_setattr() {
  // Flags outside AT_EMPTY_PATH|AT_RECURSIVE|AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT are the first
  // thing the kernel checks: EINVAL before any path lookup or attribute change.
  errno = 0;
  const long rc = ::syscall(SYS_mount_setattr, -1, "", ~0u, nullptr, 0);
  return interpret_mount_setattr(rc, rc == 0 ? 0 : errno);
}

Result<NetnsCheck> check_paths_in_new_netns(const std::vector<std::string>& paths,
                                            std::chrono::milliseconds timeout) {
  std::vector<const char*> cpaths;
  cpaths.reserve(paths.size());
  for (const auto& p : paths) cpaths.push_back(p.c_str());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("pipe2", errno);
  UniqueFd rd(fds[0]), wr(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return errno_error("fork", errno);
  if (pid == 0) {
    // Child: async-signal-safe calls only (the agent has threads).
    if (::unshare(CLONE_NEWNET) != 0) {
      child_fail(wr.get(), 'u', errno);
      ::_exit(1);
    }
    write_all(wr.get(), "K", 1);
    for (const char* p : cpaths) {
      char c = 'e';
      const int fd = ::open(p, O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        char buf[256];
        c = ::read(fd, buf, sizeof buf) >= 0 ? '1' : 'e';
        ::close(fd);
      } else if (errno == ENOENT) {
        c = '0';
      }
      write_all(wr.get(), &c, 1);
    }
    ::_exit(0);
  }
  wr.reset();
  const auto deadline = Clock::now() + timeout;
  std::string out;
  const bool finished = read_until(rd.get(), out, 1 + paths.size() + 8, deadline);
  reap(pid, deadline);
  if (!finished) return fail("network namespace check: timed out");
  if (!out.empty() && out[0] == 'E' && out.size() >= 2 + sizeof(int)) {
    int err = 0;
    std::memcpy(&err, out.data() + 2, sizeof err);
    if (err == EPERM) return fail("unshare(CLONE_NEWNET): needs CAP_SYS_ADMIN", err);
    return errno_error("unshare(CLONE_NEWNET)", err);
  }
  if (out.size() != 1 + paths.size() || out[0] != 'K')
    return fail("network namespace check: the child exited early");
  NetnsCheck check;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const char c = out[1 + i];
    check.present.push_back(c == '1'   ? std::optional<bool>(true)
                            : c == '0' ? std::optional<bool>(false)
                                       : std::nullopt);
  }
  return check;
}

ProbeAnswer probe_tmpfs_noswap_mount(std::chrono::milliseconds timeout) {
  char dir[] = "/tmp/nodehealth-test-noswap-XXXXXX";
  if (::mkdtemp(dir) == nullptr)
    return {std::nullopt, fmt::format("test mount: mkdtemp /tmp: {}", std::strerror(errno))};
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ::rmdir(dir);
    return {std::nullopt, fmt::format("test mount: pipe2: {}", std::strerror(errno))};
  }
  UniqueFd rd(fds[0]), wr(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::rmdir(dir);
    return {std::nullopt, fmt::format("test mount: fork: {}", std::strerror(errno))};
  }
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0) {
      child_fail(wr.get(), 'u', errno);
      ::_exit(1);
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      child_fail(wr.get(), 'p', errno);
      ::_exit(1);
    }
    if (::mount("nodehealth-test", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "noswap,size=64k") != 0) {
      child_fail(wr.get(), 'm', errno);
      ::_exit(1);
    }
    ::umount2(dir, MNT_DETACH);
    write_all(wr.get(), "K", 1);
    ::_exit(0);
  }
  wr.reset();
  const auto deadline = Clock::now() + timeout;
  std::string out;
  const bool finished = read_until(rd.get(), out, 16, deadline);
  reap(pid, deadline);
  ::rmdir(dir);
  if (!finished) return {std::nullopt, "test mount: timed out"};
  if (out == "K") return {true, "a test mount of tmpfs with noswap succeeded"};
  if (out.size() >= 2 + sizeof(int) && out[0] == 'E') {
    int err = 0;
    std::memcpy(&err, out.data() + 2, sizeof err);
    if (out[1] == 'm' && err == EINVAL)
      return {false, "a test mount of tmpfs with noswap failed: EINVAL (unknown option)"};
    if (out[1] == 'u' && err == EPERM)
      return {std::nullopt, "test mount: unknown (needs CAP_SYS_ADMIN)"};
    return {std::nullopt, fmt::format("test mount: {}: {}",
                                      out[1] == 'u'   ? "unshare(CLONE_NEWNS)"
                                      : out[1] == 'p' ? "make / private"
                                                      : "mount",
                                      std::strerror(err))};
  }
  return {std::nullopt, "test mount: the child exited early"};
}

Result<uint64_t> statfs_type(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return errno_error("statfs " + path, errno);
  return static_cast<uint64_t>(static_cast<unsigned long>(st.f_type));
}

Result<CommandResult> run_command(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) {
  if (argv.empty()) return fail("run_command: no program");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char lang_env[] = "LC_ALL=C";
  char* envp[] = {path_env, lang_env, nullptr};

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("pipe2", errno);
  UniqueFd rd(fds[0]), wr(fds[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, cargv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errno_error("run " + argv[0], rc);
  wr.reset();
  const auto deadline = Clock::now() + timeout;
  CommandResult res;
  const bool finished = read_until(rd.get(), res.output, 64 * 1024, deadline);
  auto [status, killed] = reap(pid, finished ? deadline : Clock::now());
  res.timed_out = !finished || killed;
  res.exit_status = WIFEXITED(status) && !killed ? WEXITSTATUS(status) : -1;
  return res;
}

std::string running_kernel_release() {
  utsname u{};
  if (::uname(&u) != 0) return {};
  return u.release;
}

}  // namespace nodehealth::features
