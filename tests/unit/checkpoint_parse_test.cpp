// The pure parsers of checkpoint-cost (agent/checkpoint/parse.h) on real captures
// (tests/fixtures/checkpoint/*/PROVENANCE) and hand-made edge cases.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "agent/checkpoint/parse.h"
#include "nodehealth/condition.h"

using namespace nodehealth;
using namespace nodehealth::checkpoint;

namespace {

std::string fixture_file(const std::string& rel) {
  std::ifstream f(std::string(NODEHEALTH_FIXTURES) + "/checkpoint/" + rel);
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("smaps_rollup: the fields CRIU's dump is made of (facts §6)", "[checkpoint][parse]") {
  // python3 with 40 MiB of touched anonymous memory and 8 MiB of MAP_SHARED anonymous memory.
  auto r = parse_smaps_rollup(fixture_file("k8s-systemd-v1/proc/101/smaps_rollup"));
  REQUIRE(r);
  CHECK(r->anonymous == 47868ull * 1024);
  CHECK(r->pss_shmem == 8192ull * 1024);
  CHECK(r->has_pss_shmem);
  CHECK(r->swap == 0);
  CHECK(r->rss == 62692ull * 1024);
}

TEST_CASE("smaps_rollup: Private_Dirty is not the dirty-file share CRIU dumps",
          "[checkpoint][parse]") {
  // python3 copy-on-wrote 4 MiB of a 12 MiB MAP_PRIVATE file freshly written (its page cache
  // still dirty) and read the rest: Private_Dirty holds all 12 MiB of that mapping, CRIU dumps
  // only the 4 MiB of anonymous copies, which Anonymous already holds.
  const std::string rollup = fixture_file("k8s-systemd-v1/proc/201/smaps_rollup");
  auto r = parse_smaps_rollup(rollup);
  REQUIRE(r);
  CHECK(r->anonymous == 11008ull * 1024);
  CHECK(r->private_dirty == 19200ull * 1024);
  CHECK(r->private_dirty - r->anonymous == 8192ull * 1024);  // dirty page cache, not dumped

  SmapsFileCow cow;
  std::istringstream smaps(fixture_file("k8s-systemd-v1/proc/201/smaps"));
  for (std::string line; std::getline(smaps, line);) cow.line(line);
  // 4 MiB of the data file + the relocated/written pages of python's and libc's data segments.
  CHECK(cow.bytes() == 5580ull * 1024);
  CHECK(cow.bytes() < r->anonymous);
}

TEST_CASE("SmapsFileCow counts Anonymous of private file mappings only", "[checkpoint][parse]") {
  SmapsFileCow cow;
  for (std::string_view l : {
           "55d0c0000000-55d0c0100000 r--p 00000000 fe:00 1234   /usr/bin/python3.11",
           "Anonymous:             8 kB",
           "55d0c0200000-55d0c0300000 rw-p 00100000 fe:00 1234   /usr/bin/python3.11",
           "Anonymous:           100 kB",
           "55d0c0400000-55d0c0500000 rw-p 00000000 00:00 0      [heap]",
           "Anonymous:          4000 kB",
           "7f0000000000-7f0000800000 rw-s 00000000 00:01 2048   /dev/zero (deleted)",
           "Anonymous:             0 kB",
           "7f0000800000-7f0000900000 rw-p 00000000 00:00 0",
           "Anonymous:           512 kB",
           "VmFlags: rd wr mr mw me ac sd",
           "7f0000900000-7f0000a00000 rw-p 00000000 00:1a 77     /dev/shm/private (deleted)",
           "Anonymous:            16 kB",
       })
    cow.line(l);
  CHECK(cow.bytes() == (8 + 100 + 16) * 1024ull);
}

TEST_CASE("smaps_rollup: empty, garbage and old kernels", "[checkpoint][parse]") {
  auto empty = parse_smaps_rollup("");  // a zombie
  REQUIRE(empty);
  CHECK(empty->anonymous == 0);
  CHECK_FALSE(empty->has_pss_shmem);
  // Before 5.9 there is no Pss_Shmem: parsed, but has_pss_shmem tells the caller.
  auto old = parse_smaps_rollup(
      "00400000-7ffd1c3fe000 ---p 00000000 00:00 0   [rollup]\nRss: 10 kB\nAnonymous: 4 kB\n");
  REQUIRE(old);
  CHECK(old->anonymous == 4096);
  CHECK_FALSE(old->has_pss_shmem);
  CHECK_FALSE(parse_smaps_rollup("Rss: 10 kB\n"));  // no Anonymous
  CHECK_FALSE(parse_smaps_rollup("Anonymous: x kB\n"));
  CHECK_FALSE(parse_smaps_rollup("Anonymous: 12 MB\n"));
  CHECK_FALSE(parse_smaps_rollup("garbage line\n"));
  auto r = parse_smaps_rollup("Anonymous: 1 kB\nTHPeligible: 1\n");  // unitless is fine
  REQUIRE(r);
  CHECK(r->anonymous == 1024);
}

TEST_CASE("archive names: checkpoint-<pod>_<namespace>-<container>-<RFC3339>.tar (facts §6)",
          "[checkpoint][parse]") {
  auto a = parse_archive_name("checkpoint-web-0_default-nginx-2026-11-25T10:11:12Z.tar");
  REQUIRE(a);
  CHECK(a->pod == "web-0");
  CHECK(a->ambiguous() == false);
  CHECK(a->ns == "default");
  CHECK(a->container == "nginx");
  CHECK(a->time_text == "2026-11-25T10:11:12Z");
  REQUIRE(a->time);
  CHECK(format_rfc3339(*a->time) == "2026-11-25T10:11:12Z");

  // A local-time offset, as Go's time.RFC3339 prints it outside UTC.
  auto b = parse_archive_name("checkpoint-db.v2_prod-pg-2026-11-25T12:11:12+02:00.tar");
  REQUIRE(b);
  CHECK(b->pod == "db.v2");
  CHECK(b->ns == "prod");
  CHECK(b->container == "pg");
  REQUIRE(b->time);
  CHECK(format_rfc3339(*b->time) == "2026-11-25T10:11:12Z");
}

TEST_CASE(
    "archive names: '-' in both namespace and container is ambiguous unless the pod is "
    "known",
    "[checkpoint][parse]") {
  const std::string name = "checkpoint-api-5d8_kube-system-metrics-server-2026-01-02T03:04:05Z.tar";
  auto a = parse_archive_name(name);
  REQUIRE(a);
  CHECK(a->pod == "api-5d8");
  CHECK(a->namespace_and_container == "kube-system-metrics-server");
  CHECK(a->ambiguous());
  CHECK(a->candidates.size() == 3);  // kube|system-..., kube-system|metrics-..., ...-metrics|server
  auto known = parse_archive_name(name, [](std::string_view ns, std::string_view pod) {
    return ns == "kube-system" && pod == "api-5d8";
  });
  REQUIRE(known);
  CHECK(known->ns == "kube-system");
  CHECK(known->container == "metrics-server");
  // Two candidates known: still ambiguous.
  auto two = parse_archive_name(name, [](std::string_view, std::string_view) { return true; });
  REQUIRE(two);
  CHECK(two->ambiguous());
}

TEST_CASE("archive names that are not the kubelet's", "[checkpoint][parse]") {
  for (const char* n : {
           "checkpoint-web-0_default-nginx-2026-11-25T10:11:12Z.tar.gz",
           "checkpoint-web-0_default-nginx.tar",
           "checkpoint-web-0-default-nginx-2026-11-25T10:11:12Z.tar",  // no '_'
           "checkpoint-web-0_defaultnginx-2026-11-25T10:11:12Z.tar",   // no namespace/container
           "checkpoint-Web_default-nginx-2026-11-25T10:11:12Z.tar",    // upper case
           "backup.tar",
           "",
       }) {
    INFO(n);
    CHECK_FALSE(parse_archive_name(n));
  }
  // A well-formed name with an impossible date keeps its text, without a time.
  auto bad = parse_archive_name("checkpoint-a_b-c-2026-13-45T10:11:12Z.tar");
  REQUIRE(bad);
  CHECK_FALSE(bad->time);
}

TEST_CASE("parse_rfc3339", "[checkpoint][parse]") {
  auto t = parse_rfc3339("2026-11-25T10:11:12.5Z");
  REQUIRE(t);
  CHECK(format_rfc3339(*t) == "2026-11-25T10:11:12Z");
  CHECK((*t - *parse_rfc3339("2026-11-25T10:11:12Z")) == std::chrono::milliseconds(500));
  CHECK(format_rfc3339(*parse_rfc3339("2026-11-25T00:30:00-01:30")) == "2026-11-25T02:00:00Z");
  for (const char* bad : {"2026-11-25 10:11:12Z", "2026-11-25T10:11:12", "2026-11-25T10:11:12+0200",
                          "2026-11-25T10:11:12.Z", "26-11-25T10:11:12Z", "2026-00-25T10:11:12Z"})
    CHECK_FALSE(parse_rfc3339(bad));
}

TEST_CASE("/var/log/containers names", "[checkpoint][parse]") {
  const std::string id = "4d2a7c9e1b3f5a6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c";
  auto n = parse_container_log_name("web-7d9f8b6c5-x2x4q_shop_app-server-" + id + ".log");
  REQUIRE(n);
  CHECK(n->pod == "web-7d9f8b6c5-x2x4q");
  CHECK(n->ns == "shop");
  CHECK(n->container == "app-server");
  CHECK(n->container_id == id);
  CHECK_FALSE(parse_container_log_name("web_shop_app-" + id + ".txt"));
  CHECK_FALSE(parse_container_log_name("web_shop-" + id + ".log"));
  CHECK_FALSE(parse_container_log_name("web_shop_app-xyz.log"));
  CHECK_FALSE(parse_container_log_name("a_b_c_d-" + id + ".log"));
}

TEST_CASE("parse_rfc3339 refuses years a 64-bit nanosecond TimePoint cannot hold",
          "[checkpoint][parse][fuzz]") {
  // Found by fuzz/cgroup_path: the conversion to nanoseconds overflowed (UBSan).
  CHECK_FALSE(parse_rfc3339("0087-04-18T18:20:18Z"));
  CHECK_FALSE(parse_rfc3339("9999-12-31T23:59:59Z"));
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z"));
  CHECK(parse_rfc3339("2261-01-01T00:00:00Z"));
}
