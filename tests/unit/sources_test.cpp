// Every source against the fixture trees (tests/fixtures/<case>/, see each
// PROVENANCE): real captures from a hybrid Debian 12 node and hand-made pure v2,
// pure v1 and garbage trees.
#include <catch2/catch.hpp>

#include <future>

#include "agent/config/config.h"
#include "agent/sources/sources.h"

using namespace nodehealth;
using namespace nodehealth::sources;

namespace {

HostPaths fixture(const std::string& name) {
  return HostPaths::under(std::string(NODEHEALTH_FIXTURES) + "/" + name);
}

Sample collect(Source& src, Result<void>* out = nullptr) {
  Sample s;
  auto r = src.collect(s);
  if (out) *out = r;
  return s;
}

}  // namespace

TEST_CASE("meminfo source reads MemTotal from the fixture", "[sources]") {
  auto src = make_meminfo_source(fixture("debian12-hybrid"));
  CHECK(src->name() == "meminfo");
  Result<void> r;
  Sample s = collect(*src, &r);
  REQUIRE(r);
  REQUIRE(s.meminfo);
  CHECK(s.meminfo->mem_total_bytes > 1024ull * 1024 * 1024);
}

TEST_CASE("meminfo source on garbage fails naming the file and leaves no data", "[sources]") {
  auto src = make_meminfo_source(fixture("garbage"));
  Result<void> r;
  Sample s = collect(*src, &r);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("/garbage/proc/meminfo") != std::string::npos);
  CHECK_FALSE(s.meminfo);
}

TEST_CASE("pids source: tasks from loadavg, pid_max and threads-max", "[sources]") {
  auto src = make_pids_source(fixture("cgroup-v2"));
  Result<void> r;
  Sample s = collect(*src, &r);
  REQUIRE(r);
  REQUIRE(s.pids);
  REQUIRE(s.loadavg);
  CHECK(s.pids->tasks == s.loadavg->tasks);
  CHECK(s.pids->pid_max > 0);
  CHECK(s.pids->threads_max > 0);
  Result<void> bad;
  collect(*make_pids_source(fixture("garbage")), &bad);
  CHECK_FALSE(bad);
}

TEST_CASE("psi source: present on v2, absent PSI is no data and not an error", "[sources]") {
  Result<void> r;
  Sample v2 = collect(*make_psi_source(fixture("cgroup-v2")), &r);
  REQUIRE(r);
  CHECK(v2.psi.cpu);
  CHECK(v2.psi.memory);
  CHECK(v2.psi.io);
  CHECK(v2.psi.memory->full);

  Sample v1 = collect(*make_psi_source(fixture("cgroup-v1")), &r);
  CHECK(r);  // kernel without PSI: the source is up, with no data
  CHECK_FALSE(v1.psi.cpu);
  CHECK_FALSE(v1.psi.memory);

  collect(*make_psi_source(fixture("garbage")), &r);
  CHECK_FALSE(r);
}

TEST_CASE("facts §1 cgroup_memory on a hybrid node uses v1 (unified has no controllers)",
          "[sources]") {
  Result<void> r;
  Sample s = collect(*make_cgroup_memory_source(fixture("debian12-hybrid")), &r);
  REQUIRE(r);
  REQUIRE(s.root_memory);
  CHECK(s.root_memory->version == CgroupMemory::Version::kV1);
  CHECK(s.root_memory->path.ends_with("/sys/fs/cgroup/memory/memory.usage_in_bytes"));
  CHECK(s.root_memory->usage_bytes > 0);
  CHECK(s.root_memory->inactive_file_bytes > 0);
}

TEST_CASE("facts §1 cgroup_memory on v2: usage = anon + file of the root memory.stat",
          "[sources]") {
  Result<void> r;
  Sample s = collect(*make_cgroup_memory_source(fixture("cgroup-v2")), &r);
  REQUIRE(r);
  REQUIRE(s.root_memory);
  CHECK(s.root_memory->version == CgroupMemory::Version::kV2);
  CHECK(s.root_memory->usage_bytes == 2145386496ull + 4120231936ull);  // anon + file
}

TEST_CASE("cgroup_memory on pure v1 and on garbage", "[sources]") {
  Result<void> r;
  Sample s = collect(*make_cgroup_memory_source(fixture("cgroup-v1")), &r);
  REQUIRE(r);
  CHECK(s.root_memory->version == CgroupMemory::Version::kV1);
  collect(*make_cgroup_memory_source(fixture("garbage")), &r);
  CHECK_FALSE(r);
}

TEST_CASE("network source: default route interface, operstate and carrier", "[sources]") {
  Result<void> r;
  Sample s = collect(*make_network_source(fixture("debian12-hybrid")), &r);
  REQUIRE(r);
  REQUIRE(s.network);
  CHECK(s.network->default_route);
  CHECK(s.network->interface == "eth0");
  CHECK(s.network->operstate == "up");
  CHECK(s.network->carrier == std::optional<bool>(true));

  Sample v1 = collect(*make_network_source(fixture("cgroup-v1")), &r);
  REQUIRE(r);  // no ipv6_route file at all: IPv4 only
  CHECK_FALSE(v1.network->default_route);

  collect(*make_network_source(fixture("garbage")), &r);
  CHECK_FALSE(r);
}

TEST_CASE("filesystem source: nodefs falls back to / and imagefs to nodefs", "[sources]") {
  std::vector<std::string> asked;
  FilesystemOptions opts;
  opts.statfs = [&](const std::string& path) -> Result<StatfsResult> {
    asked.push_back(path);
    if (!path.ends_with("/debian12-hybrid")) return errno_error("statfs " + path, ENOENT);
    return StatfsResult{1000, 400, 100, 90, false};
  };
  auto src = make_filesystem_source(fixture("debian12-hybrid"), opts);
  Result<void> r;
  Sample s = collect(*src, &r);
  REQUIRE(r);
  REQUIRE(s.nodefs);
  REQUIRE(s.imagefs);
  CHECK(s.nodefs->path == "/");
  CHECK(s.nodefs->mount_point == "/");
  CHECK(s.nodefs->device == "254:0");
  CHECK(s.nodefs->available_bytes == 400);
  CHECK(s.imagefs->role == "imagefs");
  CHECK(s.imagefs->inodes_free == 90);
  const std::string root = std::string(NODEHEALTH_FIXTURES) + "/debian12-hybrid";
  CHECK(asked == std::vector<std::string>{root + "/var/lib/kubelet", root,
                                          root + "/var/lib/containerd",
                                          root + "/var/lib/containers/storage"});
}

TEST_CASE("filesystem source: a configured nodefs that is missing is an error", "[sources]") {
  FilesystemOptions opts;
  opts.nodefs_path = "/data/kubelet";
  opts.statfs = [](const std::string& path) -> Result<StatfsResult> {
    return errno_error("statfs " + path, ENOENT);
  };
  Result<void> r;
  collect(*make_filesystem_source(fixture("cgroup-v2"), opts), &r);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.starts_with("nodefs: statfs "));
}

TEST_CASE("filesystem source: read-only from statfs flags", "[sources]") {
  FilesystemOptions opts;
  opts.nodefs_path = "/";
  opts.imagefs_path = "/";
  opts.statfs = [](const std::string&) -> Result<StatfsResult> {
    return StatfsResult{1000, 400, 100, 90, true};
  };
  Result<void> r;
  Sample s = collect(*make_filesystem_source(fixture("cgroup-v2"), opts), &r);
  REQUIRE(r);
  CHECK(s.nodefs->read_only);
  CHECK(s.imagefs->read_only);
}

TEST_CASE("filesystem source: a hung statfs fails the source within the timeout", "[sources]") {
  auto gate = std::make_shared<std::promise<void>>();
  std::shared_future<void> open = gate->get_future().share();
  FilesystemOptions opts;
  opts.statfs_timeout = std::chrono::milliseconds(20);
  opts.statfs = [open](const std::string&) -> Result<StatfsResult> {
    open.wait();  // a dead NFS server
    return StatfsResult{};
  };
  {
    auto src = make_filesystem_source(fixture("cgroup-v2"), opts);
    Result<void> r;
    collect(*src, &r);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("timed out after 20ms") != std::string::npos);
  }
  gate->set_value();
}

TEST_CASE("source registry: names in order, config disables a source", "[sources]") {
  const auto names = source_names();
  CHECK(std::vector<std::string_view>(names.begin(), names.end()) ==
        std::vector<std::string_view>{"meminfo", "cgroup_memory", "kubepods", "pids", "psi",
                                      "filesystem", "network", "features", "checkpoints"});
  config::Config cfg;
  cfg.source_enabled["psi"] = false;
  const auto made = make_sources(cfg, fixture("cgroup-v2"));
  std::vector<std::string_view> made_names;
  for (const auto& m : made) made_names.push_back(m->name());
  CHECK(made_names == std::vector<std::string_view>{"meminfo", "cgroup_memory", "kubepods", "pids",
                                                    "filesystem", "network", "features",
                                                    "checkpoints"});
}

TEST_CASE("facts §1 kubepods source on v2: memory.max, memory.current, inactive_file and PSI",
          "[sources]") {
  Result<void> r;
  Sample s = collect(*make_kubepods_source(fixture("cgroup-v2"), ""), &r);
  REQUIRE(r);
  REQUIRE(s.kubepods);
  CHECK(s.kubepods->name == "kubepods.slice");
  CHECK(s.kubepods->limit_bytes == std::optional<uint64_t>(15032385536ull));
  CHECK(s.kubepods->usage_bytes == 4294967296ull);
  CHECK(s.kubepods->inactive_file_bytes == 1073741824ull);
  REQUIRE(s.kubepods->memory_pressure);
  CHECK(s.kubepods->memory_pressure->some.avg10 == Approx(1.25));
  CHECK(s.kubepods->io_pressure);
}

TEST_CASE("facts §1 kubepods source on v1: limit_in_bytes, usage and total_inactive_file",
          "[sources]") {
  Result<void> r;
  Sample s = collect(*make_kubepods_source(fixture("cgroup-v1"), ""), &r);
  REQUIRE(r);
  REQUIRE(s.kubepods);
  CHECK(s.kubepods->name == "kubepods");
  CHECK(s.kubepods->limit_bytes == std::optional<uint64_t>(7516192768ull));
  CHECK(s.kubepods->inactive_file_bytes == 939524096ull);
  CHECK_FALSE(s.kubepods->memory_pressure);  // no v2 hierarchy: no pod-level PSI
}

TEST_CASE("kubepods source: no kubepods cgroup is no data, and a named one is honoured",
          "[sources]") {
  Result<void> r;
  Sample plain = collect(*make_kubepods_source(fixture("debian12-hybrid"), ""), &r);
  CHECK(r);
  CHECK_FALSE(plain.kubepods);
  Sample named = collect(*make_kubepods_source(fixture("cgroup-v2"), "other.slice"), &r);
  CHECK(r);
  CHECK_FALSE(named.kubepods);
}
