#include "agent/version.h"

#ifndef NODEHEALTH_VERSION
#define NODEHEALTH_VERSION "0.0.0"
#endif
#ifndef NODEHEALTH_COMMIT
#define NODEHEALTH_COMMIT "unknown"
#endif

namespace nodehealth {
const char* version() { return NODEHEALTH_VERSION; }
const char* commit() { return NODEHEALTH_COMMIT; }
}  // namespace nodehealth
