// The memory threshold notifier of cgroup v1: the kernel signals an eventfd when the root
// memory cgroup's memory.usage_in_bytes crosses a level (cgroup.event_control), as the
// kubelet's own notifier uses it. The agent arms it at the usage where memory.available would
// meet its nearest threshold (the usage now plus SignalValue::drop_until_met, inactive file
// pages taken as they are now), re-arms it after a sample that moved that level by more than
// a step or after it fired (the kernel signals a crossing once), and samples at once when it
// fires. It is a hint, as the kubelet's is: an allocation the kernel meets by reclaiming page
// cache lowers memory.available without raising the usage, and then the next tick sees it.
// cgroup v2 has no such notification (the kubelet has none there either): PSI triggers and
// the tick remain.
#pragma once

#include <cstdint>
#include <string>

#include "nodehealth/result.h"
#include "nodehealth/unique_fd.h"

namespace nodehealth::sources {

class MemoryThreshold {
 public:
  // `usage_file`: the v1 root cgroup's memory.usage_in_bytes as the agent opens it; the
  // cgroup.event_control beside it is written at each arm(). An error when it is not on
  // cgroupfs (a fixture tree under --sys-root), which is then never written.
  static Result<MemoryThreshold> open(const std::string& usage_file);

  // Arms a new eventfd for usage crossing `bytes`, replacing the armed one (closing an
  // eventfd unregisters it). The new fd is fd() afterwards. True when the usage is already
  // past `bytes` once registered: the kernel then signals no upward crossing, and the caller
  // should sample again rather than wait for it.
  Result<bool> arm(uint64_t bytes);
  // Closes the armed eventfd: no notification until the next arm().
  void disarm();
  // Whether a level differs enough from the armed one to re-arm: more than `step` apart,
  // nothing armed, or the armed one fired since it was armed.
  bool wants(uint64_t bytes, uint64_t step) const;

  int fd() const { return event_.get(); }  // -1 when disarmed
  uint64_t armed_at() const { return armed_at_; }
  // Consumes the eventfd's count: the registration is spent (wants() is true).
  void drain();

 private:
  UniqueFd usage_;  // memory.usage_in_bytes, open for the registrations
  std::string control_;
  UniqueFd event_;
  uint64_t armed_at_ = 0;
  bool fired_ = false;
};

}  // namespace nodehealth::sources
