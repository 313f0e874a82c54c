// Decompressing /proc/config.gz with zlib (Debian's zlib1g), bounded in output size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "nodehealth/result.h"

namespace nodehealth::features {

// The whole gzip stream `data`, decompressed; an error for corrupt or truncated
// input, or output larger than `max_output` (a hostile file cannot exhaust memory).
Result<std::string> gunzip(std::string_view data, std::size_t max_output = 8 << 20);

}  // namespace nodehealth::features
