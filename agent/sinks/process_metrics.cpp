#include "agent/sinks/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <limits>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/sinks/families.h"
#include "agent/sources/files.h"

namespace nodehealth::sinks {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::vector<std::string_view> fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_space(s[i]) && s[i] != '\n') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
    if (i < s.size() && s[i] == '\n') break;
  }
  return out;
}

bool to_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// The line of `text` starting with `key` (the key and what follows it), or nullopt.
std::optional<std::string_view> line_after(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    if (line.starts_with(key)) return line.substr(key.size());
    pos = nl + 1;
  }
  return std::nullopt;
}

std::string excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > 40 ? out + "..." : out;
}

}  // namespace

Result<ProcPidStat> parse_proc_pid_stat(std::string_view text) {
  // "pid (comm) state ppid ...": comm may hold ") (" itself, so split at the last ')'.
  const std::size_t close = text.rfind(')');
  if (close == std::string_view::npos) return fail("stat: no \")\" after the command name");
  const auto f = fields(text.substr(close + 1));
  // f[0] is field 3 (state); field n is f[n - 3].
  if (f.size() < 22)
    return fail(fmt::format("stat: {} fields after the command name, want at least 22", f.size()));
  ProcPidStat s;
  const std::pair<int, uint64_t*> want[] = {{14, &s.utime_ticks},
                                            {15, &s.stime_ticks},
                                            {22, &s.start_ticks},
                                            {23, &s.vsize_bytes},
                                            {24, &s.rss_pages}};
  for (const auto& [n, slot] : want) {
    if (!to_u64(f[n - 3], *slot))
      return fail(fmt::format("stat: field {}: bad value \"{}\"", n, excerpt(f[n - 3])));
  }
  return s;
}

Result<ProcPidStatus> parse_proc_pid_status(std::string_view text) {
  ProcPidStatus s;
  const std::pair<std::string_view, uint64_t*> want[] = {{"VmRSS:", &s.rss_bytes},
                                                         {"VmSize:", &s.vm_bytes}};
  for (const auto& [key, slot] : want) {
    const auto rest = line_after(text, key);
    if (!rest) return fail(fmt::format("status: no {} line", key));
    const auto f = fields(*rest);
    uint64_t kb = 0;
    if (f.size() != 2 || f[1] != "kB" || !to_u64(f[0], kb))
      return fail(fmt::format("status: {} want \"<n> kB\", got \"{}\"", key, excerpt(*rest)));
    if (kb > std::numeric_limits<uint64_t>::max() / 1024)
      return fail(fmt::format("status: {} out of range", key));
    *slot = kb * 1024;
  }
  return s;
}

Result<std::optional<uint64_t>> parse_max_open_files(std::string_view text) {
  const auto rest = line_after(text, "Max open files");
  if (!rest) return fail("limits: no \"Max open files\" line");
  const auto f = fields(*rest);  // soft, hard, "files"
  if (f.size() != 3) return fail(fmt::format("limits: bad line \"{}\"", excerpt(*rest)));
  if (f[0] == "unlimited") return std::optional<uint64_t>();
  uint64_t v = 0;
  if (!to_u64(f[0], v)) return fail(fmt::format("limits: bad soft limit \"{}\"", excerpt(f[0])));
  return std::optional<uint64_t>(v);
}

Result<uint64_t> parse_boot_time(std::string_view text) {
  const auto rest = line_after(text, "btime ");
  if (!rest) return fail("stat: no btime line");
  const auto f = fields(*rest);
  uint64_t v = 0;
  if (f.size() != 1 || !to_u64(f[0], v))
    return fail(fmt::format("stat: bad btime \"{}\"", excerpt(*rest)));
  return v;
}

ProcessStats read_process_stats(const std::string& dir, long clk_tck,
                                std::optional<uint64_t> boot_time,
                                std::vector<std::string>* errors) {
  ProcessStats out;
  auto note = [&](const std::string& path, const Error& e) {
    if (errors)
      errors->push_back(e.message.starts_with(path) ? e.message : path + ": " + e.message);
  };
  const std::string stat_path = dir + "/stat";
  if (auto text = sources::read_file(stat_path, 4096); !text) {
    note(stat_path, text.error());
  } else if (auto st = parse_proc_pid_stat(*text); !st) {
    note(stat_path, st.error());
  } else if (clk_tck > 0) {
    const double hz = double(clk_tck);
    out.cpu_seconds = double(st->utime_ticks + st->stime_ticks) / hz;
    if (boot_time) out.start_time_seconds = double(*boot_time) + double(st->start_ticks) / hz;
  }
  const std::string status_path = dir + "/status";
  if (auto text = sources::read_file(status_path, 16384); !text) {
    note(status_path, text.error());
  } else if (auto st = parse_proc_pid_status(*text); !st) {
    note(status_path, st.error());
  } else {
    out.rss_bytes = st->rss_bytes;
    out.vm_bytes = st->vm_bytes;
  }
  const std::string limits_path = dir + "/limits";
  if (auto text = sources::read_file(limits_path, 8192); !text) {
    note(limits_path, text.error());
  } else if (auto lim = parse_max_open_files(*text); !lim) {
    note(limits_path, lim.error());
  } else {
    out.max_fds = *lim ? double(**lim) : std::numeric_limits<double>::infinity();
  }
  // The descriptors: the entries of fd/, less the one this listing holds open itself.
  const std::string fd_path = dir + "/fd";
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(fd_path.c_str()), ::closedir);
  if (!d) {
    note(fd_path, Error(fmt::format("opendir: {}", std::strerror(errno)), errno));
  } else {
    const std::string own = std::to_string(::dirfd(d.get()));
    const bool self = dir == "/proc/self";
    uint64_t n = 0;
    while (const dirent* e = ::readdir(d.get())) {
      if (e->d_name[0] == '.') continue;
      if (self && own == e->d_name) continue;
      ++n;
    }
    out.open_fds = n;
  }
  return out;
}

std::vector<prometheus::MetricFamily> render_process_metrics(const ProcessStats& s) {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  auto add = [&](const char* name, const char* help, MetricType type, auto value) {
    if (!value) return;
    prometheus::MetricFamily f{name, help, type, {}};
    add_sample(f, {}, double(*value));
    out.push_back(std::move(f));
  };
  add("process_cpu_seconds_total",
      "CPU time the agent's process has used, user and system, in seconds.", MetricType::Counter,
      s.cpu_seconds);
  add("process_open_fds", "File descriptors the agent's process holds open.", MetricType::Gauge,
      s.open_fds);
  add("process_max_fds", "The agent's soft limit on open file descriptors (RLIMIT_NOFILE).",
      MetricType::Gauge, s.max_fds);
  add("process_virtual_memory_bytes",
      "Virtual memory size of the agent's process (VmSize), in bytes.", MetricType::Gauge,
      s.vm_bytes);
  add("process_resident_memory_bytes", "Resident memory of the agent's process (VmRSS), in bytes.",
      MetricType::Gauge, s.rss_bytes);
  add("process_start_time_seconds", "When the agent's process started, in seconds since the epoch.",
      MetricType::Gauge, s.start_time_seconds);
  return out;
}

ProcessCollector::ProcessCollector(std::string dir, const std::string& proc_stat)
    : dir_(std::move(dir)), clk_tck_(::sysconf(_SC_CLK_TCK)) {
  // /proc/stat holds a line per CPU: read it once, whole (it can be large on big machines).
  if (auto text = sources::read_file(proc_stat); !text) {
    spdlog::warn("process metrics: no start time: {}", text.error().message);
  } else if (auto bt = parse_boot_time(*text); !bt) {
    spdlog::warn("process metrics: no start time: {} file={}", bt.error().message, proc_stat);
  } else {
    boot_time_ = *bt;
  }
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<std::string> errors;
  auto stats = read_process_stats(dir_, clk_tck_, boot_time_, &errors);
  if (!errors.empty() && !warned_.exchange(true))
    spdlog::warn("process metrics: cannot read {} (left out of /metrics, warned once)",
                 fmt::join(errors, "; "));
  return render_process_metrics(stats);
}

}  // namespace nodehealth::sinks
