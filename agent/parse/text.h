// Small text helpers shared by the parsers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace nodehealth::parse {

// Quotes `s` for an error message: printable ASCII kept, quotes and backslashes
// escaped, other bytes as \xNN, and text longer than `max` cut with "...", so
// that one bad line of a hostile file cannot flood a log.
std::string quote_excerpt(std::string_view s, std::size_t max);

}  // namespace nodehealth::parse
