// Pure parsers for /proc and cgroup files: text in, struct out, no I/O.
// They never use atoi: std::from_chars, explicit handling of missing fields,
// truncated input and garbage. Errors name the file kind and the offending line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/result.h"

namespace nodehealth::parse {

// /proc/meminfo. Values are converted from kB to bytes. MemTotal is required;
// the others are optional because older kernels lack some of them.
struct MemInfo {
  uint64_t mem_total_bytes = 0;
  std::optional<uint64_t> mem_free_bytes;
  std::optional<uint64_t> mem_available_bytes;
  std::optional<uint64_t> buffers_bytes;
  std::optional<uint64_t> cached_bytes;
  std::optional<uint64_t> active_file_bytes;    // "Active(file)"
  std::optional<uint64_t> inactive_file_bytes;  // "Inactive(file)"
  std::optional<uint64_t> shmem_bytes;
  std::optional<uint64_t> swap_total_bytes;
  std::optional<uint64_t> swap_free_bytes;
};
Result<MemInfo> parse_meminfo(std::string_view text);

// /proc/loadavg: "0.02 0.05 0.01 1/79 2815".
struct LoadAvg {
  double load1 = 0, load5 = 0, load15 = 0;
  uint64_t runnable = 0;
  uint64_t tasks = 0;  // the number after '/' in the 4th field: all tasks (threads) on the node
  uint64_t last_pid = 0;
};
Result<LoadAvg> parse_loadavg(std::string_view text);

// /proc/pressure/{cpu,memory,io} and cgroup v2 <resource>.pressure.
// avg* are percentages (0..100) as the kernel prints them; total is microseconds.
struct PsiLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;
  uint64_t total_us = 0;
};
struct Psi {
  PsiLine some;
  std::optional<PsiLine> full;  // absent for cpu on kernels before 5.13
};
Result<Psi> parse_psi(std::string_view text);

// A file holding one unsigned integer and a newline (pid_max, memory.usage_in_bytes).
// "max" is rejected: callers that accept it check for it first.
Result<uint64_t> parse_u64_file(std::string_view text);

// "key value" lines (cgroup memory.stat, cpu.stat). Lines that do not have
// exactly two fields or whose value is not an unsigned integer are errors.
Result<std::map<std::string, uint64_t, std::less<>>> parse_flat_keyed(std::string_view text);

// /proc/net/route (IPv4) and /proc/net/ipv6_route (IPv6).
struct Route {
  std::string interface;
  bool is_default = false;  // destination 0/0 (IPv4) or ::/0 (IPv6)
  bool up = false;          // RTF_UP
  uint32_t metric = 0;
};
Result<std::vector<Route>> parse_net_route(std::string_view text);
Result<std::vector<Route>> parse_net_ipv6_route(std::string_view text);

}  // namespace nodehealth::parse
