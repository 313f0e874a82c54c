// The systemd notification protocol (sd_notify(3)) without libsystemd: one
// datagram per message to the AF_UNIX socket named by $NOTIFY_SOCKET. With
// Type=notify the unit is "started" once READY=1 arrives; with WatchdogSec=
// systemd restarts the agent when WATCHDOG=1 stops arriving, which the agent
// sends from its sampling loop, so a hung loop is a restarted agent.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "nodehealth/result.h"
#include "nodehealth/unique_fd.h"

namespace nodehealth {

class SystemdNotifier {
 public:
  // From the environment ($NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID); inactive when
  // not run by systemd with Type=notify.
  static SystemdNotifier from_env();
  bool active() const { return fd_.get() >= 0; }
  // The watchdog interval systemd expects, when it set one for this process.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

  Result<void> send(std::string_view message);
  // WATCHDOG=1, at most every half watchdog interval (cheap to call every tick).
  void keepalive(std::chrono::steady_clock::time_point now);

 private:
  UniqueFd fd_{-1};
  std::string address_;
  std::optional<std::chrono::microseconds> watchdog_;
  std::chrono::steady_clock::time_point last_keepalive_{};
};

}  // namespace nodehealth
