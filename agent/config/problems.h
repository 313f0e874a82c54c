// Problems found while validating a merged Document, reported all at once. Each problem reads
// "<file>:<line>: <key path>: <what>", the location taken from the Document's provenance, so a
// value set by a drop-in is blamed on the drop-in. Shared by config.cpp (the agent's own
// configuration) and eviction.cpp (the kubelet's eviction fields, in either configuration).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config/layered.h"

namespace nodehealth::config {

class Problems {
 public:
  explicit Problems(const Document& doc) : doc_(doc) {}

  // `pointer` locates the value (JSON pointer into the Document); `key` is the key path shown
  // to the user ("evictionHard[memory.available]"); either may be empty.
  void add(const std::string& pointer, const std::string& key, const std::string& what);

  bool empty() const { return list_.empty(); }
  // Every problem, one per line, ordered by file (in merge order, Document::files) and line;
  // stable for equal locations.
  std::string message() const;

 private:
  struct Problem {
    Location where;
    std::string message;
  };
  const Document& doc_;
  std::vector<Problem> list_;
};

// "string \"x\"", "number 5", "bool true", "a list", "a mapping", "null": a value's type and
// text, for "must be a string, got ..." messages.
std::string describe(const nlohmann::json& v);

// A JSON-quoted string: "x" -> "\"x\"".
std::string quote(std::string_view s);

// The value of `key` in the object `obj`, or nullptr when `obj` is not an object, the key is
// absent, or its value is null (null = not set, as in Go).
const nlohmann::json* lookup(const nlohmann::json& obj, std::string_view key);

// ", did you mean \"x\"?" for the candidate closest to `key` within edit distance 2
// (optimal string alignment: Levenshtein plus adjacent transpositions; the first one on a
// tie), or "" when none is that close.
std::string did_you_mean(std::string_view key, std::span<const std::string_view> candidates);

}  // namespace nodehealth::config
