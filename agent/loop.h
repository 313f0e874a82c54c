// One epoll loop for the whole agent: a timerfd for ticks (and one for work an
// event defers by a little), a signalfd for
// SIGINT/SIGTERM, and any other fd (PSI triggers, BPF ring buffers, inotify)
// that wants to wake the loop. No thread per source.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "nodehealth/result.h"
#include "nodehealth/unique_fd.h"

namespace nodehealth {

class EventLoop {
 public:
  // Blocks SIGINT and SIGTERM for the calling thread (call before starting
  // other threads so they inherit the mask) and routes them to the loop.
  static Result<std::unique_ptr<EventLoop>> create();

  // Calls on_ready when fd reports one of `events` (EPOLLIN by default; a PSI
  // trigger wants EPOLLPRI only, since its fd always polls readable).
  Result<void> watch(int fd, std::function<void()> on_ready, uint32_t events = 0x001 /*EPOLLIN*/);
  // Arms the tick timer to fire once after `delay` (re-arm from the callback).
  Result<void> arm_timer(std::chrono::nanoseconds delay);
  void on_timer(std::function<void()> cb) { on_timer_ = std::move(cb); }
  // A second one-shot timer, for work that an event asks for a little later.
  Result<void> arm_soon(std::chrono::nanoseconds delay);
  void on_soon(std::function<void()> cb) { on_soon_ = std::move(cb); }

  // Stops watching `fd` (before it is closed); a handler may unwatch its own fd.
  Result<void> unwatch(int fd);
  // Stops reporting `fd` (its handler is not called) for `duration`, then watches it again
  // with the same events: a source the kernel may report thousands of times a second is
  // then served at most once per `duration`, what arrives meanwhile waiting in its queue.
  Result<void> pause(int fd, std::chrono::nanoseconds duration);

  // Runs until stop() or a termination signal. Returns the signal number that
  // ended it (0 for stop()).
  Result<int> run();
  void stop() { stopping_ = true; }

 private:
  EventLoop() = default;
  UniqueFd epoll_, timer_, soon_, signals_;
  struct Watch {
    std::function<void()> on_ready;
    uint32_t events = 0;
  };
  std::map<int, Watch> handlers_;
  std::map<int, std::chrono::steady_clock::time_point> paused_;  // fd -> when it resumes
  // Watches the paused fds that are due again; the epoll_wait timeout (ms) until the next.
  int resume_due();
  std::function<void()> on_timer_, on_soon_;
  bool stopping_ = false;
};

}  // namespace nodehealth
