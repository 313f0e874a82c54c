// Least privilege for `nodehealth run`: once everything privileged is done (probes loaded and
// attached, tracefs mounted, the HTTP socket bound, the first sample taken), every thread of the
// process drops the capabilities the steady state does not need (bounding, permitted,
// effective, inheritable and ambient sets), sets no_new_privs, and the process installs a
// seccomp allowlist of exactly the system calls the steady state makes, on every thread at once
// (SECCOMP_FILTER_FLAG_TSYNC). Anything else kills the process with SIGSYS (enforce), or is
// allowed and logged to the kernel's audit log (log).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/result.h"

namespace nodehealth::sandbox {

enum class SeccompMode { kEnforce, kLog, kOff };

Result<SeccompMode> parse_seccomp_mode(std::string_view text);  // enforce|log|off
std::string_view to_string(SeccompMode mode);

struct Options {
  SeccompMode seccomp = SeccompMode::kEnforce;  // sandbox.seccomp
  bool drop_capabilities = true;                // sandbox.dropCapabilities
};

// The capabilities every thread keeps (all others leave every set, the bounding set included).
struct KeptCapability {
  int cap;
  std::string_view name;
  std::string_view why;
};
std::span<const KeptCapability> kept_capabilities();

// The system calls the allowlist permits, by name, with the reason for each group.
struct AllowedSyscalls {
  std::string_view why;
  std::vector<std::string_view> names;
};
std::span<const AllowedSyscalls> allowed_syscalls();

struct Report {
  int threads = 0;   // threads that dropped their capabilities
  int pending = 0;   // threads blocked in the kernel: they drop on their way out
  int syscalls = 0;  // rules in the seccomp filter
  std::string kept;  // "cap_dac_read_search,cap_sys_ptrace"
};

// Applies the sandbox to the whole process. Call from the main thread, once, after the
// privileged setup. An error leaves the process as privileged as it was (nothing is half
// applied: capabilities drop only once every thread can; the filter loads on all threads or on
// none).
Result<Report> apply(const Options& options);

// True once apply() dropped capabilities or installed a filter: what needs privileges (the
// features source's probes in a new namespace, `nft --version`) must not run again.
bool restricted();

// Tests only: with NODEHEALTH_TEST_FORBIDDEN_SYSCALL=N in the environment, the N-th call (one
// per tick) makes a system call outside the allowlist (mount(2) of a file system type that does
// not exist: harmless when allowed), so that a test sees the process killed with SIGSYS.
void test_hook_tick();

}  // namespace nodehealth::sandbox
