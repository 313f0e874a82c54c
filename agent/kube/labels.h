// Kubernetes label syntax, checked as the API server checks metadata.labels (a 422 Invalid
// otherwise). Pure, no I/O.
//
//   key   = [prefix "/"] name
//   prefix: a DNS subdomain: at most 253 characters, dot-separated parts of lower-case
//           letters, digits and '-', each part beginning and ending with a letter or digit;
//   name:   1 to 63 characters of [A-Za-z0-9-_.], beginning and ending with a letter or digit;
//   value:  empty, or as a name (at most 63 characters of [A-Za-z0-9-_.], alphanumeric at
//           both ends).
#pragma once

#include <cstddef>
#include <string_view>

#include "nodehealth/result.h"

namespace nodehealth::kube {

inline constexpr std::size_t kLabelNameMax = 63;
inline constexpr std::size_t kLabelValueMax = 63;
inline constexpr std::size_t kDnsSubdomainMax = 253;

// Each error message says which part is wrong and why, quoting the offending text.
Result<void> validate_dns_subdomain(std::string_view s);
Result<void> validate_label_name(std::string_view name);
Result<void> validate_label_key(std::string_view key);
Result<void> validate_label_value(std::string_view value);

}  // namespace nodehealth::kube
