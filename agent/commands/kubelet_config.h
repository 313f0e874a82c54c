// `nodehealth kubelet-config`: the kubelet's effective configuration, its --config file and
// --config-dir drop-ins merged exactly as the kubelet merges them, then its defaults
// (agent/config/kubelet_defaults.h), printed as YAML or JSON.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace nodehealth::commands {

// argv[1] is "kubelet-config". Prints to stdout; errors go to stderr with exit code 2.
int kubelet_config(int argc, char** argv);

// The same, writing to `out` and `err` (for tests).
int kubelet_config(int argc, char** argv, std::FILE* out, std::FILE* err);

// The configuration as YAML: block style, keys in bytewise order (as the kubelet's own
// serialization sorts them), strings quoted wherever YAML would read them as something else.
std::string to_yaml(const nlohmann::json& value);

}  // namespace nodehealth::commands
