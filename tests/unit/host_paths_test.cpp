#include <catch2/catch.hpp>

#include "nodehealth/host_paths.h"

using nodehealth::HostPaths;

TEST_CASE("host paths on a plain host are the paths themselves", "[host_paths]") {
  const HostPaths p = HostPaths::under("/");
  CHECK(p.proc == "/proc");
  CHECK(p.sys == "/sys");
  CHECK(p.proc_file("meminfo") == "/proc/meminfo");
  CHECK(p.host("/var/lib/kubelet") == "/var/lib/kubelet");
  CHECK(p.host("/") == "/");
  CHECK(p.host("/sys/fs/cgroup/unified") == "/sys/fs/cgroup/unified");
}

TEST_CASE("host paths under /host map /proc, /sys and the rest", "[host_paths]") {
  const HostPaths p = HostPaths::under("/host/");
  CHECK(p.proc == "/host/proc");
  CHECK(p.sys_file("/class/net/eth0/carrier") == "/host/sys/class/net/eth0/carrier");
  CHECK(p.host("/sys/fs/cgroup/memory") == "/host/sys/fs/cgroup/memory");
  CHECK(p.host("/proc/1/mountinfo") == "/host/proc/1/mountinfo");
  CHECK(p.host("/var/lib/kubelet") == "/host/var/lib/kubelet");
  CHECK(p.host("/") == "/host");
  // "/system" is not under "/sys", "/process" not under "/proc".
  CHECK(p.host("/system/x") == "/host/system/x");
  CHECK(p.host("/processes") == "/host/processes");
}

TEST_CASE("explicit proc and sys roots win over the host root", "[host_paths]") {
  const HostPaths p = HostPaths::under("/fixture", "/other/proc", "/other/sys");
  CHECK(p.proc_file("loadavg") == "/other/proc/loadavg");
  CHECK(p.host("/sys/fs/cgroup") == "/other/sys/fs/cgroup");
  CHECK(p.host("/sys") == "/other/sys");
  CHECK(p.host("/etc") == "/fixture/etc");
}
