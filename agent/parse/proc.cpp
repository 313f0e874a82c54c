// Pure parsers for /proc and cgroup files. See proc.h.
#include "agent/parse/proc.h"

#include "agent/parse/text.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

namespace nodehealth::parse {
namespace {

std::string quote(std::string_view s) { return quote_excerpt(s, 96); }

std::string at_line(std::string_view kind, size_t line) {
  return std::string(kind) + ": line " + std::to_string(line) + ": ";
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Iterates over the lines of `text` (without the '\n'), counting from 1.
// A final line without '\n' is still a line; the empty string after a final
// '\n' is not.
class Lines {
 public:
  explicit Lines(std::string_view text) : rest_(text) {}
  bool next(std::string_view& line) {
    if (rest_.empty()) return false;
    size_t nl = rest_.find('\n');
    if (nl == std::string_view::npos) {
      line = rest_;
      rest_ = {};
    } else {
      line = rest_.substr(0, nl);
      rest_.remove_prefix(nl + 1);
    }
    ++number_;
    return true;
  }
  size_t number() const { return number_; }

 private:
  std::string_view rest_;
  size_t number_ = 0;
};

// Whitespace-separated fields.
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool is_blank(std::string_view line) {
  for (char c : line)
    if (!is_space(c)) return false;
  return true;
}

enum class NumError { kNone, kSyntax, kOverflow };

// A whole unsigned integer in `base` (no sign, no prefix, no spaces).
NumError to_u64(std::string_view s, uint64_t& out, int base = 10) {
  if (s.empty()) return NumError::kSyntax;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  if (ec == std::errc::result_out_of_range) return NumError::kOverflow;
  if (ec != std::errc() || ptr != s.data() + s.size()) return NumError::kSyntax;
  return NumError::kNone;
}

bool to_u32_hex(std::string_view s, uint32_t& out) {
  uint64_t v = 0;
  if (s.size() > 8 || to_u64(s, v, 16) != NumError::kNone) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

// A whole finite, non-negative decimal number ("0.02"). from_chars does not
// look at the locale.
bool to_nonneg_double(std::string_view s, double& out) {
  if (s.empty() || s.front() == '-' || s.front() == '+') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(out) && out >= 0;
}

std::string u64_problem(NumError e) {
  return e == NumError::kOverflow ? "value out of range " : "bad value ";
}

// ---------------------------------------------------------------- meminfo

struct MemKey {
  std::string_view name;
  std::optional<uint64_t> MemInfo::*field;  // nullptr: MemTotal
};

constexpr std::string_view kMem = "meminfo";

}  // namespace

Result<MemInfo> parse_meminfo(std::string_view text) {
  static const MemKey keys[] = {
      {"MemTotal", nullptr},
      {"MemFree", &MemInfo::mem_free_bytes},
      {"MemAvailable", &MemInfo::mem_available_bytes},
      {"Buffers", &MemInfo::buffers_bytes},
      {"Cached", &MemInfo::cached_bytes},
      {"Active(file)", &MemInfo::active_file_bytes},
      {"Inactive(file)", &MemInfo::inactive_file_bytes},
      {"Shmem", &MemInfo::shmem_bytes},
      {"SwapTotal", &MemInfo::swap_total_bytes},
      {"SwapFree", &MemInfo::swap_free_bytes},
  };
  if (text.empty()) return fail("meminfo: empty input");

  MemInfo info;
  bool have_total = false;
  Lines lines(text);
  std::string_view line;
  while (lines.next(line)) {
    if (is_blank(line)) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return fail(at_line(kMem, lines.number()) + "expected \"Key: value\", got " + quote(line));
    std::string_view name = line.substr(0, colon);
    const MemKey* key = nullptr;
    for (const auto& k : keys)
      if (k.name == name) key = &k;
    // Keys we do not use are not validated: a new kernel may add any line.
    if (key == nullptr) continue;

    auto f = fields(line.substr(colon + 1));
    if (f.empty())
      return fail(at_line(kMem, lines.number()) + "missing value for " + std::string(name));
    if (f.size() != 2 || f[1] != "kB")
      return fail(at_line(kMem, lines.number()) + "expected \"<value> kB\" for " +
                  std::string(name) + ", got " + quote(line.substr(colon + 1)));
    uint64_t kb = 0;
    if (NumError e = to_u64(f[0], kb); e != NumError::kNone)
      return fail(at_line(kMem, lines.number()) + u64_problem(e) + quote(f[0]) + " for " +
                  std::string(name));
    if (kb > std::numeric_limits<uint64_t>::max() / 1024)
      return fail(at_line(kMem, lines.number()) + "value out of range " + quote(f[0]) + " kB for " +
                  std::string(name) + " (overflows bytes)");
    uint64_t bytes = kb * 1024;
    if (key->field == nullptr) {
      if (have_total) return fail(at_line(kMem, lines.number()) + "duplicate " + std::string(name));
      info.mem_total_bytes = bytes;
      have_total = true;
    } else {
      auto& slot = info.*(key->field);
      if (slot) return fail(at_line(kMem, lines.number()) + "duplicate " + std::string(name));
      slot = bytes;
    }
  }
  if (!have_total) return fail("meminfo: missing MemTotal");
  return info;
}

// ---------------------------------------------------------------- loadavg

Result<LoadAvg> parse_loadavg(std::string_view text) {
  constexpr std::string_view kKind = "loadavg";
  if (is_blank(text)) return fail("loadavg: empty input");
  Lines lines(text);
  std::string_view line;
  lines.next(line);
  // A second non-blank line is not something the kernel writes.
  std::string_view extra;
  while (lines.next(extra))
    if (!is_blank(extra))
      return fail(at_line(kKind, lines.number()) + "unexpected text " + quote(extra));

  auto f = fields(line);
  if (f.size() != 5)
    return fail(at_line(kKind, 1) + "expected 5 fields, got " + std::to_string(f.size()) + " in " +
                quote(line));
  LoadAvg la;
  const char* names[] = {"load1", "load5", "load15"};
  double* slots[] = {&la.load1, &la.load5, &la.load15};
  for (int i = 0; i < 3; ++i)
    if (!to_nonneg_double(f[i], *slots[i]))
      return fail(at_line(kKind, 1) + "bad value " + quote(f[i]) + " for " + names[i]);

  size_t slash = f[3].find('/');
  if (slash == std::string_view::npos)
    return fail(at_line(kKind, 1) + "bad value " + quote(f[3]) +
                " for runnable/tasks (expected \"<runnable>/<tasks>\")");
  if (NumError e = to_u64(f[3].substr(0, slash), la.runnable); e != NumError::kNone)
    return fail(at_line(kKind, 1) + u64_problem(e) + quote(f[3]) + " for runnable");
  if (NumError e = to_u64(f[3].substr(slash + 1), la.tasks); e != NumError::kNone)
    return fail(at_line(kKind, 1) + u64_problem(e) + quote(f[3]) + " for tasks");
  if (NumError e = to_u64(f[4], la.last_pid); e != NumError::kNone)
    return fail(at_line(kKind, 1) + u64_problem(e) + quote(f[4]) + " for last_pid");
  return la;
}

// ---------------------------------------------------------------- PSI

Result<Psi> parse_psi(std::string_view text) {
  constexpr std::string_view kKind = "psi";
  Psi psi;
  bool have_some = false;
  Lines lines(text);
  std::string_view line;
  while (lines.next(line)) {
    if (is_blank(line)) continue;
    auto f = fields(line);
    PsiLine* target = nullptr;
    if (f[0] == "some") {
      if (have_some) return fail(at_line(kKind, lines.number()) + "duplicate \"some\" line");
      target = &psi.some;
      have_some = true;
    } else if (f[0] == "full") {
      if (psi.full) return fail(at_line(kKind, lines.number()) + "duplicate \"full\" line");
      psi.full.emplace();
      target = &*psi.full;
    } else {
      return fail(at_line(kKind, lines.number()) + "expected \"some\" or \"full\", got " +
                  quote(line));
    }
    bool seen[4] = {false, false, false, false};
    for (size_t i = 1; i < f.size(); ++i) {
      size_t eq = f[i].find('=');
      if (eq == std::string_view::npos)
        return fail(at_line(kKind, lines.number()) + "expected key=value, got " + quote(f[i]));
      std::string_view key = f[i].substr(0, eq), value = f[i].substr(eq + 1);
      int idx = key == "avg10"    ? 0
                : key == "avg60"  ? 1
                : key == "avg300" ? 2
                : key == "total"  ? 3
                                  : -1;
      if (idx < 0) continue;  // a field a newer kernel may add
      if (seen[idx]) return fail(at_line(kKind, lines.number()) + "duplicate " + std::string(key));
      seen[idx] = true;
      if (idx == 3) {
        if (NumError e = to_u64(value, target->total_us); e != NumError::kNone)
          return fail(at_line(kKind, lines.number()) + u64_problem(e) + quote(value) +
                      " for total");
        continue;
      }
      double* slot = idx == 0 ? &target->avg10 : idx == 1 ? &target->avg60 : &target->avg300;
      if (!to_nonneg_double(value, *slot) || *slot > 100)
        return fail(at_line(kKind, lines.number()) + "bad value " + quote(value) + " for " +
                    std::string(key));
    }
    const char* names[] = {"avg10", "avg60", "avg300", "total"};
    for (int i = 0; i < 4; ++i)
      if (!seen[i])
        return fail(at_line(kKind, lines.number()) + "missing " + names[i] + " in " + quote(line));
  }
  if (!have_some) return fail(text.empty() ? "psi: empty input" : "psi: missing \"some\" line");
  return psi;
}

// ---------------------------------------------------------------- single value

Result<uint64_t> parse_u64_file(std::string_view text) {
  constexpr std::string_view kKind = "integer file";
  if (text.empty()) return fail("integer file: empty input");
  std::string_view value = text;
  if (value.back() == '\n') value.remove_suffix(1);
  if (value.find('\n') != std::string_view::npos)
    return fail(std::string(kKind) + ": expected one line, got " + quote(text));
  uint64_t out = 0;
  if (NumError e = to_u64(value, out); e != NumError::kNone)
    return fail(at_line(kKind, 1) + u64_problem(e) + quote(value));
  return out;
}

// ---------------------------------------------------------------- key value

Result<std::map<std::string, uint64_t, std::less<>>> parse_flat_keyed(std::string_view text) {
  constexpr std::string_view kKind = "keyed file";
  std::map<std::string, uint64_t, std::less<>> out;
  Lines lines(text);
  std::string_view line;
  while (lines.next(line)) {
    if (is_blank(line)) continue;
    auto f = fields(line);
    if (f.size() != 2)
      return fail(at_line(kKind, lines.number()) + "expected \"key value\", got " + quote(line));
    uint64_t v = 0;
    if (NumError e = to_u64(f[1], v); e != NumError::kNone)
      return fail(at_line(kKind, lines.number()) + u64_problem(e) + quote(f[1]) + " for " +
                  std::string(f[0]));
    if (!out.emplace(std::string(f[0]), v).second)
      return fail(at_line(kKind, lines.number()) + "duplicate key " + quote(f[0]));
  }
  return out;
}

// ---------------------------------------------------------------- routes

namespace {
constexpr uint32_t kRtfUp = 0x1;
}

Result<std::vector<Route>> parse_net_route(std::string_view text) {
  // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
  constexpr std::string_view kKind = "route";
  constexpr size_t kFields = 11;
  if (text.empty()) return fail("route: empty input (no header line)");
  std::vector<Route> routes;
  Lines lines(text);
  std::string_view line;
  lines.next(line);
  auto header = fields(line);
  if (header.size() < 8 || header[0] != "Iface" || header[1] != "Destination" ||
      header[7] != "Mask")
    return fail(at_line(kKind, 1) + "expected the header \"Iface Destination ...\", got " +
                quote(line));
  while (lines.next(line)) {
    if (is_blank(line)) continue;
    auto f = fields(line);
    if (f.size() < kFields)
      return fail(at_line(kKind, lines.number()) + "expected " + std::to_string(kFields) +
                  " fields, got " + std::to_string(f.size()) + " in " + quote(line));
    uint32_t dest = 0, flags = 0, mask = 0;
    uint64_t metric = 0;
    if (!to_u32_hex(f[1], dest))
      return fail(at_line(kKind, lines.number()) + "bad value " + quote(f[1]) + " for Destination");
    if (!to_u32_hex(f[3], flags))
      return fail(at_line(kKind, lines.number()) + "bad value " + quote(f[3]) + " for Flags");
    if (to_u64(f[6], metric) != NumError::kNone || metric > std::numeric_limits<uint32_t>::max())
      return fail(at_line(kKind, lines.number()) + "bad value " + quote(f[6]) + " for Metric");
    if (!to_u32_hex(f[7], mask))
      return fail(at_line(kKind, lines.number()) + "bad value " + quote(f[7]) + " for Mask");
    Route r;
    r.interface = std::string(f[0]);
    r.is_default = dest == 0 && mask == 0;
    r.up = (flags & kRtfUp) != 0;
    r.metric = static_cast<uint32_t>(metric);
    routes.push_back(std::move(r));
  }
  return routes;
}

Result<std::vector<Route>> parse_net_ipv6_route(std::string_view text) {
  // dest dest_plen src src_plen next_hop metric refcnt use flags iface
  // (no header; an empty file means no routes).
  constexpr std::string_view kKind = "ipv6_route";
  constexpr size_t kFields = 10;
  std::vector<Route> routes;
  Lines lines(text);
  std::string_view line;
  while (lines.next(line)) {
    if (is_blank(line)) continue;
    auto f = fields(line);
    if (f.size() != kFields)
      return fail(at_line(kKind, lines.number()) + "expected " + std::to_string(kFields) +
                  " fields, got " + std::to_string(f.size()) + " in " + quote(line));
    auto hex128 = [](std::string_view s) {
      if (s.size() != 32) return false;
      for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
          return false;
      return true;
    };
    if (!hex128(f[0]))
      return fail(at_line(kKind, lines.number()) + "bad value " + quote(f[0]) + " for destination");
    uint32_t plen = 0, metric = 0, flags = 0;
    if (f[1].size() != 2 || !to_u32_hex(f[1], plen) || plen > 128)
      return fail(at_line(kKind, lines.number()) + "bad value " + quote(f[1]) +
                  " for destination prefix length");
    if (f[5].size() != 8 || !to_u32_hex(f[5], metric))
      return fail(at_line(kKind, lines.number()) + "bad value " + quote(f[5]) + " for metric");
    if (f[8].size() != 8 || !to_u32_hex(f[8], flags))
      return fail(at_line(kKind, lines.number()) + "bad value " + quote(f[8]) + " for flags");
    Route r;
    r.interface = std::string(f[9]);
    r.is_default = plen == 0 && f[0].find_first_not_of('0') == std::string_view::npos;
    r.up = (flags & kRtfUp) != 0;
    r.metric = metric;
    routes.push_back(std::move(r));
  }
  return routes;
}

}  // namespace nodehealth::parse
