// Kubernetes quantities, thresholds and durations, parsed as the kubelet parses them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "nodehealth/result.h"

namespace nodehealth::parse {

// A Kubernetes resource.Quantity ("100Mi", "1.5Gi", "10G", "500m", "1e3", "12345")
// converted to a double in base units. Suffixes: Ki Mi Gi Ti Pi Ei (binary),
// n u m "" k M G T P E (decimal), and decimal exponents (e/E followed by an integer).
// Errors: empty, trailing garbage, unknown suffix (resource.ParseQuantity's own texts),
// no digit at all ("Mi", which Go parses as 0), non-finite ("1e400").
Result<double> parse_quantity(std::string_view text);

// An eviction threshold value: a quantity or a percentage of capacity.
struct ThresholdValue {
  bool is_percentage = false;
  double quantity = 0;    // base units, when !is_percentage
  double percentage = 0;  // fraction 0..1, when is_percentage ("10%" -> 0.10)
};
// The kubelet's rules (pkg/kubelet/eviction/helpers.go parseThresholdStatement and
// parsePercentage), with its error texts:
// - the signal must be one the kubelet knows ("unsupported eviction signal <signal>");
// - exactly "0%" and "100%" disable a threshold (returns nullopt);
// - a percentage is everything before the trailing '%'s parsed as a Go float32
//   (strconv.ParseFloat errors are returned verbatim), then divided by 100 in float32,
//   so "10%" -> 0.1f (0.10000000149...); below 0 is an error ("eviction percentage
//   threshold <signal> must be >= 0%: <value>"), above 100% too ("eviction percentage
//   threshold <signal> must be <= 100%: <value>");
// - a quantity must be > 0 ("eviction threshold <signal> must be positive: <canonical
//   quantity>", e.g. "... must be positive: 0"); resource.ParseQuantity errors are
//   returned verbatim.
Result<std::optional<ThresholdValue>> parse_threshold(std::string_view signal,
                                                      std::string_view text);

// A Go time.ParseDuration string ("300ms", "1.5h", "1h2m3s", "0s", "-1s").
// Units: ns us µs ms s m h. A bare "0" is allowed; other bare numbers are errors.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);

// Formats a duration the way Go prints time.Duration ("5m0s", "1s", "300ms", "1h0m0s").
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace nodehealth::parse
