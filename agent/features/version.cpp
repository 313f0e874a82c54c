#include "agent/features/version.h"

#include <charconv>

#include <fmt/core.h>

namespace nodehealth::features {

std::string KernelVersion::to_string() const {
  std::string out;
  for (std::size_t i = 0; i < components.size(); ++i) {
    if (i) out += '.';
    out += std::to_string(components[i]);
  }
  return out;
}

int compare(const KernelVersion& a, const KernelVersion& b) {
  const std::size_t n = std::max(a.components.size(), b.components.size());
  for (std::size_t i = 0; i < n; ++i) {
    const uint64_t x = i < a.components.size() ? a.components[i] : 0;
    const uint64_t y = i < b.components.size() ? b.components[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f)
          out += fmt::format("\\x{:02x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<KernelVersion> parse_kernel_version(std::string_view text) {
  // strings.TrimSpace
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  const std::string quoted = go_quote(text);

  // versionMatchRE = ^\s*v?([0-9]+(?:\.[0-9]+)*)(.*)*$ ; Go's "." does not match "\n", so a
  // newline after the numbers makes the whole expression fail.
  std::string_view rest = text;
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t' || rest.front() == '\n' ||
                           rest.front() == '\f' || rest.front() == '\r'))
    rest.remove_prefix(1);
  if (!rest.empty() && rest.front() == 'v') rest.remove_prefix(1);
  std::size_t end = 0;
  while (end < rest.size() && is_digit(rest[end])) ++end;
  if (end == 0) return fail(fmt::format("could not parse {} as version", quoted));
  for (;;) {  // (?:\.[0-9]+)*
    if (end + 1 < rest.size() && rest[end] == '.' && is_digit(rest[end + 1])) {
      end += 2;
      while (end < rest.size() && is_digit(rest[end])) ++end;
    } else {
      break;
    }
  }
  const std::string_view numbers = rest.substr(0, end);
  if (rest.substr(end).find('\n') != std::string_view::npos)
    return fail(fmt::format("could not parse {} as version", quoted));

  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t dot = numbers.find('.', start);
    parts.push_back(numbers.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() < 2) return fail(fmt::format("illegal version string {}", quoted));

  KernelVersion v;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view comp = parts[i];
    if (i == 0 && comp.size() > 1 && comp.front() == '0')
      return fail(
          fmt::format("illegal zero-prefixed version component {} in {}", go_quote(comp), quoted));
    uint64_t num = 0;
    auto [ptr, ec] = std::from_chars(comp.data(), comp.data() + comp.size(), num);
    if (ec != std::errc{} || ptr != comp.data() + comp.size())
      return fail(fmt::format(
          "illegal non-numeric version component {} in {}: strconv.ParseUint: parsing {}: value "
          "out of range",
          go_quote(comp), quoted, go_quote(comp)));
    v.components.push_back(num);
  }
  return v;
}

}  // namespace nodehealth::features
