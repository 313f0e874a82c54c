// `nodehealth kubelet-config` (see kubelet_config.h).
#include "agent/commands/kubelet_config.h"

#include "agent/commands/args.h"
#include "agent/json_text.h"

#include <map>
#include <optional>
#include <regex>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "agent/config/kubelet_defaults.h"

namespace nodehealth::commands {

using nlohmann::json;

namespace {

constexpr const char* kUsage =
    R"(Usage: nodehealth kubelet-config --config FILE [--config-dir DIR] [flags]

Prints the kubelet's effective configuration: its --config file and the *.conf
files of its --config-dir (depth-first, bytewise order) merged exactly as the
kubelet merges them (RFC 7386: mappings merged per key, lists replaced whole,
null deletes a key), then the kubelet's defaults (an explicit zero of a
defaulted field comes back as the default), then checked as the kubelet checks
its eviction settings. Problems name the file and line; the exit code is then 2.

Flags:
  --config FILE          the kubelet's configuration file (kind KubeletConfiguration)
  --config-dir DIR       the kubelet's drop-in directory
  -o, --output FORMAT    yaml (default) or json
  -h, --help             this text
)";

// Whether a string written plain would be read back as something other than a string, by the
// YAML 1.2 core schema or by YAML 1.1 readers (go-yaml v2, PyYAML): null, booleans (yes, on, ...),
// integers (octal, hex, binary, sexagesimal, with underscores) and floats.
bool needs_quotes(const std::string& s) {
  static const std::regex kSpecial(
      "~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|"
      "off|Off|OFF|"
      "[-+]?(0|[1-9][0-9_]*)|0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+|"
      "[-+]?(\\.[0-9_]+|[0-9][0-9_]*(\\.[0-9_]*)?)([eE][-+]?[0-9]+)?|"
      "[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  return s.empty() || std::regex_match(s, kSpecial);
}

void emit_string(YAML::Emitter& out, const std::string& s) {
  if (needs_quotes(s)) out << YAML::DoubleQuoted;
  out << s;
}

void emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& [key, value] : v.items()) {  // std::map: bytewise key order
        out << YAML::Key;
        emit_string(out, key);
        out << YAML::Value;
        emit(out, value);
      }
      out << YAML::EndMap;
      return;
    case json::value_t::array:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const json& item : v) emit(out, item);
      out << YAML::EndSeq;
      return;
    case json::value_t::string:
      emit_string(out, v.get<std::string>());
      return;
    case json::value_t::null:
      out << YAML::Null;
      return;
    default:
      // Numbers and booleans as JSON writes them: the shortest text that reads back the same
      // ("0.9", not yaml-cpp's "0.90000000000000002").
      out << v.dump();
      return;
  }
}

}  // namespace

std::string to_yaml(const json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  std::string text = out.c_str();
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

int kubelet_config(int argc, char** argv, std::FILE* out, std::FILE* err) {
  static constexpr std::string_view kFlags[] = {"config", "config-dir", "output"};
  auto args = parse_args(argc, argv, 2, kFlags, {}, err);
  if (!args) return 2;
  if (args->help) {
    std::fputs(kUsage, out);
    return 0;
  }
  const std::string output = args->get("output").value_or("yaml");
  if (output != "yaml" && output != "json") {
    std::fprintf(err, "nodehealth: -o: want yaml or json, got \"%s\"\n", output.c_str());
    return 2;
  }
  const auto file = args->get("config"), dir = args->get("config-dir");
  if (!file && !dir) {
    std::fprintf(err,
                 "nodehealth: kubelet-config needs --config FILE, --config-dir DIR or both "
                 "(see --help)\n");
    return 2;
  }
  auto doc = config::load_kubelet_config(file, dir);
  if (!doc) {
    print_problems(err, "kubelet configuration", doc.error().message);
    return 2;
  }
  if (auto checked = config::validate_kubelet_config(*doc); !checked) {
    print_problems(err, "kubelet configuration", checked.error().message);
    return 2;
  }
  const std::string text = output == "json" ? json_text(doc->value) : to_yaml(doc->value);
  std::fputs(text.c_str(), out);
  std::fflush(out);
  return 0;
}

int kubelet_config(int argc, char** argv) { return kubelet_config(argc, argv, stdout, stderr); }

}  // namespace nodehealth::commands
