#include "agent/kube/labels.h"

#include <fmt/format.h>

namespace nodehealth::kube {

namespace {

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// [A-Za-z0-9-_.]*, alphanumeric at both ends; the caller checks that s is not empty.
bool name_chars(std::string_view s) {
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::string quoted(std::string_view s) {
  // Enough of the text to find it; a 300-character key need not be printed whole.
  if (s.size() > 80) return fmt::format("\"{}...\" ({} characters)", s.substr(0, 80), s.size());
  return fmt::format("\"{}\"", s);
}

}  // namespace

Result<void> validate_dns_subdomain(std::string_view s) {
  if (s.empty()) return fail("must be non-empty");
  if (s.size() > kDnsSubdomainMax)
    return fail(fmt::format("must be at most {} characters, got {}", kDnsSubdomainMax, s.size()));
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string_view part =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    bool ok = !part.empty() && lower_alnum(part.front()) && lower_alnum(part.back());
    for (char c : part) ok = ok && (lower_alnum(c) || c == '-');
    if (!ok)
      return fail(fmt::format(
          "{} is not a DNS subdomain: dot-separated parts of lower-case letters, digits and "
          "'-', each beginning and ending with a letter or digit",
          quoted(s)));
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

Result<void> validate_label_name(std::string_view name) {
  if (name.empty()) return fail("must be non-empty");
  if (name.size() > kLabelNameMax)
    return fail(fmt::format("{} is longer than {} characters ({})", quoted(name), kLabelNameMax,
                            name.size()));
  if (!name_chars(name))
    return fail(fmt::format(
        "{} must consist of letters, digits, '-', '_' or '.', and begin and end with a letter or "
        "digit",
        quoted(name)));
  return {};
}

Result<void> validate_label_key(std::string_view key) {
  const std::size_t slash = key.find('/');
  if (slash == std::string_view::npos) {
    if (auto r = validate_label_name(key); !r) return fail("name part: " + r.error().message);
    return {};
  }
  if (key.find('/', slash + 1) != std::string_view::npos)
    return fail(fmt::format("{}: a key has at most one '/' (prefix/name)", quoted(key)));
  if (auto r = validate_dns_subdomain(key.substr(0, slash)); !r)
    return fail("prefix part: " + r.error().message);
  if (auto r = validate_label_name(key.substr(slash + 1)); !r)
    return fail("name part: " + r.error().message);
  return {};
}

Result<void> validate_label_value(std::string_view value) {
  if (value.empty()) return {};
  if (value.size() > kLabelValueMax)
    return fail(fmt::format("value {} is longer than {} characters ({})", quoted(value),
                            kLabelValueMax, value.size()));
  if (!name_chars(value))
    return fail(fmt::format(
        "value {} must be empty or consist of letters, digits, '-', '_' or '.', and begin and end "
        "with a letter or digit",
        quoted(value)));
  return {};
}

}  // namespace nodehealth::kube
