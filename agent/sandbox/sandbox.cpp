#include "agent/sandbox/sandbox.h"

#include <dirent.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#ifndef SECBIT_NOROOT
#include <linux/securebits.h>
#endif

namespace nodehealth::sandbox {
namespace {

// What the steady state still needs (README "Least privilege" has the full story).
constexpr std::array<KeptCapability, 2> kKept = {{
    {CAP_DAC_READ_SEARCH, "cap_dac_read_search",
     "read the host's files and directories whatever their owner and mode: kubelet config "
     "drop-ins, the checkpoint directory, cgroup and /proc files under --host-root"},
    {CAP_SYS_PTRACE, "cap_sys_ptrace",
     "read /proc/<pid>/smaps_rollup of every process (checkpoint estimates): the kernel allows "
     "it for other users' processes only with CAP_SYS_PTRACE (ptrace(2) itself is not in the "
     "allowlist)"},
}};

// Syscalls by purpose, found by strace -f of every thread in the steady state (scrapes, fork
// and memory pressure, the Kubernetes sink through an API outage) and by running the e2e suite
// under the filter; the rare paths (a DNS lookup on a curl resolver thread, a kubelet config
// reload, shutdown) are in too. clone (threads only), clone3 (ENOSYS: glibc falls back to
// clone, whose flags a filter can see), socket (by domain) and ioctl (by request) get argument
// rules in install_filter().
const std::array<AllowedSyscalls, 11> kAllowed = {{
    {"memory: malloc arenas, thread stacks, ring buffer and map mmaps",
     {"brk", "mmap", "munmap", "mremap", "mprotect", "madvise"}},
    {"threads: the statfs worker, the Kubernetes worker and curl's resolver threads start and "
     "end (clone only with CLONE_THREAD: no new processes); locks, sleeps and the clock",
     {"clone", "futex", "set_robust_list", "rseq", "exit", "exit_group", "gettid", "getpid",
      "sched_yield", "nanosleep", "clock_nanosleep", "clock_gettime"}},
    {"signals: the event loop's mask, abort() on a fatal error, restarted calls",
     {"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "tgkill", "restart_syscall"}},
    {"files: /proc, /sys and cgroup files, the kubelet's config files and drop-in directory, "
     "the checkpoint directory, the service account token, /etc/hosts and resolv.conf for DNS, "
     "CA certificates for TLS; ioctl only FIONREAD, FIONBIO, TCGETS and "
     "PERF_EVENT_IOC_DISABLE (libbpf detaching a tracepoint link at shutdown)",
     {"openat", "read", "pread64", "write", "writev", "close", "lseek", "newfstatat", "fstat",
      "statx", "getdents64", "readlink", "access", "faccessat", "fcntl", "ioctl"}},
    {"filesystems: statfs of nodefs and imagefs on the worker thread, and on the event loop "
     "after a filesystem event (local filesystems only)",
     {"statfs", "fstatfs"}},
    {"event loop and waits: epoll on the timerfds, signalfd, PSI trigger, ring buffer, "
     "inotify and fanotify fds; civetweb's and curl's poll; wake-up pipes of curl",
     {"epoll_wait", "epoll_pwait", "epoll_ctl", "poll", "ppoll", "timerfd_settime", "pipe2",
      "eventfd2", "socketpair"}},
    {"kubelet config watch: inotify watches re-added after a directory is replaced",
     {"inotify_add_watch", "inotify_rm_watch"}},
    {"network: scrapes accepted on the socket bound before the sandbox, HTTPS to the API "
     "server, DNS over UDP, glibc's netlink check of local addresses, the systemd notify "
     "socket; socket() only for AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK",
     {"socket", "connect", "bind", "accept", "accept4", "getsockname", "getpeername", "setsockopt",
      "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "shutdown"}},
    {"eBPF: map reads and writes (the fork probe's wake-up marks), ring buffers and program "
     "stats of the probes loaded before the sandbox",
     {"bpf"}},
    {"identity and randomness: TLS and hash seeds, curl's and glibc's questions",
     {"getrandom", "uname", "getuid", "geteuid", "getgid", "getegid"}},
    {"the sandbox itself: a thread that was blocked in the kernel (a hung statfs) when the "
     "sandbox went on drops its capabilities when it returns, under the filter",
     {"capset", "prctl"}},
}};

constexpr int kSignal = 40;  // SIGRTMIN (34 with glibc) + 6: nothing else in the agent uses it

std::atomic<bool> g_restricted{false};

// Per-thread acknowledgements, written by the signal handler (async-signal-safe: atomics only).
struct Ack {
  std::atomic<pid_t> tid{0};
  std::atomic<int> err{0};
};
constexpr std::size_t kMaxThreads = 1024;
std::array<Ack, kMaxThreads> g_acks;
std::atomic<std::size_t> g_ack_count{0};
uint64_t g_keep = 0;
int g_last_cap = 0;

template <typename T>
std::optional<T> to_number(std::string_view s, int base = 10) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

pid_t gettid_raw() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Drops this thread's capabilities to g_keep: bounding set, ambient set, securebits (root
// gains nothing from execve, locked), permitted/effective/inheritable, then no_new_privs.
// Idempotent, and async-signal-safe (raw prctl/capset only). Returns 0 or an errno.
int drop_this_thread() {
  for (int cap = 0; cap <= g_last_cap; ++cap) {
    if (g_keep & (uint64_t{1} << cap)) continue;
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
      return errno;
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return errno;
  const int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                   SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  const int now = ::prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
  if (now >= 0 && (now & bits) != bits && ::prctl(PR_SET_SECUREBITS, now | bits, 0, 0, 0) != 0)
    return errno;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = data[0].permitted = static_cast<uint32_t>(g_keep);
  data[1].effective = data[1].permitted = static_cast<uint32_t>(g_keep >> 32);
  if (::syscall(SYS_capset, &hdr, data) != 0) return errno;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  return 0;
}

void on_signal(int) {
  const int saved = errno;
  const int err = drop_this_thread();
  const std::size_t i = g_ack_count.fetch_add(1);
  if (i < kMaxThreads) {
    g_acks[i].err.store(err);
    g_acks[i].tid.store(gettid_raw());
  }
  errno = saved;
}

std::vector<pid_t> threads() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    if (auto n = to_number<pid_t>(e->d_name)) out.push_back(*n);
  }
  ::closedir(d);
  return out;
}

// A line "Key:\tvalue" of /proc/self/task/<tid>/status.
std::string task_status(pid_t tid, std::string_view key) {
  std::ifstream in(fmt::format("/proc/self/task/{}/status", tid));
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':') {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return {};
}

bool signal_blocked(pid_t tid) {
  const std::string blk = task_status(tid, "SigBlk");
  auto mask = to_number<uint64_t>(blk, 16);
  return mask && (*mask & (uint64_t{1} << (kSignal - 1)));
}

Result<int> last_cap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int n = -1;
  if (!(in >> n) || n < 0 || n > 63) return fail("read /proc/sys/kernel/cap_last_cap");
  return n;
}

// Every thread drops its capabilities: the others in a signal handler (credentials are per
// thread: capset(2) and PR_CAPBSET_DROP change only the caller), then this one.
Result<Report> drop_everywhere() {
  auto last = last_cap();
  if (!last) return std::unexpected(last.error());
  g_last_cap = *last;
  g_keep = 0;
  for (const auto& k : kKept) g_keep |= uint64_t{1} << k.cap;
  g_ack_count.store(0);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(kSignal, &sa, nullptr) != 0) return errno_error("sigaction", errno);

  const pid_t self = gettid_raw();
  const pid_t pid = ::getpid();
  std::set<pid_t> signalled, done, blocked;
  Report report;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    const std::size_t n = std::min(g_ack_count.load(), kMaxThreads);
    for (std::size_t i = 0; i < n; ++i) {
      const pid_t tid = g_acks[i].tid.load();
      if (tid == 0) continue;  // the handler is between its two stores
      if (int err = g_acks[i].err.load(); err != 0)
        return errno_error(fmt::format("drop capabilities in thread {}", tid), err);
      done.insert(tid);
    }
    std::vector<pid_t> waiting;
    for (pid_t tid : threads()) {
      if (tid == self || done.count(tid)) continue;
      waiting.push_back(tid);
      if (!signalled.count(tid)) {
        // A thread glibc is still starting has every signal blocked for a moment: ask again on
        // the next round, and fail only if it still blocks the signal at the deadline.
        if (signal_blocked(tid)) {
          blocked.insert(tid);
          continue;
        }
        blocked.erase(tid);
        signalled.insert(tid);
        if (::syscall(SYS_tgkill, pid, tid, kSignal) != 0 && errno != ESRCH)
          return errno_error(fmt::format("tgkill {}", tid), errno);
      }
    }
    if (waiting.empty()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (pid_t tid : blocked)
        if (std::find(waiting.begin(), waiting.end(), tid) != waiting.end())
          return fail(fmt::format("thread {} blocks signal {}: it cannot drop its capabilities",
                                  tid, kSignal));
      // Threads blocked in the kernel (a statfs of a hung NFS server) run the handler before
      // they return to user space: they cannot act with their capabilities in between.
      for (pid_t tid : waiting) {
        spdlog::warn(
            "sandbox: thread blocked in the kernel drops its capabilities on return "
            "tid={} state=\"{}\"",
            tid, task_status(tid, "State"));
        ++report.pending;
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (int err = drop_this_thread(); err != 0)
    return errno_error("drop capabilities in the main thread", err);
  report.threads = static_cast<int>(done.size()) + 1;
  for (const auto& k : kKept) {
    if (!report.kept.empty()) report.kept += ',';
    report.kept += k.name;
  }
  return report;
}

struct FilterDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

Result<int> install_filter(SeccompMode mode) {
  std::unique_ptr<void, FilterDeleter> ctx(
      seccomp_init(mode == SeccompMode::kLog ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS));
  if (!ctx) return fail("seccomp_init failed");
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc != 0)
    return errno_error("seccomp: thread sync", -rc);
  if (mode == SeccompMode::kLog) (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_LOG, 1);
  int rules = 0;
  auto add = [&](int nr, uint32_t action, std::initializer_list<scmp_arg_cmp> args,
                 std::string_view name) -> Result<void> {
    const int rc = seccomp_rule_add_array(ctx.get(), action, nr, static_cast<unsigned>(args.size()),
                                          args.size() ? args.begin() : nullptr);
    if (rc != 0) return errno_error(fmt::format("seccomp: rule for {}", name), -rc);
    ++rules;
    return {};
  };
  for (const auto& group : kAllowed) {
    for (std::string_view name : group.names) {
      const std::string n(name);
      const int nr = seccomp_syscall_resolve_name(n.c_str());
      if (nr == __NR_SCMP_ERROR || nr < 0) continue;  // not on this architecture (open, stat)
      if (name == "clone") {
        // Threads only: a new process would escape nothing (it inherits the filter) but the
        // steady state never forks.
        if (auto r = add(nr, SCMP_ACT_ALLOW,
                         {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)}, name);
            !r)
          return std::unexpected(r.error());
      } else if (name == "ioctl") {
        for (uint64_t req : {uint64_t(FIONREAD), uint64_t(FIONBIO), uint64_t(TCGETS),
                             uint64_t(PERF_EVENT_IOC_DISABLE)})
          if (auto r = add(nr, SCMP_ACT_ALLOW, {SCMP_A1(SCMP_CMP_EQ, uint64_t(req))}, name); !r)
            return std::unexpected(r.error());
      } else if (name == "socket") {
        for (int domain : {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK})
          if (auto r = add(nr, SCMP_ACT_ALLOW, {SCMP_A0(SCMP_CMP_EQ, uint64_t(domain))}, name); !r)
            return std::unexpected(r.error());
      } else if (auto r = add(nr, SCMP_ACT_ALLOW, {}, name); !r) {
        return std::unexpected(r.error());
      }
    }
  }
  // clone3 takes its flags in memory a filter cannot read: ENOSYS makes glibc use clone.
  if (auto r = add(SCMP_SYS(clone3), SCMP_ACT_ERRNO(ENOSYS), {}, "clone3"); !r)
    return std::unexpected(r.error());
#if defined(__SANITIZE_ADDRESS__)
  // The AddressSanitizer build (`make test SANITIZE=1`) only: its runtime gives every thread an
  // alternate signal stack, and LeakSanitizer's check at exit stops the threads from a tracer
  // task (clone without CLONE_THREAD, ptrace, wait4, getppid) that reads /proc/self/task with
  // the legacy open and getdents. The shipped build has none of these.
  for (const char* name : {"sigaltstack", "ptrace", "wait4", "getppid", "open", "getdents"})
    if (auto r = add(seccomp_syscall_resolve_name(name), SCMP_ACT_ALLOW, {}, name); !r)
      return std::unexpected(r.error());
  if (auto r = add(SCMP_SYS(clone), SCMP_ACT_ALLOW, {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)},
                   "clone (LeakSanitizer)");
      !r)
    return std::unexpected(r.error());
#endif
  if (int rc = seccomp_load(ctx.get()); rc != 0) return errno_error("seccomp_load", -rc);
  return rules;
}

}  // namespace

Result<SeccompMode> parse_seccomp_mode(std::string_view text) {
  if (text == "enforce") return SeccompMode::kEnforce;
  if (text == "log") return SeccompMode::kLog;
  if (text == "off") return SeccompMode::kOff;
  return fail(fmt::format("sandbox.seccomp: want enforce|log|off, got \"{}\"", text));
}

std::string_view to_string(SeccompMode mode) {
  switch (mode) {
    case SeccompMode::kEnforce:
      return "enforce";
    case SeccompMode::kLog:
      return "log";
    case SeccompMode::kOff:
      return "off";
  }
  return "?";
}

std::span<const KeptCapability> kept_capabilities() { return kKept; }
std::span<const AllowedSyscalls> allowed_syscalls() { return kAllowed; }

bool restricted() { return g_restricted.load(); }

Result<Report> apply(const Options& options) {
  Report report;
  if (options.drop_capabilities) {
    auto r = drop_everywhere();
    if (!r) return std::unexpected(with_context("sandbox", r.error()));
    report = *r;
    g_restricted.store(true);
  } else if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return errno_error("sandbox: no_new_privs", errno);
  }
  if (options.seccomp != SeccompMode::kOff) {
    auto rules = install_filter(options.seccomp);
    if (!rules) return std::unexpected(with_context("sandbox", rules.error()));
    report.syscalls = *rules;
    g_restricted.store(true);
  }
  return report;
}

void test_hook_tick() {
  static const long after = [] {
    const char* env = std::getenv("NODEHEALTH_TEST_FORBIDDEN_SYSCALL");
    auto n = env ? to_number<long>(env) : std::nullopt;
    return n ? *n : 0L;
  }();
  static long ticks = 0;
  if (after <= 0 || ++ticks != after) return;
  spdlog::warn("sandbox test: making a forbidden system call: mount(2) after {} ticks", ticks);
  // A file system type that does not exist: with CAP_SYS_ADMIN it fails ENODEV, without EPERM.
  const long rc = ::syscall(SYS_mount, "none", "/", "nodehealth-test-nonexistent", 0, nullptr);
  spdlog::warn("sandbox test: forbidden system call returned rc={} errno={}", rc,
               rc == 0 ? 0 : errno);
}

}  // namespace nodehealth::sandbox
