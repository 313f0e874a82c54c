#include "agent/loop.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

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
  handlers_[fd] = std::move(on_ready);
  return {};
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
    const int n = ::epoll_wait(epoll_.get(), events, 16, -1);
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
      } else if (auto it = handlers_.find(fd); it != handlers_.end()) {
        it->second();
      }
    }
  }
  return 0;
}

}  // namespace nodehealth
