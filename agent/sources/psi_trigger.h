// PSI triggers (Documentation/accounting/psi.rst): writing "some <stall_us>
// <window_us>" to /proc/pressure/<resource> arms a trigger, and poll() reports
// POLLPRI when tasks stalled at least that long within one window. The agent
// samples at once on such an event instead of waiting for the next tick.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "nodehealth/host_paths.h"
#include "nodehealth/result.h"
#include "nodehealth/unique_fd.h"

namespace nodehealth::sources {

struct PsiTrigger {
  std::string resource;  // "memory", "io"
  UniqueFd fd;           // watch for EPOLLPRI
};

// Arms one trigger per resource. A resource whose trigger cannot be armed (no
// PSI, no permission, an old kernel) is left out, with the reason in `errors`.
std::vector<PsiTrigger> arm_psi_triggers(const HostPaths& paths,
                                         const std::vector<std::string>& resources,
                                         std::chrono::microseconds stall,
                                         std::chrono::microseconds window,
                                         std::vector<std::string>& errors);

}  // namespace nodehealth::sources
