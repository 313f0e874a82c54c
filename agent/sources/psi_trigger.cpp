#include "agent/sources/psi_trigger.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <fmt/format.h>

namespace nodehealth::sources {

std::vector<PsiTrigger> arm_psi_triggers(const HostPaths& paths,
                                         const std::vector<std::string>& resources,
                                         std::chrono::microseconds stall,
                                         std::chrono::microseconds window,
                                         std::vector<std::string>& errors) {
  std::vector<PsiTrigger> out;
  const std::string spec = fmt::format("some {} {}", stall.count(), window.count());
  for (const auto& res : resources) {
    const std::string path = paths.proc_file("pressure/" + res);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
      errors.push_back(fmt::format("open {}: {}", path, std::strerror(errno)));
      continue;
    }
    // Only ever write a trigger into procfs: a --proc-root pointing at a copy
    // (a fixture tree) must not have its files overwritten.
    struct statfs fs {};
    if (::fstatfs(fd.get(), &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC) {
      errors.push_back(fmt::format("{} is not on procfs", path));
      continue;
    }
    // The trigger string must be written with its terminating NUL.
    if (::write(fd.get(), spec.c_str(), spec.size() + 1) < 0) {
      errors.push_back(
          fmt::format("arm trigger \"{}\" on {}: {}", spec, path, std::strerror(errno)));
      continue;
    }
    out.push_back(PsiTrigger{res, std::move(fd)});
  }
  return out;
}

}  // namespace nodehealth::sources
