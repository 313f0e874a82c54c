#include "agent/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace nodehealth {
namespace {

std::optional<uint64_t> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  uint64_t out = 0;
  const char* end = v + std::strlen(v);
  auto [p, ec] = std::from_chars(v, end, out);
  if (ec != std::errc() || p != end) return std::nullopt;
  return out;
}

}  // namespace

SystemdNotifier SystemdNotifier::from_env() {
  SystemdNotifier n;
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (!socket_path || (socket_path[0] != '/' && socket_path[0] != '@')) return n;
  if (std::strlen(socket_path) >= sizeof(sockaddr_un::sun_path)) return n;
  n.address_ = socket_path;
  n.fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const auto usec = env_number("WATCHDOG_USEC");
  const auto pid = env_number("WATCHDOG_PID");
  if (usec && *usec > 0 && (!pid || *pid == static_cast<uint64_t>(::getpid())))
    n.watchdog_ = std::chrono::microseconds(*usec);
  return n;
}

Result<void> SystemdNotifier::send(std::string_view message) {
  if (!active()) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  if (::sendto(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&addr), len) < 0)
    return errno_error("sd_notify " + address_, errno);
  return {};
}

void SystemdNotifier::keepalive(std::chrono::steady_clock::time_point now) {
  if (!active() || !watchdog_) return;
  if (now - last_keepalive_ < *watchdog_ / 2) return;
  last_keepalive_ = now;
  (void)send("WATCHDOG=1");
}

}  // namespace nodehealth
