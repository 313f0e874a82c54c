// Reading pseudo files (/proc, /sys, cgroupfs) whose stat size is 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "nodehealth/result.h"

namespace nodehealth::sources {

// Reads the whole file, up to max_bytes (larger is an error: a pseudo file we
// read is never that big, and a hostile one must not make us allocate).
// Errors read "open <path>: <strerror>" / "read <path>: ...".
Result<std::string> read_file(const std::string& path, std::size_t max_bytes = 1 << 20);

// read_file + trailing whitespace removed.
Result<std::string> read_trimmed(const std::string& path);

// A file holding one unsigned integer (pid_max, memory.usage_in_bytes); parse
// errors name the file.
Result<uint64_t> read_u64(const std::string& path);

// A "key value" file (memory.stat); parse errors name the file.
Result<std::map<std::string, uint64_t, std::less<>>> read_keyed(const std::string& path);

// One field of a "key value" file; a missing field is an error naming the file.
Result<uint64_t> read_keyed_field(const std::string& path, std::string_view key);

}  // namespace nodehealth::sources
