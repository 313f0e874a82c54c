// JSON of a checkpoint report and audit (camelCase keys, bytes and seconds as numbers).
#pragma once

#include <nlohmann/json.hpp>

#include "agent/checkpoint/checkpoint.h"

namespace nodehealth::checkpoint {

nlohmann::json to_json(const ContainerEstimate& e);
nlohmann::json to_json(const CheckpointReport& r);
nlohmann::json to_json(const CheckpointAudit& a);

}  // namespace nodehealth::checkpoint
