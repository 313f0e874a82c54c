// /proc/<pid>/mountinfo parser. See mountinfo.h and proc(5):
//
//   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2)(3)   (4)   (5)         (6)      (7...)   (8)(9)   (10)      (11)
//
// Fields are separated by exactly one space. The kernel escapes space, tab,
// newline and backslash in paths as \040 \011 \012 \134, so a field never
// holds a space; an empty field (a mount whose source is "") shows up as two
// spaces in a row, which is why the line is split on single spaces.
#include "agent/parse/mountinfo.h"

#include "agent/parse/text.h"

#include <charconv>
#include <system_error>
#include <utility>

namespace nodehealth::parse {
namespace {

std::string quote(std::string_view s) { return quote_excerpt(s, 160); }

bool is_octal(char c) { return c >= '0' && c <= '7'; }

// Decodes the kernel's \ooo escapes. A backslash not followed by three octal
// digits is kept as it is (the kernel never writes one).
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && is_octal(s[i + 1]) && is_octal(s[i + 2]) &&
        is_octal(s[i + 3])) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      if (v <= 0xff) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

template <typename T>
bool to_uint(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t sp = line.find(' ', start);
    if (sp == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
}

bool has_option(std::string_view options, std::string_view opt) {
  size_t start = 0;
  while (start <= options.size()) {
    size_t comma = options.find(',', start);
    std::string_view item = options.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item == opt) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

}  // namespace

bool MountInfo::read_only() const {
  return has_option(mount_options, "ro") || has_option(super_options, "ro");
}

bool MountInfo::has_super_option(std::string_view opt) const {
  return has_option(super_options, opt);
}

Result<std::vector<MountInfo>> parse_mountinfo(std::string_view text) {
  if (text.empty()) return fail("mountinfo: empty input");
  std::vector<MountInfo> mounts;
  size_t number = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    ++number;
    if (line.empty()) continue;
    auto err = [&](const std::string& why) {
      return fail("mountinfo: line " + std::to_string(number) + ": " + why + " in " + quote(line));
    };

    auto f = split_spaces(line);
    // The optional fields end at the first "-" after the 6 fixed fields.
    size_t sep = 6;
    while (sep < f.size() && f[sep] != "-") ++sep;
    if (f.size() < 10) return err("expected at least 10 fields, got " + std::to_string(f.size()));
    if (sep == f.size()) return err("missing the \"-\" separator");
    if (f.size() - sep - 1 != 3)
      return err("expected 3 fields after \"-\", got " + std::to_string(f.size() - sep - 1));

    MountInfo m;
    if (!to_uint(f[0], m.mount_id)) return err("bad mount ID " + quote(f[0]));
    if (!to_uint(f[1], m.parent_id)) return err("bad parent ID " + quote(f[1]));
    size_t colon = f[2].find(':');
    if (colon == std::string_view::npos || !to_uint(f[2].substr(0, colon), m.major) ||
        !to_uint(f[2].substr(colon + 1), m.minor))
      return err("bad major:minor " + quote(f[2]));
    if (f[3].empty()) return err("empty root");
    if (f[4].empty()) return err("empty mount point");
    if (f[sep + 1].empty()) return err("empty filesystem type");
    m.root = unescape(f[3]);
    m.mount_point = unescape(f[4]);
    m.mount_options = std::string(f[5]);
    m.fs_type = std::string(f[sep + 1]);
    m.source = unescape(f[sep + 2]);
    m.super_options = std::string(f[sep + 3]);
    mounts.push_back(std::move(m));
  }
  if (mounts.empty()) return fail("mountinfo: no mounts in input");
  return mounts;
}

const MountInfo* find_mount_for(const std::vector<MountInfo>& mounts, std::string_view path) {
  const MountInfo* best = nullptr;
  for (const auto& m : mounts) {
    std::string_view mp = m.mount_point;
    bool match;
    if (mp == "/") {
      match = !path.empty() && path.front() == '/';
    } else {
      match = path.size() >= mp.size() && path.substr(0, mp.size()) == mp &&
              (path.size() == mp.size() || path[mp.size()] == '/');
    }
    // ">=": among mounts on the same point the later one shadows the earlier.
    if (match && (best == nullptr || mp.size() >= best->mount_point.size())) best = &m;
  }
  return best;
}

}  // namespace nodehealth::parse
