#include "agent/sources/memcg_threshold.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <string_view>

#include <fmt/format.h>

#include "agent/parse/proc.h"

namespace nodehealth::sources {

Result<MemoryThreshold> MemoryThreshold::open(const std::string& usage_file) {
  MemoryThreshold t;
  t.usage_.reset(::open(usage_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!t.usage_) return errno_error("open " + usage_file, errno);
  // Registered only on the kernel's cgroupfs, never written into a copy of /sys (a fixture).
  struct statfs st {};
  if (::fstatfs(t.usage_.get(), &st) != 0) return errno_error("fstatfs " + usage_file, errno);
  if (st.f_type != CGROUP_SUPER_MAGIC) return fail(usage_file + " is not on cgroupfs");
  const auto slash = usage_file.rfind('/');
  t.control_ = (slash == std::string::npos ? std::string(".") : usage_file.substr(0, slash)) +
               "/cgroup.event_control";
  return t;
}

Result<bool> MemoryThreshold::arm(uint64_t bytes) {
  UniqueFd event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!event) return errno_error("eventfd", errno);
  UniqueFd control(::open(control_.c_str(), O_WRONLY | O_CLOEXEC));
  if (!control) return errno_error("open " + control_, errno);
  const std::string line = fmt::format("{} {} {}", event.get(), usage_.get(), bytes);
  if (::write(control.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return errno_error("write " + control_, errno);
  event_ = std::move(event);  // the old eventfd closes: its registration goes
  armed_at_ = bytes;
  // The usage read after registering: past the level, the crossing happened before the kernel
  // knew of it (between the sample and now, or in statistics the sample read before a flush).
  char text[32];
  const ssize_t n = ::pread(usage_.get(), text, sizeof text, 0);
  if (n < 0) return errno_error("read memory.usage_in_bytes", errno);
  auto usage = parse::parse_u64_file(std::string_view(text, static_cast<size_t>(n)));
  if (!usage) return fail("memory.usage_in_bytes: " + usage.error().message);
  fired_ = *usage >= bytes;  // spent already: re-armed next time
  return fired_;
}

void MemoryThreshold::disarm() {
  event_.reset();
  armed_at_ = 0;
  fired_ = false;
}

bool MemoryThreshold::wants(uint64_t bytes, uint64_t step) const {
  if (!event_ || fired_) return true;
  return (bytes > armed_at_ ? bytes - armed_at_ : armed_at_ - bytes) > step;
}

void MemoryThreshold::drain() {
  uint64_t count = 0;
  (void)::read(event_.get(), &count, sizeof count);
  fired_ = true;
}

}  // namespace nodehealth::sources
