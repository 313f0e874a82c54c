#include "agent/checkpoint/parse.h"

#include <charconv>
#include <ctime>
#include <regex>

namespace nodehealth::checkpoint {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The next whitespace-separated token of `s`, consumed.
std::string_view next_token(std::string_view& s) {
  s = trim(s);
  const auto end = s.find_first_of(" \t");
  const std::string_view tok = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
  return tok;
}

bool is_hex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// "7f00-7fff" (a mapping's address range: the first token of a smaps header line).
bool is_range(std::string_view tok) {
  const auto dash = tok.find('-');
  return dash != std::string_view::npos && is_hex(tok.substr(0, dash)) &&
         is_hex(tok.substr(dash + 1));
}

// DNS-1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric.
bool is_label(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

template <typename T>
bool to_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<SmapsRollup> parse_smaps_rollup(std::string_view text) {
  SmapsRollup r;
  bool anonymous = false;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    std::string_view rest = line;
    const std::string_view key = next_token(rest);
    if (key.empty()) continue;
    if (!key.ends_with(':')) {
      if (is_range(key)) continue;  // the "[rollup]" header line
      return fail("smaps_rollup: line " + std::to_string(line_no) + ": unexpected \"" +
                  std::string(line) + "\"");
    }
    const std::string_view value = next_token(rest), unit = next_token(rest);
    uint64_t v = 0;
    if (!to_number(value, v) || (unit != "kB" && !unit.empty()))
      return fail("smaps_rollup: line " + std::to_string(line_no) + ": bad value in \"" +
                  std::string(line) + "\"");
    if (unit == "kB") v *= 1024;
    const std::string_view name = key.substr(0, key.size() - 1);
    if (name == "Rss") r.rss = v;
    if (name == "Anonymous") r.anonymous = v, anonymous = true;
    if (name == "Pss_Shmem") r.pss_shmem = v, r.has_pss_shmem = true;
    if (name == "Swap") r.swap = v;
    if (name == "Private_Dirty") r.private_dirty = v;
  }
  if (line_no > 0 && !anonymous) return fail("smaps_rollup: no Anonymous line");
  return r;
}

void SmapsFileCow::line(std::string_view line) {
  std::string_view rest = line;
  const std::string_view first = next_token(rest);
  if (first.empty()) return;
  if (first.ends_with(':')) {
    if (first == "Anonymous:" && private_file_) {
      uint64_t v = 0;
      if (to_number(next_token(rest), v)) bytes_ += v * 1024;
    }
    return;
  }
  if (!is_range(first)) return;
  // "start-end perms offset dev inode [path]"
  const std::string_view perms = next_token(rest);
  next_token(rest);  // offset
  next_token(rest);  // dev
  const std::string_view inode = next_token(rest);
  private_file_ = perms.size() == 4 && perms[3] == 'p' && !inode.empty() && inode != "0";
}

std::optional<TimePoint> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (!to_number(s.substr(0, 4), year) || !to_number(s.substr(5, 2), mon) ||
      !to_number(s.substr(8, 2), day) || !to_number(s.substr(11, 2), hour) ||
      !to_number(s.substr(14, 2), min) || !to_number(s.substr(17, 2), sec))
    return std::nullopt;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
    return std::nullopt;
  // A TimePoint counts nanoseconds in 64 bits: 1678..2261. Years outside it would overflow
  // (found by fuzz/cgroup_path: "0087-04-18T18:20:18Z").
  if (year < 1678 || year > 2261) return std::nullopt;
  std::string_view rest = s.substr(19);
  std::chrono::nanoseconds frac{0};
  if (!rest.empty() && rest.front() == '.') {
    std::size_t n = 1;
    int64_t ns = 0, digits = 0;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') {
      if (digits < 9) ns = ns * 10 + (rest[n] - '0'), ++digits;
      ++n;
    }
    if (n == 1) return std::nullopt;
    while (digits++ < 9) ns *= 10;
    frac = std::chrono::nanoseconds(ns);
    rest.remove_prefix(n);
  }
  int offset_minutes = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (!to_number(rest.substr(1, 2), oh) || !to_number(rest.substr(4, 2), om) || oh > 23 ||
        om > 59)
      return std::nullopt;
    offset_minutes = (rest[0] == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const time_t t = ::timegm(&tm);
  return TimePoint(std::chrono::seconds(t) - std::chrono::minutes(offset_minutes)) +
         std::chrono::duration_cast<TimePoint::duration>(frac);
}

std::optional<ArchiveName> parse_archive_name(std::string_view file_name,
                                              const KnownPod& known_pod) {
  static const std::regex kName(
      "checkpoint-([a-z0-9]([-a-z0-9.]*[a-z0-9])?)_([a-z0-9][-a-z0-9]*[a-z0-9])-"
      "([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))"
      "\\.tar");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(file_name.begin(), file_name.end(), m, kName)) return std::nullopt;
  ArchiveName a;
  a.pod = m[1].str();
  a.namespace_and_container = m[3].str();
  a.time_text = m[4].str();
  a.time = parse_rfc3339(a.time_text);
  const std::string& nc = a.namespace_and_container;
  for (std::size_t dash = nc.find('-'); dash != std::string::npos; dash = nc.find('-', dash + 1)) {
    const std::string ns = nc.substr(0, dash), container = nc.substr(dash + 1);
    if (is_label(ns) && is_label(container)) a.candidates.emplace_back(ns, container);
  }
  if (a.candidates.empty()) return std::nullopt;  // no '-' between namespace and container
  if (a.candidates.size() == 1) {
    a.ns = a.candidates[0].first;
    a.container = a.candidates[0].second;
  } else if (known_pod) {
    const std::pair<std::string, std::string>* pick = nullptr;
    int matches = 0;
    for (const auto& c : a.candidates)
      if (known_pod(c.first, a.pod)) pick = &c, ++matches;
    if (matches == 1) {
      a.ns = pick->first;
      a.container = pick->second;
    }
  }
  return a;
}

std::optional<ContainerLogName> parse_container_log_name(std::string_view name) {
  if (!name.ends_with(".log")) return std::nullopt;
  name.remove_suffix(4);
  const auto dash = name.rfind('-');
  if (dash == std::string_view::npos) return std::nullopt;
  ContainerLogName out;
  const std::string_view id = name.substr(dash + 1);
  if (id.size() < 12 || !is_hex(id)) return std::nullopt;
  out.container_id = id;
  name = name.substr(0, dash);
  const auto u1 = name.find('_');
  if (u1 == std::string_view::npos) return std::nullopt;
  const auto u2 = name.find('_', u1 + 1);
  if (u2 == std::string_view::npos || name.find('_', u2 + 1) != std::string_view::npos)
    return std::nullopt;
  out.pod = name.substr(0, u1);
  out.ns = name.substr(u1 + 1, u2 - u1 - 1);
  out.container = name.substr(u2 + 1);
  if (out.pod.empty() || out.ns.empty() || out.container.empty()) return std::nullopt;
  return out;
}

}  // namespace nodehealth::checkpoint
