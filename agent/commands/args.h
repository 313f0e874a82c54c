// Command-line parsing shared by every subcommand: "--name value",
// "--name=value", "-o value" (= --output), "-h"/"--help"; unknown flags and
// missing values are errors with a one-line message.
#pragma once

#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace nodehealth::commands {

struct Args {
  std::map<std::string, std::string, std::less<>> values;  // flags that take a value
  std::set<std::string, std::less<>> switches;             // flags that do not
  bool help = false;

  std::optional<std::string> get(std::string_view name) const;
  bool on(std::string_view name) const { return switches.contains(name); }
};

// Parses argv[first..]. `with_value` and `switches` name the known flags without
// their dashes. Errors go to `err`; nullopt then (exit code 2 for the caller).
std::optional<Args> parse_args(int argc, char** argv, int first,
                               std::span<const std::string_view> with_value,
                               std::span<const std::string_view> switches, std::FILE* err);

// "nodehealth: invalid <what>: <msg>", or, for several problems (one per line
// of `msg`), a header and the problems indented below it.
void print_problems(std::FILE* err, std::string_view what, const std::string& msg);

}  // namespace nodehealth::commands
