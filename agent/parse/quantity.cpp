// Kubernetes quantities, eviction thresholds and Go durations. See quantity.h.
//
// Behaviour and error texts follow, as closely as a double allows:
//  - k8s.io/apimachinery/pkg/api/resource: ParseQuantity (quantity.go, suffix.go)
//    and Quantity.String() (CanonicalizeBytes, amount.go), used in the
//    kubelet's "must be positive" message;
//  - pkg/kubelet/eviction/helpers.go: parseThresholdStatement, parsePercentage;
//  - Go's strconv.ParseFloat(s, 32) (parsePercentage) and time.ParseDuration /
//    time.Duration.String().
// The quantity itself is kept as an exact decimal (digit string and power of
// ten) until the end, so that rounding, capping and the canonical string are
// those of Go, and only then converted to a double.
#include "agent/parse/quantity.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>

namespace nodehealth::parse {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return static_cast<char>(c | ('x' - 'X')); }

// ------------------------------------------------------------------ exact decimal

// A non-negative magnitude: digits × 10^exp10. `digits` has no leading zeros
// ("0" for zero).
struct Dec {
  std::string digits = "0";
  int64_t exp10 = 0;
  bool zero() const { return digits == "0"; }
};

void strip_leading_zeros(std::string& d) {
  size_t nz = d.find_first_not_of('0');
  if (nz == std::string::npos)
    d = "0";
  else
    d.erase(0, nz);
}

void mul_small(std::string& d, uint32_t m) {
  uint64_t carry = 0;
  for (auto it = d.rbegin(); it != d.rend(); ++it) {
    uint64_t v = static_cast<uint64_t>(*it - '0') * m + carry;
    *it = static_cast<char>('0' + v % 10);
    carry = v / 10;
  }
  while (carry != 0) {
    d.insert(d.begin(), static_cast<char>('0' + carry % 10));
    carry /= 10;
  }
  strip_leading_zeros(d);
}

void add_one(std::string& d) {
  for (auto it = d.rbegin(); it != d.rend(); ++it) {
    if (*it == '9') {
      *it = '0';
    } else {
      ++*it;
      return;
    }
  }
  d.insert(d.begin(), '1');
}

// Moves trailing zeros into the exponent.
Dec normalized(Dec x) {
  if (x.zero()) return Dec{};
  size_t last = x.digits.find_last_not_of('0');
  x.exp10 += static_cast<int64_t>(x.digits.size() - 1 - last);
  x.digits.resize(last + 1);
  return x;
}

// Rounds a non-zero value up (away from zero) to a multiple of 10^min_exp,
// like inf.Dec.Round(..., inf.RoundUp).
void round_up_to(Dec& x, int64_t min_exp) {
  if (x.zero() || x.exp10 >= min_exp) return;
  uint64_t drop = static_cast<uint64_t>(min_exp - x.exp10);
  if (drop >= x.digits.size()) {  // the whole value is below one unit
    x.digits = "1";
    x.exp10 = min_exp;
    return;
  }
  size_t keep = x.digits.size() - static_cast<size_t>(drop);
  bool fraction = x.digits.find_first_not_of('0', keep) != std::string::npos;
  x.digits.resize(keep);
  strip_leading_zeros(x.digits);
  if (fraction) add_one(x.digits);
  x.exp10 = min_exp;
}

int compare(const Dec& a_in, const Dec& b_in) {
  Dec a = normalized(a_in), b = normalized(b_in);
  if (a.zero() || b.zero()) return a.zero() == b.zero() ? 0 : (a.zero() ? -1 : 1);
  int64_t oa = static_cast<int64_t>(a.digits.size()) + a.exp10;
  int64_t ob = static_cast<int64_t>(b.digits.size()) + b.exp10;
  if (oa != ob) return oa < ob ? -1 : 1;
  size_t n = std::max(a.digits.size(), b.digits.size());
  a.digits.resize(n, '0');
  b.digits.resize(n, '0');
  return a.digits < b.digits ? -1 : (a.digits > b.digits ? 1 : 0);
}

Dec dec_of(uint64_t v) {
  Dec d;
  d.digits = std::to_string(v);
  return d;
}

double to_double(const Dec& x) {
  if (x.zero()) return 0;
  Dec n = normalized(x);
  std::string s = n.digits + "e" + std::to_string(n.exp10);
  double out = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc::result_out_of_range) {
    return static_cast<int64_t>(n.digits.size()) + n.exp10 > 0
               ? std::numeric_limits<double>::infinity()
               : 0.0;
  }
  return out;
}

// ------------------------------------------------------------------ Go quoting

// strconv.Quote, for the ASCII and UTF-8 text a config file holds.
std::string go_strconv_quote(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\a':
          out += "\\a";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\v':
          out += "\\v";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A well-formed multi-byte sequence is copied (assumed printable);
    // a stray byte is escaped, as Go does for utf8.RuneError of width 1.
    size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (c >= 0xf5) len = 0;
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
      ++i;
    }
  }
  out += '"';
  return out;
}

// The time package's own quote(): every byte outside printable ASCII as \xNN.
std::string go_time_quote(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || c < 0x20) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += ch;
    }
  }
  out += '"';
  return out;
}

// ------------------------------------------------------------------ resource.Quantity

constexpr std::string_view kErrFormatWrong =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
constexpr std::string_view kErrNumeric = "unable to parse numeric part of quantity";
constexpr std::string_view kErrSuffix = "unable to parse quantity's suffix";

enum class Format { kDecimalExponent, kBinarySI, kDecimalSI };

struct GoQuantity {
  bool negative = false;
  Dec magnitude;
  Format format = Format::kDecimalSI;
  std::string cached;       // Go keeps the input as its String() when it is canonical
  bool has_digits = false;  // the numeric part held at least one digit
};

struct Split {
  bool positive = true;
  std::string_view value, num, denom, suffix;
};

// parseQuantityString: false means ErrFormatWrong.
bool split_quantity(std::string_view str, Split& out) {
  size_t pos = 0;
  const size_t end = str.size();
  if (pos < end) {
    if (str[0] == '-') {
      out.positive = false;
      ++pos;
    } else if (str[0] == '+') {
      ++pos;
    }
  }
  // Leading zeros.
  for (size_t i = pos;; ++i) {
    if (i >= end) {
      out.num = "0";
      out.value = "0";
      return true;
    }
    if (str[i] != '0') break;
    ++pos;
  }
  // Numerator.
  for (size_t i = pos;; ++i) {
    if (i >= end) {
      out.num = str.substr(pos);
      out.value = str;
      return true;
    }
    if (!is_digit(str[i])) {
      out.num = str.substr(pos, i - pos);
      pos = i;
      break;
    }
  }
  if (out.num.empty()) out.num = "0";
  // Denominator.
  if (pos < end && str[pos] == '.') {
    ++pos;
    for (size_t i = pos;; ++i) {
      if (i >= end) {
        out.denom = str.substr(pos);
        out.value = str;
        return true;
      }
      if (!is_digit(str[i])) {
        out.denom = str.substr(pos, i - pos);
        pos = i;
        break;
      }
    }
  }
  out.value = str.substr(0, pos);
  // Suffix: letters, then an optional sign and digits.
  const size_t suffix_start = pos;
  for (size_t i = pos;; ++i) {
    if (i >= end) {
      out.suffix = str.substr(suffix_start);
      return true;
    }
    if (std::string_view("eEinumkKMGTP").find(str[i]) == std::string_view::npos) {
      pos = i;
      break;
    }
  }
  if (pos < end && (str[pos] == '-' || str[pos] == '+')) ++pos;
  for (size_t i = pos;; ++i) {
    if (i >= end) {
      out.suffix = str.substr(suffix_start);
      return true;
    }
    if (!is_digit(str[i])) return false;
  }
}

struct Suffix {
  int base = 10;
  int32_t exponent = 0;
  Format format = Format::kDecimalSI;
};

// quantitySuffixer.interpret.
bool interpret_suffix(std::string_view s, Suffix& out) {
  static const struct {
    std::string_view name;
    int base;
    int32_t exponent;
  } table[] = {
      {"", 10, 0},   {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"k", 10, 3},  {"M", 10, 6},
      {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20},
      {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60},
  };
  for (const auto& e : table) {
    if (e.name == s) {
      out = {e.base, e.exponent, e.base == 2 ? Format::kBinarySI : Format::kDecimalSI};
      return true;
    }
  }
  if (s.size() > 1 && (s[0] == 'E' || s[0] == 'e')) {
    // strconv.ParseInt(s[1:], 10, 64), then int32(parsed) as Go does.
    std::string_view digits = s.substr(1);
    bool neg = false;
    if (digits[0] == '+' || digits[0] == '-') {
      neg = digits[0] == '-';
      digits.remove_prefix(1);
    }
    uint64_t mag = 0;
    if (digits.empty()) return false;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), mag);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) return false;
    constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (mag > kMax + (neg ? 1 : 0)) return false;
    uint64_t bits = neg ? (~mag + 1) : mag;
    out = {10, static_cast<int32_t>(static_cast<uint32_t>(bits)), Format::kDecimalExponent};
    return true;
  }
  return false;
}

// ParseQuantity. The error is Go's error text.
std::expected<GoQuantity, std::string> go_parse_quantity(std::string_view str) {
  GoQuantity q;
  if (str.empty()) return std::unexpected(std::string(kErrFormatWrong));
  if (str == "0") {
    q.cached = "0";
    q.has_digits = true;
    return q;
  }
  Split sp;
  if (!split_quantity(str, sp)) return std::unexpected(std::string(kErrFormatWrong));
  Suffix suf;
  if (!interpret_suffix(sp.suffix, suf)) return std::unexpected(std::string(kErrSuffix));
  q.format = suf.format;
  q.negative = !sp.positive;
  // Digits typed before the suffix ("-" and "Mi" have none; Go still reads them as 0).
  for (char c : str.substr(0, str.size() - sp.suffix.size()))
    q.has_digits = q.has_digits || is_digit(c);
  bool value_has_digits = false;  // what inf.Dec.SetString needs on Go's slow path
  for (char c : sp.value) value_has_digits = value_has_digits || is_digit(c);

  // Go's int64 fast path decides whether the input is kept as the String().
  const int64_t num_len = static_cast<int64_t>(sp.num.size());
  const int64_t denom_len = static_cast<int64_t>(sp.denom.size());
  int64_t precision = -1;
  int64_t scale = 0;
  if (suf.format == Format::kBinarySI) {
    if (suf.exponent >= 0 && sp.denom.empty())
      precision =
          15 - num_len - static_cast<int32_t>(static_cast<float>(suf.exponent) * 3 / 10) - 1;
  } else {
    scale = suf.exponent;
    precision = 18 - (num_len + denom_len);
  }
  bool fast = false;
  if (precision >= 0) {
    scale -= denom_len;
    if (scale >= -9) {
      std::string shifted = std::string(sp.num) + std::string(sp.denom);
      uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(shifted.data(), shifted.data() + shifted.size(), value);
      if (ec != std::errc() || ptr != shifted.data() + shifted.size() ||
          value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return std::unexpected(std::string(kErrNumeric));
      uint64_t mantissa = suf.base == 2 ? (uint64_t{1} << suf.exponent) : 1;
      if (value == 0 ||
          value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / mantissa) {
        fast = true;
        if (suf.format == Format::kBinarySI) {
          if (suf.exponent % 10 == 0 && (value & 0x07) != 0) q.cached = std::string(str);
        } else if (scale % 3 == 0 && !shifted.ends_with("000") && shifted[0] != '0') {
          q.cached = std::string(str);
        }
      }
    }
  }
  if (!fast && !value_has_digits) return std::unexpected(std::string(kErrNumeric));

  // The exact magnitude.
  q.magnitude.digits = std::string(sp.num) + std::string(sp.denom);
  strip_leading_zeros(q.magnitude.digits);
  q.magnitude.exp10 = -denom_len;
  if (suf.base == 10) {
    q.magnitude.exp10 += suf.exponent;
  } else {
    for (int32_t e = 0; e < suf.exponent; e += 10) mul_small(q.magnitude.digits, 1024);
  }
  // Non-zero values are rounded up to 1n; BinarySI is capped at 2^63-1.
  round_up_to(q.magnitude, -9);
  if (suf.format == Format::kBinarySI) {
    static const Dec kMaxAllowed =
        dec_of(static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
    if (compare(q.magnitude, kMaxAllowed) > 0) q.magnitude = kMaxAllowed;
    if (!q.magnitude.zero() && compare(q.magnitude, dec_of(1)) < 0) q.format = Format::kDecimalSI;
  }
  if (q.magnitude.zero()) q.negative = false;
  return q;
}

// Quantity.String(): the canonical form.
std::string go_quantity_string(const GoQuantity& q) {
  if (!q.cached.empty()) return q.cached;
  if (q.magnitude.zero()) return "0";
  const std::string sign = q.negative ? "-" : "";
  Format format = q.format;
  Dec n = normalized(q.magnitude);
  if (format == Format::kBinarySI && (compare(n, dec_of(1024)) < 0 || n.exp10 < 0))
    format = Format::kDecimalSI;  // small, or not a whole number: shown in decimal
  if (format == Format::kBinarySI) {
    // A whole number <= 2^63-1.
    std::string whole = n.digits + std::string(static_cast<size_t>(n.exp10), '0');
    uint64_t v = 0;
    std::from_chars(whole.data(), whole.data() + whole.size(), v);
    int exponent = 0;
    while (v >= 1024 && v % 1024 == 0) {
      v /= 1024;
      ++exponent;
    }
    static const char* kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    return sign + std::to_string(v) + kBin[exponent];
  }
  // Exponent down to a multiple of 3 (Go's truncated % semantics).
  int64_t e = n.exp10;
  switch (e % 3) {
    case 1:
    case -2:
      n.digits += "0";
      e -= 1;
      break;
    case 2:
    case -1:
      n.digits += "00";
      e -= 2;
      break;
    default:
      break;
  }
  std::string suffix;
  if (format == Format::kDecimalExponent) {
    if (e != 0) suffix = "e" + std::to_string(e);
  } else {
    static const struct {
      int64_t e;
      const char* s;
    } kDec[] = {{-9, "n"}, {-6, "u"}, {-3, "m"}, {3, "k"}, {6, "M"},
                {9, "G"},  {12, "T"}, {15, "P"}, {18, "E"}};
    for (const auto& d : kDec)
      if (d.e == e) suffix = d.s;  // Go emits no suffix for other exponents
  }
  return sign + n.digits + suffix;
}

double go_quantity_double(const GoQuantity& q) {
  double d = to_double(q.magnitude);
  return q.negative ? -d : d;
}

// ------------------------------------------------------------------ strconv.ParseFloat(s, 32)

bool underscore_ok(std::string_view s) {
  char saw = '^';
  size_t i = 0;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  bool hex = false;
  if (s.size() >= 2 && s[0] == '0' &&
      (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
    i = 2;
    saw = '0';
    hex = lower(s[1]) == 'x';
  }
  for (; i < s.size(); ++i) {
    if (is_digit(s[i]) || (hex && lower(s[i]) >= 'a' && lower(s[i]) <= 'f')) {
      saw = '0';
      continue;
    }
    if (s[i] == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

bool equal_fold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::expected<float, std::string> go_parse_float32(std::string_view s) {
  const std::string syntax =
      "strconv.ParseFloat: parsing " + go_strconv_quote(s) + ": invalid syntax";
  const std::string range =
      "strconv.ParseFloat: parsing " + go_strconv_quote(s) + ": value out of range";
  // Special values: [+-]inf, [+-]infinity, nan (any case).
  {
    std::string_view t = s;
    bool neg = false;
    if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
      neg = t[0] == '-';
      t.remove_prefix(1);
      if (equal_fold(t, "inf") || equal_fold(t, "infinity"))
        return neg ? -std::numeric_limits<float>::infinity()
                   : std::numeric_limits<float>::infinity();
    } else if (equal_fold(t, "inf") || equal_fold(t, "infinity")) {
      return std::numeric_limits<float>::infinity();
    } else if (equal_fold(t, "nan")) {
      return std::numeric_limits<float>::quiet_NaN();
    }
  }
  // readFloat's grammar.
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    neg = s[i] == '-';
    ++i;
  }
  bool hex = false;
  if (i + 2 < s.size() && s[i] == '0' && lower(s[i + 1]) == 'x') {
    hex = true;
    i += 2;
  }
  const size_t body = i;
  bool underscores = false, saw_dot = false, saw_digits = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      underscores = true;
    } else if (c == '.') {
      if (saw_dot) break;
      saw_dot = true;
    } else if (is_digit(c) || (hex && lower(c) >= 'a' && lower(c) <= 'f')) {
      saw_digits = true;
    } else {
      break;
    }
  }
  if (!saw_digits) return std::unexpected(syntax);
  const char exp_char = hex ? 'p' : 'e';
  if (i < s.size() && lower(s[i]) == exp_char) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= s.size() || !is_digit(s[i])) return std::unexpected(syntax);
    while (i < s.size() && (is_digit(s[i]) || s[i] == '_')) {
      if (s[i] == '_') underscores = true;
      ++i;
    }
  } else if (hex) {
    return std::unexpected(syntax);  // a hex float needs its p exponent
  }
  if (i != s.size()) return std::unexpected(syntax);
  if (underscores && !underscore_ok(s)) return std::unexpected(syntax);

  std::string clean;
  for (char c : s.substr(body))
    if (c != '_') clean += c;
  float f = 0;
  auto fmt = hex ? std::chars_format::hex : std::chars_format::general;
  auto [ptr, ec] = std::from_chars(clean.data(), clean.data() + clean.size(), f, fmt);
  if (ec == std::errc::result_out_of_range) {
    // Overflow is an error in Go; underflow quietly gives zero.
    long double ld = 0;
    auto [p2, ec2] = std::from_chars(clean.data(), clean.data() + clean.size(), ld, fmt);
    bool overflow =
        ec2 == std::errc() ? std::fabs(ld) > 1 : clean.find_first_of("-") == std::string::npos;
    if (overflow) return std::unexpected(range);
    f = 0;
  } else if (ec != std::errc() || ptr != clean.data() + clean.size()) {
    return std::unexpected(syntax);
  }
  return neg ? -f : f;
}

bool valid_signal(std::string_view signal) {
  static const std::string_view kSignals[] = {
      "memory.available",   "allocatableMemory.available", "imagefs.available",
      "imagefs.inodesFree", "containerfs.available",       "containerfs.inodesFree",
      "nodefs.available",   "nodefs.inodesFree",           "pid.available",
  };
  for (auto s : kSignals)
    if (s == signal) return true;
  return false;
}

}  // namespace

Result<double> parse_quantity(std::string_view text) {
  auto q = go_parse_quantity(text);
  if (!q) return fail(q.error());
  if (!q->has_digits) return fail("quantity " + go_strconv_quote(text) + " has no digits");
  double d = go_quantity_double(*q);
  if (!std::isfinite(d)) return fail("quantity " + go_strconv_quote(text) + " is out of range");
  return d;
}

Result<std::optional<ThresholdValue>> parse_threshold(std::string_view signal,
                                                      std::string_view text) {
  const std::string sig(signal);
  if (!valid_signal(signal)) return fail("unsupported eviction signal " + sig);
  if (text.ends_with("%")) {
    if (text == "0%" || text == "100%") return std::optional<ThresholdValue>{};
    // parsePercentage: strings.TrimRight(input, "%"), ParseFloat(.., 32), float32(v) / 100.
    std::string_view number = text;
    while (number.ends_with("%")) number.remove_suffix(1);
    auto value = go_parse_float32(number);
    if (!value) return fail(value.error());
    float percentage = *value / 100.0f;
    if (percentage < 0)
      return fail("eviction percentage threshold " + sig + " must be >= 0%: " + std::string(text));
    if (percentage > 1)
      return fail("eviction percentage threshold " + sig +
                  " must be <= 100%: " + std::string(text));
    ThresholdValue v;
    v.is_percentage = true;
    v.percentage = static_cast<double>(percentage);
    return std::optional<ThresholdValue>(v);
  }
  auto q = go_parse_quantity(text);
  if (!q) return fail(q.error());
  if (q->negative || q->magnitude.zero())
    return fail("eviction threshold " + sig + " must be positive: " + go_quantity_string(*q));
  double d = go_quantity_double(*q);
  if (!std::isfinite(d))
    return fail("eviction threshold " + sig + " is out of range: " + std::string(text));
  ThresholdValue v;
  v.quantity = d;
  return std::optional<ThresholdValue>(v);
}

// ------------------------------------------------------------------ durations

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  const std::string invalid = "time: invalid duration " + go_time_quote(text);
  std::string_view s = text;
  uint64_t d = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return fail(invalid);
  while (!s.empty()) {
    uint64_t v = 0, f = 0;
    double scale = 1;
    if (!(s[0] == '.' || is_digit(s[0]))) return fail(invalid);
    // leadingInt
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (v > kLimit / 10) return fail(invalid);
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return fail(invalid);
    }
    bool pre = i != 0;
    s.remove_prefix(i);
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      // leadingFraction: stops accumulating precision on overflow.
      bool overflow = false;
      size_t j = 0;
      for (; j < s.size() && is_digit(s[j]); ++j) {
        if (overflow) continue;
        if (f > (kLimit - 1) / 10) {
          overflow = true;
          continue;
        }
        uint64_t y = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (y > kLimit) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j != 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return fail(invalid);
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !is_digit(s[u])) ++u;
    if (u == 0) return fail("time: missing unit in duration " + go_time_quote(text));
    std::string_view unit_name = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_name == "ns")
      unit = 1;
    else if (unit_name == "us" || unit_name == "\xc2\xb5s" || unit_name == "\xce\xbcs")
      unit = 1000;
    else if (unit_name == "ms")
      unit = 1000000;
    else if (unit_name == "s")
      unit = 1000000000;
    else if (unit_name == "m")
      unit = 60ull * 1000000000;
    else if (unit_name == "h")
      unit = 3600ull * 1000000000;
    else
      return fail("time: unknown unit " + go_time_quote(unit_name) + " in duration " +
                  go_time_quote(text));
    if (v > kLimit / unit) return fail(invalid);
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return fail(invalid);
    }
    d += v;
    if (d > kLimit) return fail(invalid);
  }
  if (neg) return std::chrono::nanoseconds(static_cast<int64_t>(~d + 1));
  if (d > kLimit - 1) return fail(invalid);
  return std::chrono::nanoseconds(static_cast<int64_t>(d));
}

namespace {

// fmtFrac: the fraction of v/10^prec without trailing zeros (and without the
// point when it is zero), prepended to `out`; returns v/10^prec.
uint64_t fmt_frac(std::string& out, uint64_t v, int prec) {
  std::string digits;
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    uint64_t digit = v % 10;
    print = print || digit != 0;
    if (print) digits.insert(digits.begin(), static_cast<char>('0' + digit));
    v /= 10;
  }
  if (print) out.insert(0, "." + digits);
  return v;
}

}  // namespace

std::string format_duration(std::chrono::nanoseconds d) {
  const int64_t count = d.count();
  const bool neg = count < 0;
  uint64_t u = static_cast<uint64_t>(count);
  if (neg) u = ~u + 1;
  std::string out;
  if (u < 1000000000ull) {
    int prec = 0;
    std::string unit;
    if (u == 0) return "0s";
    if (u < 1000ull) {
      prec = 0;
      unit = "ns";
    } else if (u < 1000000ull) {
      prec = 3;
      unit = "\xc2\xb5s";  // U+00B5 micro sign, as Go prints it
    } else {
      prec = 6;
      unit = "ms";
    }
    out = unit;
    u = fmt_frac(out, u, prec);
    out.insert(0, std::to_string(u));
  } else {
    out = "s";
    u = fmt_frac(out, u, 9);
    out.insert(0, std::to_string(u % 60));
    u /= 60;
    if (u > 0) {
      out.insert(0, std::to_string(u % 60) + "m");
      u /= 60;
      if (u > 0) out.insert(0, std::to_string(u) + "h");
    }
  }
  if (neg) out.insert(0, "-");
  return out;
}

}  // namespace nodehealth::parse
