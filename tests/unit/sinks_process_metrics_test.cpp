// The process_* families (agent/sinks/process_metrics.h): the parsers on a real /proc/<pid>/stat,
// status and limits of a running agent (tests/fixtures/proc-self/, see its PROVENANCE), their
// errors on truncated and garbled input, the reader on a copy of that directory and on this
// process's own /proc/self, and the rendered text.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <prometheus/text_serializer.h>

#include "agent/sinks/process_metrics.h"
#include "temp_dir.h"

using namespace nodehealth;
using namespace nodehealth::sinks;

namespace {

const std::string kDir = std::string(NODEHEALTH_FIXTURES) + "/proc-self";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string text_of(const ProcessStats& s) {
  return prometheus::TextSerializer().Serialize(render_process_metrics(s));
}

}  // namespace

TEST_CASE("process metrics: /proc/<pid>/stat of a real agent", "[process_metrics]") {
  auto st = parse_proc_pid_stat(slurp(kDir + "/stat"));
  REQUIRE(st);
  CHECK(st->utime_ticks == 5);
  CHECK(st->stime_ticks == 17);
  CHECK(st->start_ticks == 262389);
  CHECK(st->vsize_bytes == 1062100992);
  CHECK(st->rss_pages == 4194);
}

TEST_CASE("process metrics: stat with spaces and parentheses in the command name",
          "[process_metrics]") {
  // The kernel prints comm as it is: "(a) b (c))" must not shift the fields.
  const std::string rest =
      " S 1 2 3 0 -1 4194560 1 0 0 0 700 300 0 0 20 0 1 0 5000 4096 2 18446744073709551615 0\n";
  auto st = parse_proc_pid_stat("42 ((a) b (c)))" + rest);
  REQUIRE(st);
  CHECK(st->utime_ticks == 700);
  CHECK(st->stime_ticks == 300);
  CHECK(st->start_ticks == 5000);
  CHECK(st->rss_pages == 2);
}

TEST_CASE("process metrics: bad stat input", "[process_metrics]") {
  CHECK(!parse_proc_pid_stat(""));
  CHECK(parse_proc_pid_stat("42 nodehealth S 1").error().message.find("\")\"") !=
        std::string::npos);
  auto truncated = parse_proc_pid_stat("42 (nodehealth) S 1 2 3 0 -1 4194560 1 0 0 0 700 300");
  REQUIRE(!truncated);
  CHECK(truncated.error().message.find("want at least 22") != std::string::npos);
  auto garbled = parse_proc_pid_stat(
      "42 (nodehealth) S 1 2 3 0 -1 4194560 1 0 0 0 7x0 300 0 0 20 0 1 0 5000 4096 2 0\n");
  REQUIRE(!garbled);
  CHECK(garbled.error().message == "stat: field 14: bad value \"7x0\"");
  // An unsigned field must not take a sign, nor overflow.
  CHECK(!parse_proc_pid_stat(
      "42 (n) S 1 2 3 0 -1 4194560 1 0 0 0 -7 300 0 0 20 0 1 0 5000 4096 2 0\n"));
  CHECK(!parse_proc_pid_stat(
      "42 (n) S 1 2 3 0 -1 4194560 1 0 0 0 99999999999999999999 3 0 0 20 0 1 0 5 4 2 0\n"));
}

TEST_CASE("process metrics: /proc/<pid>/status of a real agent", "[process_metrics]") {
  auto st = parse_proc_pid_status(slurp(kDir + "/status"));
  REQUIRE(st);
  CHECK(st->rss_bytes == 16872ull * 1024);
  CHECK(st->vm_bytes == 1037208ull * 1024);
}

TEST_CASE("process metrics: bad status input", "[process_metrics]") {
  CHECK(parse_proc_pid_status("Name:\tx\nVmSize:\t 10 kB\n").error().message ==
        "status: no VmRSS: line");
  CHECK(parse_proc_pid_status("VmRSS:\t 10 kB\n").error().message == "status: no VmSize: line");
  CHECK(!parse_proc_pid_status("VmRSS:\t 10 MB\nVmSize:\t 10 kB\n"));
  CHECK(!parse_proc_pid_status("VmRSS:\t ten kB\nVmSize:\t 10 kB\n"));
  CHECK(!parse_proc_pid_status("VmRSS:\t 18446744073709551615 kB\nVmSize:\t 10 kB\n"));
}

TEST_CASE("process metrics: /proc/<pid>/limits", "[process_metrics]") {
  auto lim = parse_max_open_files(slurp(kDir + "/limits"));
  REQUIRE(lim);
  REQUIRE(lim->has_value());
  CHECK(**lim == 20000);
  auto unlimited = parse_max_open_files(
      "Max open files            unlimited            unlimited            files\n");
  REQUIRE(unlimited);
  CHECK(!unlimited->has_value());
  CHECK(!parse_max_open_files("Max processes 10 10 processes\n"));
  CHECK(!parse_max_open_files("Max open files  many  20000  files\n"));
  CHECK(!parse_max_open_files("Max open files  20000\n"));
}

TEST_CASE("process metrics: btime of /proc/stat", "[process_metrics]") {
  auto bt = parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1796188684\nprocesses 9\n");
  REQUIRE(bt);
  CHECK(*bt == 1796188684);
  auto fixture = parse_boot_time(slurp(kDir + "/proc-stat-btime"));
  REQUIRE(fixture);
  CHECK(*fixture == 1796188684);
  CHECK(!parse_boot_time("cpu  1 2 3\n"));
  CHECK(!parse_boot_time("btime soon\n"));
}

TEST_CASE("process metrics: read from a copy of a real /proc/<pid>", "[process_metrics]") {
  testing::TempDir d;
  for (const char* f : {"stat", "status", "limits"}) d.write(f, slurp(kDir + "/" + f));
  std::vector<std::string> errors;
  auto s = read_process_stats(d.path(), 100, 1796188684, &errors);
  // No fd/ in the copy: that family alone is left out, with the reason.
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find(d.path() + "/fd") == 0);
  CHECK(!s.open_fds);
  REQUIRE(s.cpu_seconds);
  CHECK(*s.cpu_seconds == Approx(0.22));
  REQUIRE(s.start_time_seconds);
  CHECK(*s.start_time_seconds == Approx(1796188684.0 + 2623.89));
  CHECK(s.rss_bytes == 16872ull * 1024);
  CHECK(s.vm_bytes == 1037208ull * 1024);
  CHECK(s.max_fds == 20000.0);

  const std::string text = text_of(s);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 0.22\n") !=
        std::string::npos);
  CHECK(text.find("process_resident_memory_bytes 17276928\n") != std::string::npos);
  CHECK(text.find("process_virtual_memory_bytes 1062100992\n") != std::string::npos);
  CHECK(text.find("process_max_fds 20000\n") != std::string::npos);
  CHECK(text.find("process_start_time_seconds 1796191307.89\n") != std::string::npos);
  CHECK(text.find("process_open_fds") == std::string::npos);

  // An fd/ directory: its entries are the descriptors (not this process's: nothing discounted).
  for (const char* n : {"0", "1", "2", "7"}) d.write(std::string("fd/") + n, "");
  errors.clear();
  s = read_process_stats(d.path(), 100, 1796188684, &errors);
  CHECK(errors.empty());
  CHECK(s.open_fds == 4u);

  // Without a boot time there is no start time; the rest stays.
  s = read_process_stats(d.path(), 100, std::nullopt, &errors);
  CHECK(!s.start_time_seconds);
  CHECK(s.cpu_seconds);

  // A garbled stat loses the CPU and start families only.
  d.write("stat", "42 (nodehealth) S 1 2\n");
  errors.clear();
  s = read_process_stats(d.path(), 100, 1796188684, &errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("/stat: stat: ") != std::string::npos);
  CHECK(!s.cpu_seconds);
  CHECK(!s.start_time_seconds);
  CHECK(s.rss_bytes);
}

TEST_CASE("process metrics: unlimited descriptors render as +Inf", "[process_metrics]") {
  ProcessStats s;
  s.max_fds = std::numeric_limits<double>::infinity();
  CHECK(text_of(s) ==
        "# HELP process_max_fds The agent's soft limit on open file descriptors "
        "(RLIMIT_NOFILE).\n# TYPE process_max_fds gauge\nprocess_max_fds +Inf\n");
  CHECK(render_process_metrics(ProcessStats{}).empty());
}

TEST_CASE("process metrics: this process's own /proc/self", "[process_metrics]") {
  std::vector<std::string> errors;
  const auto before =
      read_process_stats("/proc/self", ::sysconf(_SC_CLK_TCK), std::nullopt, &errors);
  REQUIRE(errors.empty());
  REQUIRE(before.open_fds);
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const auto after = read_process_stats("/proc/self", ::sysconf(_SC_CLK_TCK), std::nullopt);
  ::close(fds[0]);
  ::close(fds[1]);
  // Exactly the two ends of the pipe: the listing's own descriptor is not counted.
  CHECK(*after.open_fds == *before.open_fds + 2);
  std::size_t listed = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++listed;
  }
  // directory_iterator holds a descriptor of its own while it lists.
  CHECK(listed == *before.open_fds + 1);
  REQUIRE(before.rss_bytes);
  CHECK(*before.rss_bytes > 1u << 20);
  CHECK(*before.vm_bytes >= *before.rss_bytes);
  REQUIRE(before.max_fds);
  CHECK(*before.max_fds > 0);

  // The collector as the agent registers it: all six families, the start time before now.
  ProcessCollector collector;
  const auto families = collector.Collect();
  std::vector<std::string> names;
  for (const auto& f : families) names.push_back(f.name);
  CHECK(names == std::vector<std::string>{"process_cpu_seconds_total", "process_open_fds",
                                          "process_max_fds", "process_virtual_memory_bytes",
                                          "process_resident_memory_bytes",
                                          "process_start_time_seconds"});
  const double start = families.back().metric.at(0).gauge.value;
  CHECK(start <= double(std::time(nullptr)) + 1);
  CHECK(start > double(std::time(nullptr)) - 86400 * 365);
}
