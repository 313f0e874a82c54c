// Tests for agent/sandbox: the mode names, the config keys, that every syscall of the allowlist
// exists on this architecture, and (as root) the sandbox applied in a forked child with extra
// threads: every thread ends with the kept capabilities and the filter, and a forbidden call
// kills the child with SIGSYS. The privileged cases skip with a reason when not root, and fail
// instead when NODEHEALTH_REQUIRE_PRIVILEGED=1.
#include <seccomp.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "agent/config/config.h"
#include "agent/sandbox/sandbox.h"
#include "tests/unit/need.h"
#include "tests/unit/temp_dir.h"

namespace sb = nodehealth::sandbox;
namespace nc = nodehealth::config;
using nodehealth::testing::need;

namespace {

constexpr std::string_view kSources[] = {"meminfo"};

nodehealth::Result<nc::Config> load(nodehealth::testing::TempDir& dir, const std::string& body) {
  const std::string path = dir.write(
      "config.yaml", "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n" + body);
  return nc::load_config(path, std::nullopt, kSources);
}

// "Key:\tvalue" of /proc/thread-self/status.
std::string thread_status(const std::string& key) {
  std::ifstream in("/proc/thread-self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":\t", 0) == 0) return line.substr(key.size() + 2);
  return {};
}

// Runs fn in a forked child; returns the raw wait status.
template <typename Fn>
int in_child(Fn fn) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(fn());
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("sandbox: seccomp mode names", "[sandbox]") {
  CHECK(sb::parse_seccomp_mode("enforce").value() == sb::SeccompMode::kEnforce);
  CHECK(sb::parse_seccomp_mode("log").value() == sb::SeccompMode::kLog);
  CHECK(sb::parse_seccomp_mode("off").value() == sb::SeccompMode::kOff);
  auto bad = sb::parse_seccomp_mode("strict");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "sandbox.seccomp: want enforce|log|off, got \"strict\"");
  for (auto m : {sb::SeccompMode::kEnforce, sb::SeccompMode::kLog, sb::SeccompMode::kOff})
    CHECK(sb::parse_seccomp_mode(sb::to_string(m)).value() == m);
}

TEST_CASE("sandbox: config keys, defaults and errors with file and line", "[sandbox][config]") {
  nodehealth::testing::TempDir dir;
  auto def = load(dir, "");
  REQUIRE(def);
  CHECK(def->sandbox_seccomp == "enforce");
  CHECK(def->sandbox_drop_capabilities);
  auto set = load(dir, "sandbox:\n  seccomp: log\n  dropCapabilities: false\n");
  REQUIRE(set);
  CHECK(set->sandbox_seccomp == "log");
  CHECK_FALSE(set->sandbox_drop_capabilities);
  auto bad = load(dir, "sandbox:\n  seccomp: strict\n  dropCaps: true\n");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("config.yaml:4: sandbox.seccomp: must be "
                                                  "enforce, log or off, got \"strict\""));
  CHECK_THAT(bad.error().message, Catch::Contains("config.yaml:5: sandbox.dropCaps"));
  auto wrong_type = load(dir, "sandbox:\n  dropCapabilities: sometimes\n");
  REQUIRE_FALSE(wrong_type);
  CHECK_THAT(wrong_type.error().message, Catch::Contains("sandbox.dropCapabilities"));
}

TEST_CASE("sandbox: every syscall of the allowlist exists on this architecture", "[sandbox]") {
  int n = 0;
  for (const auto& group : sb::allowed_syscalls()) {
    CHECK_FALSE(group.why.empty());
    for (auto name : group.names) {
      INFO(name);
      CHECK(seccomp_syscall_resolve_name(std::string(name).c_str()) >= 0);
      ++n;
    }
  }
  CHECK(n > 50);
  CHECK(n < 100);
}

TEST_CASE("sandbox: the kept capabilities are read-search and ptrace-read only", "[sandbox]") {
  std::vector<std::string_view> names;
  for (const auto& k : sb::kept_capabilities()) {
    CHECK_FALSE(k.why.empty());
    names.push_back(k.name);
  }
  CHECK(names == std::vector<std::string_view>{"cap_dac_read_search", "cap_sys_ptrace"});
}

TEST_CASE("sandbox: applied in a process with threads, every thread is reduced and filtered",
          "[sandbox][privileged]") {
  if (!need(::geteuid() == 0, "not root: the sandbox's privileged test")) return;
  // The child: three threads wait, the sandbox goes on, each thread then checks its own sets.
  const int status = in_child([] {
    std::atomic<bool> go{false};
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i)
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (thread_status("CapEff") == "0000000000080004" &&
            thread_status("CapBnd") == "0000000000080004" &&
            thread_status("CapPrm") == "0000000000080004" && thread_status("Seccomp") == "2" &&
            thread_status("NoNewPrivs") == "1")
          ++good;
      });
    auto r = sb::apply({sb::SeccompMode::kEnforce, true});
    go = true;
    for (auto& t : threads) t.join();
    if (!r || r->threads != 4 || good.load() != 3 || !sb::restricted()) return 1;
    // Outside the allowlist: the kernel kills the whole process. (getpgid(2), harmless if it
    // went through; not ptrace(2), which the AddressSanitizer build allows for LeakSanitizer.)
    ::syscall(SYS_getpgid, 0);
    return 2;
  });
  INFO("wait status " << status << " (1: the sandbox was not applied; 2: not killed)");
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSYS);
}

TEST_CASE("sandbox: log mode lets a forbidden call through", "[sandbox][privileged]") {
  if (!need(::geteuid() == 0, "not root: the sandbox's privileged test")) return;
  const int status = in_child([] {
    auto r = sb::apply({sb::SeccompMode::kLog, true});
    if (!r) return 1;
    // getpgid(2) is not in the allowlist: logged to the audit log, and the process lives on.
    if (::syscall(SYS_getpgid, 0) < 0) return 4;
    return thread_status("Seccomp") == "2" ? 0 : 3;
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

// README.md's "Least privilege" section lists the kept capabilities and every allowed system
// call with its reason: it must say exactly what the code does.
TEST_CASE("sandbox: the README's least-privilege tables are the code's", "[sandbox]") {
  std::ifstream f(std::string(NODEHEALTH_FIXTURES) + "/../../README.md");
  REQUIRE(f.good());
  const std::string readme((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto begin = readme.find("\n### Least privilege\n");
  REQUIRE(begin != std::string::npos);
  const auto end = readme.find("\n## ", begin);
  const std::string section = readme.substr(begin, end - begin);

  for (const auto& kept : sb::kept_capabilities()) {
    std::string upper;
    for (char c : kept.name)
      upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    INFO(upper);
    CHECK(section.find("| `" + upper + "` |") != std::string::npos);
  }
  // The rows of the system-call table: "| `a`, `b` | why |", one per group, in the code's order.
  std::vector<std::string> rows;
  for (std::size_t at = section.find("\n  | `"); at != std::string::npos;
       at = section.find("\n  | `", at + 1)) {
    const std::string line = section.substr(at + 3, section.find('\n', at + 1) - at - 3);
    if (line.find("CAP_") == std::string::npos) rows.push_back(line);
  }
  const auto groups = sb::allowed_syscalls();
  REQUIRE(rows.size() == groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    std::string names;
    for (const auto& n : groups[i].names)
      names += (names.empty() ? "`" : ", `") + std::string(n) + "`";
    INFO(rows[i]);
    CHECK(rows[i] == "| " + names + " | " + std::string(groups[i].why) + " |");
  }
}
