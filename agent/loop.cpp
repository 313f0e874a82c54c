#include "agent/loop.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <string>

namespace nodehealth {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  loop->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!loop->epoll_) return errno_error("epoll_create1", errno);
  loop->timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!loop->timer_) return errno_error("timerfd_create", errno);
  loop->soon_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!loop->soon_) return errno_error("timerfd_create", errno);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  if (int err = pthread_sigmask(SIG_BLOCK, &mask, nullptr); err != 0)
    return errno_error("pthread_sigmask", err);
  loop->signals_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!loop->signals_) return errno_error("signalfd", errno);

  for (int fd : {loop->timer_.get(), loop->soon_.get(), loop->signals_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      return errno_error("epoll_ctl add", errno);
  }
  return loop;
}

Result<void> EventLoop::watch(int fd, std::function<void()> on_ready, uint32_t events) {
  static_assert(EPOLLIN == 0x001, "the default in loop.h");
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
    return errno_error("epoll_ctl add", errno);
  handlers_[fd] = {std::move(on_ready), events};
  return {};
}

Result<void> EventLoop::unwatch(int fd) {
  if (handlers_.erase(fd) == 0)
    return fail("unwatch: fd " + std::to_string(fd) + " is not watched");
  paused_.erase(fd);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0)
    return errno_error("epoll_ctl del", errno);
  return {};
}

Result<void> EventLoop::pause(int fd, std::chrono::nanoseconds duration) {
  auto it = handlers_.find(fd);
  if (it == handlers_.end()) return fail("pause: fd " + std::to_string(fd) + " is not watched");
  epoll_event ev{};  // no events: not reported until resumed
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0)
    return errno_error("epoll_ctl mod", errno);
  paused_[fd] = std::chrono::steady_clock::now() + duration;
  return {};
}

int EventLoop::resume_due() {
  const auto now = std::chrono::steady_clock::now();
  int timeout_ms = -1;
  for (auto it = paused_.begin(); it != paused_.end();) {
    if (it->second <= now) {
      epoll_event ev{};
      ev.events = handlers_[it->first].events;
      ev.data.fd = it->first;
      (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, it->first, &ev);
      it = paused_.erase(it);
      continue;
    }
    // Rounded up, so that the wake-up finds it due.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(it->second - now).count();
    if (timeout_ms < 0 || left < timeout_ms) timeout_ms = static_cast<int>(left);
    ++it;
  }
  return timeout_ms;
}

namespace {

Result<void> arm_once(int fd, std::chrono::nanoseconds delay) {
  if (delay <= std::chrono::nanoseconds::zero()) delay = std::chrono::nanoseconds(1);
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(delay.count() / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(delay.count() % 1'000'000'000);
  if (::timerfd_settime(fd, 0, &spec, nullptr) != 0) return errno_error("timerfd_settime", errno);
  return {};
}

// Consumes a timer's expiry: true when it had fired.
bool expired(int fd) {
  uint64_t expirations = 0;
  return ::read(fd, &expirations, sizeof expirations) == sizeof expirations;
}

}  // namespace

Result<void> EventLoop::arm_timer(std::chrono::nanoseconds delay) {
  return arm_once(timer_.get(), delay);
}

Result<void> EventLoop::arm_soon(std::chrono::nanoseconds delay) {
  return arm_once(soon_.get(), delay);
}

Result<int> EventLoop::run() {
  epoll_event events[16];
  while (!stopping_) {
    const int n = ::epoll_wait(epoll_.get(), events, 16, resume_due());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("epoll_wait", errno);
    }
    for (int i = 0; i < n && !stopping_; ++i) {
      const int fd = events[i].data.fd;
      if (fd == signals_.get()) {
        signalfd_siginfo info{};
        if (::read(fd, &info, sizeof info) == sizeof info) return static_cast<int>(info.ssi_signo);
      } else if (fd == timer_.get()) {
        if (expired(fd) && on_timer_) on_timer_();
      } else if (fd == soon_.get()) {
        if (expired(fd) && on_soon_) on_soon_();
      } else if (auto it = handlers_.find(fd); it != handlers_.end() && !paused_.contains(fd)) {
        const auto on_ready = it->second.on_ready;  // it may unwatch its own fd
        on_ready();
      }
    }
  }
  return 0;
}

}  // namespace nodehealth
