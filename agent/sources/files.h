// Reading pseudo files (/proc, /sys, cgroupfs) whose stat size is 0.
#pragma once

#include <cstddef>
#include <string>

#include "nodehealth/result.h"

namespace nodehealth::sources {

// Reads the whole file, up to max_bytes (larger is an error: a pseudo file we
// read is never that big, and a hostile one must not make us allocate).
// Errors read "open <path>: <strerror>" / "read <path>: ...".
Result<std::string> read_file(const std::string& path, std::size_t max_bytes = 1 << 20);

// read_file + trailing whitespace removed.
Result<std::string> read_trimmed(const std::string& path);

}  // namespace nodehealth::sources
