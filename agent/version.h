#pragma once

namespace nodehealth {
const char* version();  // from the VERSION file
const char* commit();   // git commit the binary was built from
}  // namespace nodehealth
