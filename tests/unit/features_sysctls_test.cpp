// The pod safe-sysctl set and the namespacing rules of facts §5, as pure functions, and the
// kubelet's allowedUnsafeSysctls check built on them.
#include <catch2/catch.hpp>

#include <map>

#include "agent/features/sysctls.h"

using namespace nodehealth::features;

TEST_CASE("facts §5 safe sysctls: every row with its minimum kernel", "[features][sysctl]") {
  const std::map<std::string, std::string> want = {
      {"kernel.shm_rmid_forced", ""},
      {"net.ipv4.ip_local_port_range", ""},
      {"net.ipv4.tcp_syncookies", ""},
      {"net.ipv4.ping_group_range", ""},
      {"net.ipv4.ip_unprivileged_port_start", ""},
      {"net.ipv4.ip_local_reserved_ports", "3.16"},
      {"net.ipv4.tcp_keepalive_time", "4.5"},
      {"net.ipv4.tcp_keepalive_intvl", "4.5"},
      {"net.ipv4.tcp_keepalive_probes", "4.5"},
      {"net.ipv4.tcp_fin_timeout", "4.6"},
      {"net.ipv4.tcp_notsent_lowat", "4.6"},
      {"net.ipv4.tcp_rmem", "4.15"},
      {"net.ipv4.tcp_wmem", "4.15"},
      {"net.ipv4.tcp_slow_start_after_idle", "4.15"},
  };
  std::map<std::string, std::string> got;
  for (const auto& s : safe_sysctls()) got[s.name] = s.min_kernel ? s.min_kernel->to_string() : "";
  CHECK(got == want);
}

TEST_CASE("facts §5 namespacing: the rules as a table", "[features][sysctl]") {
  struct Row {
    const char* name;
    SysctlNamespace ns;
  };
  const Row rows[] = {
      // exact kernel.sem and the kernel.shm*/kernel.msg* names -> ipc
      {"kernel.sem", SysctlNamespace::kIpc},
      {"kernel.shmall", SysctlNamespace::kIpc},
      {"kernel.shmmax", SysctlNamespace::kIpc},
      {"kernel.shmmni", SysctlNamespace::kIpc},
      {"kernel.shm_rmid_forced", SysctlNamespace::kIpc},
      {"kernel.msgmax", SysctlNamespace::kIpc},
      {"kernel.msgmnb", SysctlNamespace::kIpc},
      {"kernel.msgmni", SysctlNamespace::kIpc},
      {"kernel.shm", SysctlNamespace::kIpc},  // the stem of the pattern kernel.shm*
      {"kernel.msg", SysctlNamespace::kIpc},
      {"kernel.semfoo", SysctlNamespace::kNone},  // kernel.sem is exact
      {"kernel.sem_next_id", SysctlNamespace::kNone},
      // prefix fs.mqueue. -> ipc
      {"fs.mqueue.msg_max", SysctlNamespace::kIpc},
      {"fs.mqueue", SysctlNamespace::kNone},
      {"fs.file-max", SysctlNamespace::kNone},
      // prefix net. -> net
      {"net.core.somaxconn", SysctlNamespace::kNet},
      {"net.ipv4.conf.eno2/100.rp_filter", SysctlNamespace::kNet},
      {"net", SysctlNamespace::kNone},
      {"network.foo", SysctlNamespace::kNone},
      // kernel.domainname -> uts
      {"kernel.domainname", SysctlNamespace::kUts},
      {"kernel.hostname", SysctlNamespace::kNone},
      // prefix user. -> user
      {"user.max_user_namespaces", SysctlNamespace::kUser},
      // anything else is not namespaced
      {"vm.swappiness", SysctlNamespace::kNone},
      {"kernel.pid_max", SysctlNamespace::kNone},
      {"", SysctlNamespace::kNone},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(namespace_of(r.name) == r.ns);
  }
}

TEST_CASE("facts §5 namespacing: '/' separators are swapped when the first separator is '/'",
          "[features][sysctl]") {
  CHECK(normalize_sysctl_name("net/ipv4/conf/eno2.100/rp_filter") ==
        "net.ipv4.conf.eno2/100.rp_filter");
  CHECK(normalize_sysctl_name("net.ipv4.conf.eno2/100.rp_filter") ==
        "net.ipv4.conf.eno2/100.rp_filter");
  CHECK(normalize_sysctl_name("kernel/shm_rmid_forced") == "kernel.shm_rmid_forced");
  CHECK(normalize_sysctl_name("kernel") == "kernel");
  CHECK(normalize_sysctl_name("") == "");
  CHECK(sysctl_namespace("fs/mqueue/msg_max").ns == SysctlNamespace::kIpc);
  CHECK(sysctl_namespace("net/core/somaxconn").ns == SysctlNamespace::kNet);
  CHECK(sysctl_namespace("kernel/domainname").ns == SysctlNamespace::kUts);
}

TEST_CASE("facts §5 namespacing: patterns are cut at the first '*'", "[features][sysctl]") {
  auto p = sysctl_namespace("net.ipv6.neigh.*");
  CHECK(p.ns == SysctlNamespace::kNet);
  CHECK(p.sysctl_or_prefix == "net.ipv6.neigh.");
  CHECK(p.prefixed);
  CHECK(sysctl_namespace("kernel.shm*").ns == SysctlNamespace::kIpc);
  CHECK(sysctl_namespace("kernel.msg*").ns == SysctlNamespace::kIpc);
  CHECK(sysctl_namespace("fs.mqueue.*").ns == SysctlNamespace::kIpc);
  CHECK(sysctl_namespace("user.*").ns == SysctlNamespace::kUser);
  CHECK(sysctl_namespace("net*").ns == SysctlNamespace::kNone);  // "net" is no "net." prefix
  CHECK(sysctl_namespace("kernel.*").ns == SysctlNamespace::kNone);
  CHECK_FALSE(sysctl_namespace("net.core.somaxconn").prefixed);
}

TEST_CASE("facts §5 allowedUnsafeSysctls: the kubelet rejects what is not namespaced",
          "[features][sysctl]") {
  auto ok = check_unsafe_sysctl("net.core.somaxconn");
  CHECK(ok.accepted);
  CHECK(ok.ns == SysctlNamespace::kNet);
  CHECK(ok.reason.empty());

  auto host = check_unsafe_sysctl("kernel.hostname");
  CHECK_FALSE(host.accepted);
  CHECK(host.reason == "the sysctls \"kernel.hostname\" are not known to be namespaced");

  auto vm = check_unsafe_sysctl("vm.*");
  CHECK_FALSE(vm.accepted);
  CHECK(vm.reason == "the sysctls \"vm.\" are not known to be namespaced");

  auto slash = check_unsafe_sysctl("net/ipv4/conf/eno2.100/rp_filter");
  CHECK(slash.accepted);

  auto bad = check_unsafe_sysctl("Net.Core");
  CHECK_FALSE(bad.accepted);
  CHECK(bad.reason ==
        "sysctl \"Net.Core\" must have at most 253 characters and match regex "
        "([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]");
  CHECK_FALSE(check_unsafe_sysctl(std::string(254, 'a')).accepted);
  CHECK_FALSE(check_unsafe_sysctl("net..core").accepted);
  CHECK_FALSE(check_unsafe_sysctl("").accepted);

  auto safe = check_unsafe_sysctl("kernel.shm_rmid_forced");
  CHECK(safe.accepted);
  CHECK(safe.safe);
  CHECK(check_unsafe_sysctl("kernel.msg*").accepted);
  CHECK(check_unsafe_sysctl("kernel.domainname").accepted);
  CHECK(check_unsafe_sysctl("user.max_user_namespaces").accepted);
}

TEST_CASE("split_list drops blanks", "[features][sysctl]") {
  CHECK(split_list("a, b,,c ") == std::vector<std::string>{"a", "b", "c"});
  CHECK(split_list("").empty());
  CHECK(split_list(",").empty());
}
