// Unit tests for agent/parse/quantity.{h,cpp}: resource.Quantity parsing, the kubelet's
// eviction threshold rules (pkg/kubelet/eviction/helpers.go parseThresholdStatement and
// parsePercentage, with its error texts) and Go's time.ParseDuration / Duration.String().
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>

#include "agent/parse/quantity.h"

using namespace nodehealth::parse;
using namespace std::chrono_literals;

namespace {

// resource.ErrFormatWrong, ErrSuffix and ErrNumeric, verbatim.
const std::string kErrFormatWrong =
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const std::string kErrSuffix = "unable to parse quantity's suffix";
const std::string kErrNumeric = "unable to parse numeric part of quantity";

double q(std::string_view text) {
  auto r = parse_quantity(text);
  INFO("quantity " << text);
  REQUIRE(r.has_value());
  return *r;
}

std::string quantity_error(std::string_view text) {
  auto r = parse_quantity(text);
  INFO("quantity " << text);
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

std::string threshold_error(std::string_view signal, std::string_view text) {
  auto r = parse_threshold(signal, text);
  INFO("threshold " << signal << " " << text);
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

ThresholdValue threshold(std::string_view signal, std::string_view text) {
  auto r = parse_threshold(signal, text);
  INFO("threshold " << signal << " " << text);
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  return **r;
}

std::string duration_error(std::string_view text) {
  auto r = parse_duration(text);
  INFO("duration " << text);
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

std::chrono::nanoseconds d(std::string_view text) {
  auto r = parse_duration(text);
  INFO("duration " << text);
  REQUIRE(r.has_value());
  return *r;
}

}  // namespace

// ------------------------------------------------------------------------------- quantities

TEST_CASE("quantity: binary and decimal suffixes", "[parse][quantity]") {
  CHECK(q("100Mi") == 100.0 * 1024 * 1024);
  CHECK(q("1.5Gi") == 1.5 * 1024 * 1024 * 1024);
  CHECK(q(".5Gi") == 512.0 * 1024 * 1024);
  CHECK(q("1Ki") == 1024.0);
  CHECK(q("1Ti") == std::ldexp(1.0, 40));
  CHECK(q("1Pi") == std::ldexp(1.0, 50));
  CHECK(q("1Ei") == std::ldexp(1.0, 60));
  CHECK(q("10G") == 10e9);
  CHECK(q("1k") == 1e3);
  CHECK(q("1M") == 1e6);
  CHECK(q("2T") == 2e12);
  CHECK(q("3P") == 3e15);
  CHECK(q("1E") == 1e18);  // "E" alone is exa, not an exponent
  CHECK(q("500m") == Approx(0.5));
  CHECK(q("250u") == Approx(250e-6));
  CHECK(q("100n") == Approx(100e-9));
  CHECK(q("12345") == 12345.0);
  CHECK(q("0") == 0.0);
  CHECK(q("1.") == 1.0);  // Go accepts "1." (and "1.G")
}

TEST_CASE("quantity: decimal exponents and signs", "[parse][quantity]") {
  CHECK(q("1e3") == 1000.0);
  CHECK(q("1E3") == 1000.0);
  CHECK(q("1e+3") == 1000.0);
  CHECK(q("1e-3") == Approx(0.001));
  CHECK(q("2.5e6") == 2.5e6);
  CHECK(q("-1Gi") == -1073741824.0);
  CHECK(q("+1k") == 1000.0);
  CHECK(q("-0") == 0.0);
}

TEST_CASE("quantity: Go's rounding and capping", "[parse][quantity]") {
  // Values below 1n round up to 1n ("if you want some resources, you get some").
  CHECK(q("0.1n") == Approx(1e-9));
  CHECK(q("1e-12") == Approx(1e-9));
  // BinarySI values are capped at 2^63-1.
  CHECK(q("8Ei") == static_cast<double>(std::numeric_limits<int64_t>::max()));
  CHECK(q("100Ei") == static_cast<double>(std::numeric_limits<int64_t>::max()));
}

TEST_CASE("quantity: garbage, empty, unknown suffix", "[parse][quantity]") {
  CHECK(quantity_error("10Qi") == kErrFormatWrong);
  CHECK(quantity_error("") == kErrFormatWrong);
  CHECK(quantity_error("abc") == kErrFormatWrong);
  CHECK(quantity_error("1.5.5") == kErrFormatWrong);
  CHECK(quantity_error(" 1") == kErrFormatWrong);
  CHECK(quantity_error("1 ") == kErrFormatWrong);
  CHECK(quantity_error("1Mi ") == kErrFormatWrong);
  CHECK(quantity_error("1KI") == kErrFormatWrong);
  CHECK(quantity_error("1K") == kErrSuffix);  // kilo is "k"
  CHECK(quantity_error("1Ki3") == kErrSuffix);
  CHECK(quantity_error("1e") == kErrSuffix);
  CHECK(quantity_error("1mi") == kErrSuffix);
  CHECK(quantity_error("Ei") == kErrNumeric);
}

TEST_CASE("quantity: no digits and out of range", "[parse][quantity]") {
  // Go parses "Mi", "-" and "." as 0; a quantity with no digit at all is refused here.
  CHECK(quantity_error("Mi") == "quantity \"Mi\" has no digits");
  CHECK(quantity_error("-") == "quantity \"-\" has no digits");
  CHECK(quantity_error(".") == "quantity \".\" has no digits");
  CHECK(quantity_error("1e400") == "quantity \"1e400\" is out of range");
}

// ------------------------------------------------------------------------------- thresholds

TEST_CASE("threshold: quantities", "[parse][threshold]") {
  ThresholdValue mem = threshold("memory.available", "100Mi");
  CHECK_FALSE(mem.is_percentage);
  CHECK(mem.quantity == 104857600.0);
  CHECK(threshold("nodefs.available", "1.5Gi").quantity == 1610612736.0);
  CHECK(threshold("pid.available", "1000").quantity == 1000.0);
  CHECK(threshold("nodefs.inodesFree", "1e3").quantity == 1000.0);
}

TEST_CASE("threshold: percentages are float32 fractions", "[parse][threshold]") {
  ThresholdValue ten = threshold("memory.available", "10%");
  CHECK(ten.is_percentage);
  CHECK(ten.percentage == Approx(0.10));
  // parsePercentage returns float32(value) / 100: the kubelet's exact value.
  CHECK(ten.percentage == static_cast<double>(10.0f / 100.0f));
  CHECK(threshold("nodefs.available", "5.5%").percentage == Approx(0.055));
  CHECK(threshold("imagefs.available", "15%").percentage == Approx(0.15));
  CHECK(threshold("nodefs.inodesFree", "5%").percentage == Approx(0.05));
  // strings.TrimRight strips every trailing '%'.
  CHECK(threshold("memory.available", "10%%").percentage == Approx(0.10));
  // Only the exact strings "0%" and "100%" disable: these are thresholds.
  CHECK(threshold("memory.available", "100.0%").percentage == 1.0);
  CHECK(threshold("memory.available", "00%").percentage == 0.0);
}

TEST_CASE("threshold: exactly 0% and 100% disable", "[parse][threshold]") {
  for (const char* text : {"0%", "100%"}) {
    auto r = parse_threshold("memory.available", text);
    INFO(text);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->has_value());
  }
}

TEST_CASE("threshold: the kubelet's error texts", "[parse][threshold]") {
  CHECK(threshold_error("memory.available", "-10%") ==
        "eviction percentage threshold memory.available must be >= 0%: -10%");
  CHECK(threshold_error("nodefs.available", "150%") ==
        "eviction percentage threshold nodefs.available must be <= 100%: 150%");
  CHECK(threshold_error("memory.available", "0") ==
        "eviction threshold memory.available must be positive: 0");
  CHECK(threshold_error("memory.available", "-100Mi") ==
        "eviction threshold memory.available must be positive: -100Mi");
  CHECK(threshold_error("foo.available", "10%") == "unsupported eviction signal foo.available");
  CHECK(threshold_error("memory.available", "abc%") ==
        "strconv.ParseFloat: parsing \"abc\": invalid syntax");
  CHECK(threshold_error("memory.available", "%") ==
        "strconv.ParseFloat: parsing \"\": invalid syntax");
  CHECK(threshold_error("memory.available", "1e39%") ==
        "strconv.ParseFloat: parsing \"1e39\": value out of range");
  CHECK(threshold_error("memory.available", "10Qi") == kErrFormatWrong);
  CHECK(threshold_error("memory.available", "") == kErrFormatWrong);
  CHECK(threshold_error("memory.available", "1K") == kErrSuffix);
}

TEST_CASE("threshold: the value in 'must be positive' is Go's canonical quantity",
          "[parse][threshold]") {
  // Quantity.String(): the input when it is canonical, else the canonical form.
  CHECK(threshold_error("memory.available", "0Mi") ==
        "eviction threshold memory.available must be positive: 0");
  CHECK(threshold_error("memory.available", "Mi") ==
        "eviction threshold memory.available must be positive: 0");
  CHECK(threshold_error("memory.available", "-1.5Gi") ==
        "eviction threshold memory.available must be positive: -1536Mi");
  CHECK(threshold_error("memory.available", "-1024Mi") ==
        "eviction threshold memory.available must be positive: -1Gi");
  CHECK(threshold_error("memory.available", "-1000") ==
        "eviction threshold memory.available must be positive: -1k");
  CHECK(threshold_error("memory.available", "-0.5") ==
        "eviction threshold memory.available must be positive: -500m");
  CHECK(threshold_error("memory.available", "-1.5G") ==
        "eviction threshold memory.available must be positive: -1500M");
  CHECK(threshold_error("memory.available", "-1e3") ==
        "eviction threshold memory.available must be positive: -1e3");
  CHECK(threshold_error("memory.available", "-1.1Ki") ==
        "eviction threshold memory.available must be positive: -1126400m");
}

TEST_CASE("threshold: every kubelet signal is accepted", "[parse][threshold]") {
  for (const char* signal : {"memory.available", "allocatableMemory.available", "nodefs.available",
                             "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree",
                             "containerfs.available", "containerfs.inodesFree", "pid.available"}) {
    INFO(signal);
    auto r = parse_threshold(signal, "10%");
    REQUIRE(r.has_value());
    CHECK(r->has_value());
  }
  CHECK(threshold_error("Memory.available", "1Gi") ==
        "unsupported eviction signal Memory.available");
}

// ------------------------------------------------------------------------------- durations

TEST_CASE("duration: Go time.ParseDuration", "[parse][duration]") {
  CHECK(d("5m") == 5min);
  CHECK(d("1h") == 1h);
  CHECK(d("1.5s") == 1500ms);
  CHECK(d("300ms") == 300ms);
  CHECK(d("0") == 0ns);
  CHECK(d("-0") == 0ns);
  CHECK(d("0s") == 0ns);
  CHECK(d("1ns") == 1ns);
  CHECK(d("1us") == 1us);
  CHECK(d("1\xc2\xb5s") == 1us);  // U+00B5 micro sign
  CHECK(d("1\xce\xbcs") == 1us);  // U+03BC Greek mu
  CHECK(d("1h2m3.5s") == 1h + 2min + 3500ms);
  CHECK(d("1.5h") == 90min);
  CHECK(d(".5m") == 30s);
  CHECK(d("1.s") == 1s);
  CHECK(d("-1s") == -1s);
  CHECK(d("+2h") == 2h);
  CHECK(d("-1m30s") == -90s);
  CHECK(d("1h1h") == 2h);
  CHECK(d("9223372036854775807ns") == std::chrono::nanoseconds::max());
  CHECK(d("-9223372036854775808ns") == std::chrono::nanoseconds::min());
}

TEST_CASE("duration: Go's error texts", "[parse][duration]") {
  CHECK(duration_error("1") == "time: missing unit in duration \"1\"");
  CHECK(duration_error("10") == "time: missing unit in duration \"10\"");
  CHECK(duration_error("") == "time: invalid duration \"\"");
  CHECK(duration_error("-") == "time: invalid duration \"-\"");
  CHECK(duration_error(".s") == "time: invalid duration \".s\"");
  CHECK(duration_error("s") == "time: invalid duration \"s\"");
  CHECK(duration_error("1x") == "time: unknown unit \"x\" in duration \"1x\"");
  CHECK(duration_error("1h 2m") == "time: unknown unit \"h \" in duration \"1h 2m\"");
  CHECK(duration_error("1d") == "time: unknown unit \"d\" in duration \"1d\"");
  CHECK(duration_error("9223372036854775808ns") ==
        "time: invalid duration \"9223372036854775808ns\"");
  CHECK(duration_error("2562048h") == "time: invalid duration \"2562048h\"");
  CHECK(duration_error("99999999999999999999s") ==
        "time: invalid duration \"99999999999999999999s\"");
}

TEST_CASE("duration: format like Go's time.Duration.String()", "[parse][duration]") {
  CHECK(format_duration(5min) == "5m0s");
  CHECK(format_duration(1h) == "1h0m0s");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(300ms) == "300ms");
  CHECK(format_duration(0ns) == "0s");
  CHECK(format_duration(1us) == "1\xc2\xb5s");
  CHECK(format_duration(1500ns) == "1.5\xc2\xb5s");
  CHECK(format_duration(1ns) == "1ns");
  CHECK(format_duration(1s) == "1s");
  CHECK(format_duration(61s) == "1m1s");
  CHECK(format_duration(10s) == "10s");
  CHECK(format_duration(1h + 2min + 3500ms) == "1h2m3.5s");
  CHECK(format_duration(-1s) == "-1s");
  CHECK(format_duration(-1500us) == "-1.5ms");
  CHECK(format_duration(1000000001ns) == "1.000000001s");
  CHECK(format_duration(std::chrono::nanoseconds::max()) == "2562047h47m16.854775807s");
  CHECK(format_duration(std::chrono::nanoseconds::min()) == "-2562047h47m16.854775808s");
}

TEST_CASE("duration: format then parse gives the same duration", "[parse][duration]") {
  for (std::chrono::nanoseconds v : std::initializer_list<std::chrono::nanoseconds>{
           0ns, 1ns, 999ns, 1us, 1500ns, 1ms, 300ms, 1s, 1500ms, 59s, 5min, 90min, 25h,
           std::chrono::nanoseconds(123456789012345), -7s, std::chrono::nanoseconds::max(),
           std::chrono::nanoseconds::min()}) {
    INFO(v.count());
    auto r = parse_duration(format_duration(v));
    REQUIRE(r.has_value());
    CHECK(*r == v);
  }
}
