// A FeatureReport as the `nodehealth features` table and as JSON.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/features/features.h"

namespace nodehealth::features {

// Sections Kernel, Features (feature | version | probe | note), Safe sysctls, Allowed unsafe
// sysctls (when any were given), Device plugins, Warnings (when any).
std::string to_table(const FeatureReport& report);

// camelCase keys; unknown verdicts are null.
nlohmann::json to_json(const FeatureReport& report);

// "yes", "no", "unknown".
std::string yes_no(std::optional<bool> v);

}  // namespace nodehealth::features
