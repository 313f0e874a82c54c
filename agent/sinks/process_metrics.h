// The agent's own footprint as the standard process_* metrics every Prometheus client exports:
// process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
// process_open_fds, process_max_fds and process_start_time_seconds. Read from the agent's own
// /proc/self (the real procfs, not the configured host root: the agent's process is where it
// runs) at scrape time: three small reads and one directory listing, each allowed by the
// sandbox's seccomp list. A family whose file cannot be read is left out of that scrape.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "nodehealth/result.h"

namespace nodehealth::sinks {

// /proc/<pid>/stat: the fields after the parenthesised command name (which may hold spaces and
// parentheses itself), in clock ticks.
struct ProcPidStat {
  uint64_t utime_ticks = 0;  // field 14
  uint64_t stime_ticks = 0;  // field 15
  uint64_t start_ticks = 0;  // field 22: since boot
  uint64_t vsize_bytes = 0;  // field 23
  uint64_t rss_pages = 0;    // field 24
};
Result<ProcPidStat> parse_proc_pid_stat(std::string_view text);

// /proc/<pid>/status: VmRSS and VmSize, converted from kB to bytes (both required).
struct ProcPidStatus {
  uint64_t rss_bytes = 0;
  uint64_t vm_bytes = 0;
};
Result<ProcPidStatus> parse_proc_pid_status(std::string_view text);

// /proc/<pid>/limits: the soft limit of "Max open files"; nullopt when "unlimited".
Result<std::optional<uint64_t>> parse_max_open_files(std::string_view text);

// /proc/stat: the "btime" line, the boot time in seconds since the epoch.
Result<uint64_t> parse_boot_time(std::string_view text);

// What the process_* families carry; each optional is left out when its source failed.
struct ProcessStats {
  std::optional<double> cpu_seconds;
  std::optional<double> start_time_seconds;
  std::optional<uint64_t> rss_bytes, vm_bytes;
  std::optional<uint64_t> open_fds;
  std::optional<double> max_fds;  // +Inf when unlimited
};

// Reads `dir` (a /proc/<pid> directory: stat, status, limits, fd/). clk_tck: sysconf's
// _SC_CLK_TCK; boot_time: btime, nullopt when unknown (then no start time). Errors of the
// individual files are appended to `errors`.
ProcessStats read_process_stats(const std::string& dir, long clk_tck,
                                std::optional<uint64_t> boot_time,
                                std::vector<std::string>* errors = nullptr);

// The families for `s`, in a fixed order, empty ones left out.
std::vector<prometheus::MetricFamily> render_process_metrics(const ProcessStats& s);

class ProcessCollector final : public prometheus::Collectable {
 public:
  // dir: the process directory ("/proc/self"); proc_stat: the file holding btime, read once
  // here (it does not change while the machine is up).
  explicit ProcessCollector(std::string dir = "/proc/self",
                            const std::string& proc_stat = "/proc/stat");
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string dir_;
  long clk_tck_;
  std::optional<uint64_t> boot_time_;
  mutable std::atomic<bool> warned_{false};  // one warning, not one per scrape
};

}  // namespace nodehealth::sinks
