// Unit tests for agent/parse/proc.{h,cpp}: real samples captured from the Debian 12 VM the
// debian12-hybrid fixture comes from (same bytes as tests/fixtures/debian12-hybrid/), then
// truncated input, garbage, empty input, missing fields and overflow for each parser.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/parse/proc.h"

using namespace nodehealth::parse;

namespace {

// debian12-hybrid/proc/meminfo
constexpr std::string_view kRealMeminfo =
    "MemTotal:       24684092 kB\n"
    "MemFree:        24354052 kB\n"
    "MemAvailable:   24311164 kB\n"
    "Buffers:            1232 kB\n"
    "Cached:           108924 kB\n"
    "SwapCached:            0 kB\n"
    "Active:            63232 kB\n"
    "Inactive:          43760 kB\n"
    "Active(anon):       1520 kB\n"
    "Inactive(anon):     4272 kB\n"
    "Active(file):      61712 kB\n"
    "Inactive(file):    39488 kB\n"
    "Unevictable:       12480 kB\n"
    "Mlocked:           11344 kB\n"
    "SwapTotal:             0 kB\n"
    "SwapFree:              0 kB\n"
    "Zswap:                 0 kB\n"
    "Zswapped:              0 kB\n"
    "Dirty:             13180 kB\n"
    "Writeback:             0 kB\n"
    "AnonPages:          9400 kB\n"
    "Mapped:            10536 kB\n"
    "Shmem:              8856 kB\n"
    "KReclaimable:      58088 kB\n"
    "Slab:              79700 kB\n"
    "SReclaimable:      58088 kB\n"
    "SUnreclaim:        21612 kB\n"
    "KernelStack:        1320 kB\n"
    "PageTables:         1500 kB\n"
    "SecPageTables:         0 kB\n"
    "NFS_Unstable:          0 kB\n"
    "Bounce:                0 kB\n"
    "WritebackTmp:          0 kB\n"
    "CommitLimit:    12342044 kB\n"
    "Committed_AS:      55264 kB\n"
    "VmallocTotal:   34359738367 kB\n"
    "VmallocUsed:       14124 kB\n"
    "VmallocChunk:          0 kB\n"
    "Percpu:              688 kB\n"
    "AnonHugePages:         0 kB\n"
    "ShmemHugePages:        0 kB\n"
    "ShmemPmdMapped:        0 kB\n"
    "FileHugePages:         0 kB\n"
    "FilePmdMapped:         0 kB\n"
    "Balloon:               0 kB\n"
    "HugePages_Total:       0\n"
    "HugePages_Free:        0\n"
    "HugePages_Rsvd:        0\n"
    "HugePages_Surp:        0\n"
    "Hugepagesize:       2048 kB\n"
    "Hugetlb:               0 kB\n"
    "DirectMap4k:       32768 kB\n"
    "DirectMap2M:     2064384 kB\n"
    "DirectMap1G:    25165824 kB\n";

// debian12-hybrid/proc/loadavg
constexpr std::string_view kRealLoadavg = "0.29 0.18 0.08 1/82 5675\n";

// debian12-hybrid/proc/pressure/cpu
constexpr std::string_view kRealPsiCpu =
    "some avg10=0.00 avg60=0.00 avg300=0.03 total=5059704\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

// debian12-hybrid/proc/pressure/memory
constexpr std::string_view kRealPsiMemory =
    "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

// debian12-hybrid/proc/pressure/io
constexpr std::string_view kRealPsiIo =
    "some avg10=0.03 avg60=0.04 avg300=0.05 total=3528995\n"
    "full avg10=0.03 avg60=0.04 avg300=0.05 total=3369408\n";

// debian12-hybrid/proc/sys/kernel/pid_max
constexpr std::string_view kRealPidMax = "32768\n";

// debian12-hybrid/proc/sys/kernel/threads-max
constexpr std::string_view kRealThreadsMax = "192730\n";

// debian12-hybrid/sys/fs/cgroup/memory/memory.usage_in_bytes
constexpr std::string_view kRealUsageInBytes = "122425344\n";

// debian12-hybrid/sys/fs/cgroup/memory/memory.stat
constexpr std::string_view kRealMemoryStatV1 =
    "cache 9412608\n"
    "rss 5246976\n"
    "rss_huge 0\n"
    "shmem 9068544\n"
    "mapped_file 7421952\n"
    "dirty 20480\n"
    "writeback 0\n"
    "workingset_refault_anon 0\n"
    "workingset_refault_file 645\n"
    "swap 0\n"
    "swapcached 0\n"
    "pgpgin 34438\n"
    "pgpgout 30859\n"
    "pgfault 38624\n"
    "pgmajfault 0\n"
    "inactive_anon 0\n"
    "active_anon 1531904\n"
    "inactive_file 36864\n"
    "active_file 307200\n"
    "unevictable 12783616\n"
    "hierarchical_memory_limit 9223372036854771712\n"
    "hierarchical_memsw_limit 9223372036854771712\n"
    "total_cache 112852992\n"
    "total_rss 9707520\n"
    "total_rss_huge 0\n"
    "total_shmem 9068544\n"
    "total_mapped_file 10862592\n"
    "total_dirty 13664256\n"
    "total_writeback 0\n"
    "total_workingset_refault_anon 0\n"
    "total_workingset_refault_file 71754\n"
    "total_swap 0\n"
    "total_swapcached 0\n"
    "total_pgpgin 3297016\n"
    "total_pgpgout 3269361\n"
    "total_pgfault 3724532\n"
    "total_pgmajfault 1310\n"
    "total_inactive_anon 4255744\n"
    "total_active_anon 1556480\n"
    "total_inactive_file 40493056\n"
    "total_active_file 63291392\n"
    "total_unevictable 12783616\n";

// debian12-hybrid/proc/net/route
constexpr std::string_view kRealRoute =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT           "
    "                                            \n"
    "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0                                    "
    "                                           \n"
    "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                    "
    "                                           \n";

// debian12-hybrid/proc/net/ipv6_route
constexpr std::string_view kRealIpv6Route =
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n"
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
    "fd000000000000000000000000000002 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0\n"
    "fe8000000000000000fc00fffe000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0\n"
    "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";

constexpr uint64_t KiB = 1024;

}  // namespace

// ------------------------------------------------------------------------------- meminfo

TEST_CASE("meminfo: real sample, kB converted to bytes", "[parse][meminfo]") {
  auto r = parse_meminfo(kRealMeminfo);
  REQUIRE(r.has_value());
  CHECK(r->mem_total_bytes == 24684092 * KiB);
  CHECK(r->mem_free_bytes == 24354052 * KiB);
  CHECK(r->mem_available_bytes == 24311164 * KiB);
  CHECK(r->buffers_bytes == 1232 * KiB);
  CHECK(r->cached_bytes == 108924 * KiB);
  CHECK(r->active_file_bytes == 61712 * KiB);
  CHECK(r->inactive_file_bytes == 39488 * KiB);
  CHECK(r->shmem_bytes == 8856 * KiB);
  CHECK(r->swap_total_bytes == 0u);
  CHECK(r->swap_free_bytes == 0u);
}

TEST_CASE("meminfo: optional fields absent on old kernels stay empty", "[parse][meminfo]") {
  auto r = parse_meminfo("MemTotal:        2048000 kB\nMemFree:          100000 kB\n");
  REQUIRE(r.has_value());
  CHECK(r->mem_total_bytes == 2048000 * KiB);
  CHECK(r->mem_free_bytes == 100000 * KiB);
  CHECK_FALSE(r->mem_available_bytes.has_value());
  CHECK_FALSE(r->active_file_bytes.has_value());
  CHECK_FALSE(r->inactive_file_bytes.has_value());
  CHECK_FALSE(r->swap_total_bytes.has_value());
}

TEST_CASE("meminfo: MemTotal is required", "[parse][meminfo]") {
  auto r = parse_meminfo("MemFree:        24354052 kB\nMemAvailable:   24311164 kB\n");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "meminfo: missing MemTotal");
}

TEST_CASE("meminfo: a bad value names the line and the key", "[parse][meminfo]") {
  auto r = parse_meminfo("MemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable:   abc kB\n");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "meminfo: line 3: bad value \"abc\" for MemAvailable");

  auto neg = parse_meminfo("MemTotal: -1000 kB\n");
  REQUIRE_FALSE(neg.has_value());
  CHECK(neg.error().message == "meminfo: line 1: bad value \"-1000\" for MemTotal");
}

TEST_CASE("meminfo: truncated input", "[parse][meminfo]") {
  // Cut inside the value of a key we use: the missing unit gives it away.
  auto cut_value = parse_meminfo("MemTotal:       24684092 kB\nMemFree:        2435");
  REQUIRE_FALSE(cut_value.has_value());
  CHECK_THAT(cut_value.error().message, Catch::Contains("line 2") && Catch::Contains("MemFree"));

  // Cut after the key.
  auto cut_key = parse_meminfo("MemTotal:");
  REQUIRE_FALSE(cut_key.has_value());
  CHECK(cut_key.error().message == "meminfo: line 1: missing value for MemTotal");

  // Cut inside a key: the line has no ':' left.
  auto cut_key2 = parse_meminfo("MemTotal:       24684092 kB\nInactive(fi");
  REQUIRE_FALSE(cut_key2.has_value());
  CHECK_THAT(cut_key2.error().message, Catch::StartsWith("meminfo: line 2: expected"));

  // Cut inside the value of a key we do not use: what we use is still good.
  auto cut_unit = parse_meminfo("MemTotal:       24684092 kB\nSwapCached:  0 k");
  REQUIRE(cut_unit.has_value());
  CHECK(cut_unit->mem_total_bytes == 24684092 * KiB);
}

TEST_CASE("meminfo: garbage and empty input", "[parse][meminfo]") {
  auto garbage = parse_meminfo("MemTotal: 1000 kB\nthis is not meminfo\n");
  REQUIRE_FALSE(garbage.has_value());
  CHECK_THAT(garbage.error().message, Catch::StartsWith("meminfo: line 2: "));

  auto extra = parse_meminfo("MemTotal: 1000 kB trailing\n");
  REQUIRE_FALSE(extra.has_value());
  CHECK_THAT(extra.error().message, Catch::StartsWith("meminfo: line 1: "));

  auto empty = parse_meminfo("");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message == "meminfo: empty input");

  auto dup = parse_meminfo("MemTotal: 1000 kB\nMemTotal: 2000 kB\n");
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error().message == "meminfo: line 2: duplicate MemTotal");
}

TEST_CASE("meminfo: overflow of the kB value or of the byte count", "[parse][meminfo]") {
  // The largest kB value whose byte count fits in 64 bits.
  auto max = parse_meminfo("MemTotal: 18014398509481983 kB\n");
  REQUIRE(max.has_value());
  CHECK(max->mem_total_bytes == 18014398509481983ull * 1024);

  auto bytes = parse_meminfo("MemTotal: 18014398509481984 kB\n");
  REQUIRE_FALSE(bytes.has_value());
  CHECK_THAT(bytes.error().message,
             Catch::StartsWith("meminfo: line 1: value out of range \"18014398509481984\""));

  auto digits = parse_meminfo("MemTotal: 1000 kB\nCached: 99999999999999999999999 kB\n");
  REQUIRE_FALSE(digits.has_value());
  CHECK(digits.error().message ==
        "meminfo: line 2: value out of range \"99999999999999999999999\" for Cached");
}

// ------------------------------------------------------------------------------- loadavg

TEST_CASE("loadavg: real sample", "[parse][loadavg]") {
  auto r = parse_loadavg(kRealLoadavg);
  REQUIRE(r.has_value());
  CHECK(r->load1 == Approx(0.29));
  CHECK(r->load5 == Approx(0.18));
  CHECK(r->load15 == Approx(0.08));
  CHECK(r->runnable == 1u);
  CHECK(r->tasks == 82u);  // facts.md §1 pid.available: the number after '/'
  CHECK(r->last_pid == 5675u);
}

TEST_CASE("loadavg: without the final newline", "[parse][loadavg]") {
  auto r = parse_loadavg("12.50 8.25 4.00 17/2048 4194303");
  REQUIRE(r.has_value());
  CHECK(r->load1 == Approx(12.5));
  CHECK(r->tasks == 2048u);
  CHECK(r->last_pid == 4194303u);
}

TEST_CASE("loadavg: garbage, truncation, empty", "[parse][loadavg]") {
  auto abc = parse_loadavg("abc\n");
  REQUIRE_FALSE(abc.has_value());
  CHECK(abc.error().message == "loadavg: line 1: expected 5 fields, got 1 in \"abc\"");

  auto bad_load = parse_loadavg("abc 0.02 0.00 1/84 4150\n");
  REQUIRE_FALSE(bad_load.has_value());
  CHECK(bad_load.error().message == "loadavg: line 1: bad value \"abc\" for load1");

  auto truncated = parse_loadavg("0.00 0.02 0.00 1/8");
  REQUIRE_FALSE(truncated.has_value());
  CHECK_THAT(truncated.error().message, Catch::Contains("expected 5 fields, got 4"));

  auto no_slash = parse_loadavg("0.00 0.02 0.00 184 4150\n");
  REQUIRE_FALSE(no_slash.has_value());
  CHECK_THAT(no_slash.error().message, Catch::Contains("runnable/tasks"));

  auto no_tasks = parse_loadavg("0.00 0.02 0.00 1/ 4150\n");
  REQUIRE_FALSE(no_tasks.has_value());
  CHECK_THAT(no_tasks.error().message, Catch::Contains("for tasks"));

  auto empty = parse_loadavg("");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message == "loadavg: empty input");

  auto two_lines = parse_loadavg("0.00 0.02 0.00 1/84 4150\n0.00 0.02 0.00 1/84 4150\n");
  REQUIRE_FALSE(two_lines.has_value());
  CHECK_THAT(two_lines.error().message, Catch::StartsWith("loadavg: line 2: "));
}

TEST_CASE("loadavg: negative, non-finite and overflowing values", "[parse][loadavg]") {
  CHECK_FALSE(parse_loadavg("-1.00 0.02 0.00 1/84 4150\n").has_value());
  CHECK_FALSE(parse_loadavg("nan 0.02 0.00 1/84 4150\n").has_value());
  CHECK_FALSE(parse_loadavg("0.00 inf 0.00 1/84 4150\n").has_value());
  auto big = parse_loadavg("0.00 0.02 0.00 1/18446744073709551616 4150\n");
  REQUIRE_FALSE(big.has_value());
  CHECK_THAT(big.error().message, Catch::Contains("value out of range"));
  auto max = parse_loadavg("0.00 0.02 0.00 1/18446744073709551615 4150\n");
  REQUIRE(max.has_value());
  CHECK(max->tasks == 18446744073709551615ull);
}

// ------------------------------------------------------------------------------- PSI

TEST_CASE("psi: real cpu, memory and io samples", "[parse][psi]") {
  auto cpu = parse_psi(kRealPsiCpu);
  REQUIRE(cpu.has_value());
  CHECK(cpu->some.avg10 == 0.0);
  CHECK(cpu->some.avg300 == Approx(0.03));
  CHECK(cpu->some.total_us == 5059704u);
  REQUIRE(cpu->full.has_value());  // kernel >= 5.13 prints a (zero) full line for cpu
  CHECK(cpu->full->total_us == 0u);

  auto io = parse_psi(kRealPsiIo);
  REQUIRE(io.has_value());
  CHECK(io->some.avg10 == Approx(0.03));
  CHECK(io->some.avg60 == Approx(0.04));
  CHECK(io->some.avg300 == Approx(0.05));
  CHECK(io->some.total_us == 3528995u);
  REQUIRE(io->full.has_value());
  CHECK(io->full->total_us == 3369408u);

  auto mem = parse_psi(kRealPsiMemory);
  REQUIRE(mem.has_value());
  CHECK(mem->some.total_us == 0u);
  REQUIRE(mem->full.has_value());
}

TEST_CASE("psi: the cpu file without a full line (kernels before 5.13)", "[parse][psi]") {
  auto r = parse_psi("some avg10=12.34 avg60=5.00 avg300=100.00 total=987654321\n");
  REQUIRE(r.has_value());
  CHECK(r->some.avg10 == Approx(12.34));
  CHECK(r->some.avg60 == Approx(5.0));
  CHECK(r->some.avg300 == Approx(100.0));
  CHECK(r->some.total_us == 987654321u);
  CHECK_FALSE(r->full.has_value());
}

TEST_CASE("psi: junk, truncation, missing lines, empty", "[parse][psi]") {
  auto junk = parse_psi("some avg10=junk avg60=0.00 avg300=0.13 total=4519565\n");
  REQUIRE_FALSE(junk.has_value());
  CHECK(junk.error().message == "psi: line 1: bad value \"junk\" for avg10");

  auto truncated = parse_psi("some avg10=0.07 avg60=0.06\n");
  REQUIRE_FALSE(truncated.has_value());
  CHECK_THAT(truncated.error().message, Catch::StartsWith("psi: line 1: missing avg300"));

  auto cut_value = parse_psi("some avg10=0.07 avg60=0.06 avg300=0.15 total=\n");
  REQUIRE_FALSE(cut_value.has_value());
  CHECK(cut_value.error().message == "psi: line 1: bad value \"\" for total");

  auto only_full = parse_psi("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  REQUIRE_FALSE(only_full.has_value());
  CHECK(only_full.error().message == "psi: missing \"some\" line");

  auto other = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nhalf avg10=0\n");
  REQUIRE_FALSE(other.has_value());
  CHECK_THAT(other.error().message, Catch::StartsWith("psi: line 2: "));

  auto no_eq = parse_psi("some avg10 0.00\n");
  REQUIRE_FALSE(no_eq.has_value());

  auto dup = parse_psi(
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  REQUIRE_FALSE(dup.has_value());

  auto empty = parse_psi("");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message == "psi: empty input");
}

TEST_CASE("psi: out-of-range values", "[parse][psi]") {
  CHECK_FALSE(parse_psi("some avg10=100.01 avg60=0 avg300=0 total=0\n").has_value());
  CHECK_FALSE(parse_psi("some avg10=-1.00 avg60=0 avg300=0 total=0\n").has_value());
  auto total = parse_psi("some avg10=0 avg60=0 avg300=0 total=18446744073709551616\n");
  REQUIRE_FALSE(total.has_value());
  CHECK_THAT(total.error().message, Catch::Contains("value out of range"));
}

// ------------------------------------------------------------------------------- one integer

TEST_CASE("u64 file: real pid_max, threads-max, memory.usage_in_bytes", "[parse][u64]") {
  CHECK(parse_u64_file(kRealPidMax).value() == 32768u);
  CHECK(parse_u64_file(kRealThreadsMax).value() == 192730u);
  CHECK(parse_u64_file(kRealUsageInBytes).value() == 122425344u);
  CHECK(parse_u64_file("4194304").value() == 4194304u);  // no newline
  CHECK(parse_u64_file("18446744073709551615\n").value() == 18446744073709551615ull);
}

TEST_CASE("u64 file: max, garbage, empty, overflow", "[parse][u64]") {
  auto max = parse_u64_file("max\n");
  REQUIRE_FALSE(max.has_value());
  CHECK(max.error().message == "integer file: line 1: bad value \"max\"");

  auto empty = parse_u64_file("");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message == "integer file: empty input");

  CHECK_FALSE(parse_u64_file("\n").has_value());
  CHECK_FALSE(parse_u64_file("-1\n").has_value());
  CHECK_FALSE(parse_u64_file(" 12\n").has_value());
  CHECK_FALSE(parse_u64_file("12 34\n").has_value());
  CHECK_FALSE(parse_u64_file("12\n34\n").has_value());
  CHECK_FALSE(parse_u64_file("0x10\n").has_value());

  auto overflow = parse_u64_file("18446744073709551616\n");
  REQUIRE_FALSE(overflow.has_value());
  CHECK(overflow.error().message ==
        "integer file: line 1: value out of range \"18446744073709551616\"");
}

// ------------------------------------------------------------------------------- key value

TEST_CASE("flat keyed: real cgroup v1 root memory.stat", "[parse][keyed]") {
  auto r = parse_flat_keyed(kRealMemoryStatV1);
  REQUIRE(r.has_value());
  CHECK(r->size() == 42u);
  CHECK(r->at("total_inactive_file") == 40493056u);
  CHECK(r->at("total_rss") == 9707520u);
  CHECK(r->at("total_cache") == 112852992u);
  CHECK(r->at("hierarchical_memory_limit") == 9223372036854771712u);
  CHECK(r->find(std::string_view("inactive_file")) != r->end());  // heterogeneous lookup
}

TEST_CASE("flat keyed: cgroup v2 root memory.stat and cpu.stat", "[parse][keyed]") {
  auto mem = parse_flat_keyed(
      "anon 2145386496\nfile 4120231936\nkernel 483160064\n"
      "inactive_file 1836433408\nactive_file 2264924160\n");
  REQUIRE(mem.has_value());
  // facts.md §1: v2 usage = anon + file from the root memory.stat
  CHECK(mem->at("anon") + mem->at("file") == 6265618432u);
  CHECK(mem->at("inactive_file") == 1836433408u);

  auto cpu = parse_flat_keyed("usage_usec 1093412\nuser_usec 612077\nsystem_usec 481335\n");
  REQUIRE(cpu.has_value());
  CHECK(cpu->at("usage_usec") == 1093412u);
}

TEST_CASE("flat keyed: malformed lines, duplicates, overflow, empty", "[parse][keyed]") {
  auto missing = parse_flat_keyed("cache 10027008\nrss\n");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message == "keyed file: line 2: expected \"key value\", got \"rss\"");

  auto three = parse_flat_keyed("a 1 2\n");
  REQUIRE_FALSE(three.has_value());
  CHECK_THAT(three.error().message, Catch::StartsWith("keyed file: line 1: "));

  auto bad = parse_flat_keyed("cache 1\ntotal_inactive_file abc\n");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message == "keyed file: line 2: bad value \"abc\" for total_inactive_file");

  CHECK_FALSE(parse_flat_keyed("swap -4096\n").has_value());

  auto dup = parse_flat_keyed("cache 1\ncache 2\n");
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error().message == "keyed file: line 2: duplicate key \"cache\"");

  auto overflow = parse_flat_keyed("pgfault 18446744073709551616\n");
  REQUIRE_FALSE(overflow.has_value());
  CHECK_THAT(overflow.error().message, Catch::Contains("value out of range"));

  auto empty = parse_flat_keyed("");
  REQUIRE(empty.has_value());
  CHECK(empty->empty());  // callers report the keys they need as missing
}

// ------------------------------------------------------------------------------- IPv4 routes

TEST_CASE("route: real /proc/net/route with a default route", "[parse][route]") {
  auto r = parse_net_route(kRealRoute);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 2u);
  CHECK((*r)[0].interface == "eth0");
  CHECK((*r)[0].is_default);
  CHECK((*r)[0].up);
  CHECK((*r)[0].metric == 0u);
  CHECK((*r)[1].interface == "eth0");
  CHECK_FALSE((*r)[1].is_default);  // 192.0.2.0/24
  CHECK((*r)[1].up);
}

TEST_CASE("route: no default route; gateway routes are not default", "[parse][route]") {
  auto r = parse_net_route(
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      "flannel.1\t0000F40A\t0000F40A\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
      "cni0\t0001F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 2u);
  CHECK_FALSE((*r)[0].is_default);
  CHECK_FALSE((*r)[1].is_default);
  CHECK((*r)[0].interface == "flannel.1");
}

TEST_CASE("route: flags without RTF_UP, metric, 0/0 only when mask is 0", "[parse][route]") {
  auto r = parse_net_route(
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      "ens5\t00000000\t01101FAC\t0002\t0\t0\t100\t00000000\t0\t0\t0\n"
      "ens6\t00000000\t01101FAC\t0003\t0\t0\t200\t000000FF\t0\t0\t0\n"
      "lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n");
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 3u);
  CHECK((*r)[0].is_default);
  CHECK_FALSE((*r)[0].up);
  CHECK((*r)[0].metric == 100u);
  CHECK_FALSE((*r)[1].is_default);  // 0.0.0.0/8, not the default
  CHECK((*r)[1].metric == 200u);
  CHECK((*r)[2].interface == "lo");  // reported: callers decide
}

TEST_CASE("route: header only, empty, garbage, truncated, bad fields", "[parse][route]") {
  auto header_only = parse_net_route(
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
  REQUIRE(header_only.has_value());
  CHECK(header_only->empty());

  auto empty = parse_net_route("");
  REQUIRE_FALSE(empty.has_value());
  CHECK_THAT(empty.error().message, Catch::StartsWith("route: empty input"));

  auto garbage = parse_net_route("this is not a route table\n");
  REQUIRE_FALSE(garbage.has_value());
  CHECK_THAT(garbage.error().message, Catch::StartsWith("route: line 1: expected the header"));

  constexpr std::string_view kHeader =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
  auto truncated = parse_net_route(std::string(kHeader) + "eth0\t00000000\t010200C0\t0003\t0");
  REQUIRE_FALSE(truncated.has_value());
  CHECK_THAT(truncated.error().message,
             Catch::StartsWith("route: line 2: expected 11 fields, got 5"));

  auto bad_dest = parse_net_route(std::string(kHeader) +
                                  "eth0\tZZZZZZZZ\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
  REQUIRE_FALSE(bad_dest.has_value());
  CHECK(bad_dest.error().message == "route: line 2: bad value \"ZZZZZZZZ\" for Destination");

  auto long_hex = parse_net_route(std::string(kHeader) +
                                  "eth0\t100000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
  REQUIRE_FALSE(long_hex.has_value());

  auto bad_metric = parse_net_route(
      std::string(kHeader) + "eth0\t00000000\t010200C0\t0003\t0\t0\t-1\t00000000\t0\t0\t0\n");
  REQUIRE_FALSE(bad_metric.has_value());
  CHECK_THAT(bad_metric.error().message, Catch::Contains("for Metric"));
}

// ------------------------------------------------------------------------------- IPv6 routes

TEST_CASE("ipv6_route: real sample", "[parse][route]") {
  auto r = parse_net_ipv6_route(kRealIpv6Route);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 8u);
  // The default route via fd00::1 on eth0: metric 0x400, flags RTF_UP|RTF_GATEWAY.
  CHECK((*r)[2].interface == "eth0");
  CHECK((*r)[2].is_default);
  CHECK((*r)[2].up);
  CHECK((*r)[2].metric == 1024u);
  // ::1/128 on lo is not a default route.
  CHECK((*r)[3].interface == "lo");
  CHECK_FALSE((*r)[3].is_default);
  CHECK((*r)[3].up);
  // The kernel's unreachable ::/0 on lo: a default route that is not up, reported as such.
  CHECK((*r)[7].interface == "lo");
  CHECK((*r)[7].is_default);
  CHECK_FALSE((*r)[7].up);
  CHECK((*r)[7].metric == 0xffffffffu);
  // fe80::/64 and ff00::/8 are not default.
  CHECK_FALSE((*r)[1].is_default);
  CHECK_FALSE((*r)[6].is_default);
}

TEST_CASE("ipv6_route: a zero destination with a prefix is not default", "[parse][route]") {
  auto r = parse_net_ipv6_route(
      "00000000000000000000000000000000 60 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000400 00000001 00000000 00000001     eth0\n");
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 1u);
  CHECK_FALSE((*r)[0].is_default);
}

TEST_CASE("ipv6_route: empty, truncated, bad fields", "[parse][route]") {
  auto empty = parse_net_ipv6_route("");
  REQUIRE(empty.has_value());  // no header: an empty file is a table without routes
  CHECK(empty->empty());

  auto truncated = parse_net_ipv6_route("00000000000000000000000000000000 00 0000000000000000\n");
  REQUIRE_FALSE(truncated.has_value());
  CHECK(truncated.error().message ==
        "ipv6_route: line 1: expected 10 fields, got 3 in "
        "\"00000000000000000000000000000000 00 0000000000000000\"");

  constexpr std::string_view kGood =
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n";
  REQUIRE(parse_net_ipv6_route(kGood).has_value());

  auto bad_flags = parse_net_ipv6_route(
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "fd000000000000000000000000000001 00000400 00000002 00000000 0000000G     eth0\n");
  REQUIRE_FALSE(bad_flags.has_value());
  CHECK_THAT(bad_flags.error().message, Catch::Contains("for flags"));

  auto bad_plen = parse_net_ipv6_route(
      "00000000000000000000000000000000 zz 00000000000000000000000000000000 00 "
      "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n");
  REQUIRE_FALSE(bad_plen.has_value());
  CHECK_THAT(bad_plen.error().message, Catch::Contains("prefix length"));

  auto short_dest = parse_net_ipv6_route(
      "0000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n");
  REQUIRE_FALSE(short_dest.has_value());
  CHECK_THAT(short_dest.error().message, Catch::Contains("for destination"));

  auto second_line_bad = parse_net_ipv6_route(std::string(kGood) + "garbage\n");
  REQUIRE_FALSE(second_line_bad.has_value());
  CHECK_THAT(second_line_bad.error().message, Catch::StartsWith("ipv6_route: line 2: "));
}
