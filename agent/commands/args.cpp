#include "agent/commands/args.h"

#include <algorithm>

namespace nodehealth::commands {

std::optional<std::string> Args::get(std::string_view name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::optional<Args> parse_args(int argc, char** argv, int first,
                               std::span<const std::string_view> with_value,
                               std::span<const std::string_view> switches, std::FILE* err) {
  auto known = [](std::span<const std::string_view> list, std::string_view name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      a.help = true;
      continue;
    }
    if (arg == "-o") arg = "--output";
    if (!arg.starts_with("--")) {
      std::fprintf(err, "nodehealth: unexpected argument \"%s\"\n", arg.c_str());
      return std::nullopt;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    if (known(switches, name)) {
      if (has_value) {
        std::fprintf(err, "nodehealth: flag --%s takes no value\n", name.c_str());
        return std::nullopt;
      }
      a.switches.insert(name);
      continue;
    }
    if (!known(with_value, name)) {
      std::fprintf(err, "nodehealth: unknown flag --%s (see --help)\n", name.c_str());
      return std::nullopt;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::fprintf(err, "nodehealth: flag --%s needs a value\n", name.c_str());
        return std::nullopt;
      }
      value = argv[++i];
    }
    a.values[name] = value;
  }
  return a;
}

void print_problems(std::FILE* err, std::string_view what, const std::string& msg) {
  const int w = static_cast<int>(what.size());
  if (msg.find('\n') == std::string::npos) {
    std::fprintf(err, "nodehealth: invalid %.*s: %s\n", w, what.data(), msg.c_str());
    return;
  }
  std::fprintf(err, "nodehealth: invalid %.*s:\n", w, what.data());
  std::size_t start = 0;
  while (start < msg.size()) {
    std::size_t end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size();
    std::fprintf(err, "  %.*s\n", static_cast<int>(end - start), msg.data() + start);
    start = end + 1;
  }
}

}  // namespace nodehealth::commands
