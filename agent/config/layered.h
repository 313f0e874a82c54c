// Layered YAML configuration: a main file plus a drop-in directory, merged the
// way the kubelet merges its --config-dir (facts §4). Written once, generically:
// the agent's own AgentConfiguration and the kubelet's KubeletConfiguration both
// go through here.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "nodehealth/result.h"

namespace nodehealth::config {

// Where a value came from.
struct Location {
  std::string file;
  int line = 0;             // 1-based; 0 when unknown
  std::string str() const;  // "file:line" (or "file" when line is 0)
  bool operator==(const Location&) const = default;
};

// A JSON document plus, for every JSON pointer in it ("" for the root,
// "/evictionHard/memory.available" ...), the file and line that set it.
struct Document {
  nlohmann::json value = nlohmann::json::object();
  std::map<std::string, Location> origin;
  // The files merged into it, in merge order (the main file, then each drop-in).
  std::vector<std::string> files;

  // The location of `pointer`, or of its nearest ancestor that has one.
  Location where(const std::string& pointer) const;
};

// RFC 6901 escaping of one JSON pointer reference token: "~" -> "~0", "/" -> "~1".
std::string pointer_token(std::string_view key);

// Parses YAML text into a Document. Plain scalars become null / bool / integer /
// float / string by YAML 1.2 core-schema rules; quoted scalars stay strings.
// Errors carry "file:line:col: ..." from the YAML parser. The top level must be a
// mapping; a text with no document at all (empty, only comments) gives an empty
// object (load_file then reports the missing kind). Duplicate keys and more than
// one document per file are errors.
Result<Document> parse_yaml(std::string_view text, const std::string& file);

// RFC 7386 JSON merge patch of `patch` onto `target`, provenance included:
// objects merge recursively, everything else (scalars, lists) is replaced
// whole, null deletes the key (and its provenance).
void merge_patch(Document& target, const Document& patch);

// The drop-in files of `dir` in the kubelet's order: only names ending exactly in
// ".conf", depth-first, each directory's entries sorted bytewise, symlinked
// directories not descended. Missing directory: error. Empty: empty list.
// Like the kubelet's filepath.WalkDir, `dir` itself is lstat'ed: when it is a
// symlink (no trailing slash) it is not descended either, and a symlink named
// *.conf is listed whatever it points to (load_file then reads through it).
// Errors: `failed to walk through <noun> "<dir>": ...` (the kubelet's text with
// noun "kubelet dropin directory").
Result<std::vector<std::string>> list_drop_ins(const std::string& dir,
                                               std::string_view noun = "drop-in directory");

// What every file of a layered configuration must declare.
struct Kind {
  std::string api_version;  // e.g. "nodehealth.io/v1alpha1"
  std::string kind;         // e.g. "AgentConfiguration"
  std::string noun;         // used in errors: "config file", "kubelet config file"
};

// The kubelet's own configuration files (for `nodehealth kubelet-config`).
Kind kubelet_config_kind();

// Reads and parses one file, checking apiVersion and kind; an empty file is an
// error: `<noun> "<path>" was empty`.
Result<Document> load_file(const std::string& path, const Kind& kind);

// main_file (optional) then each drop-in of drop_in_dir (optional), merged in order.
Result<Document> load_layered(const std::optional<std::string>& main_file,
                              const std::optional<std::string>& drop_in_dir, const Kind& kind);

}  // namespace nodehealth::config
