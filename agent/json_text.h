// JSON as the agent prints and serves it (`-o json`, /status): indented by two spaces, ending in
// a newline, and with any text that is not UTF-8 (a path, a message quoting a file) replaced by
// U+FFFD instead of throwing.
#pragma once

#include <string>

namespace nodehealth {

template <typename Json>
std::string json_text(const Json& j) {
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace nodehealth
