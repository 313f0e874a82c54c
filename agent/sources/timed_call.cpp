#include "agent/sources/timed_call.h"

#include <fmt/format.h>

namespace nodehealth::sources {

TimedStatfs::TimedStatfs(StatfsFn fn) : state_(std::make_shared<State>()) {
  state_->fn = std::move(fn);
  thread_ = std::thread(worker, state_);
}

TimedStatfs::~TimedStatfs() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
    if (state_->busy) {
      // Blocked in the kernel: it cannot be joined. The shared state outlives us.
      thread_.detach();
    }
  }
  state_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TimedStatfs::worker(std::shared_ptr<State> state) {
  std::unique_lock lock(state->mu);
  for (;;) {
    state->cv.wait(lock, [&] { return state->stop || state->request.has_value(); });
    if (state->stop) return;
    std::string path = std::move(*state->request);
    state->request.reset();
    state->busy = true;
    state->abandoned = false;
    lock.unlock();
    Result<StatfsResult> r = state->fn(path);
    lock.lock();
    state->busy = false;
    if (!state->abandoned) state->result = std::move(r);
    state->cv.notify_all();
  }
}

Result<StatfsResult> TimedStatfs::run(const std::string& path, std::chrono::nanoseconds timeout) {
  std::unique_lock lock(state_->mu);
  const auto now = std::chrono::steady_clock::now();
  if (state_->busy) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - state_->started);
    return fail(fmt::format("statfs {}: still blocked since {}s ago (hung filesystem?)", path,
                            secs.count()));
  }
  state_->result.reset();
  state_->request = path;
  state_->started = now;
  state_->cv.notify_all();
  const bool done = state_->cv.wait_for(lock, timeout, [&] { return state_->result.has_value(); });
  if (!done) {
    // Not picked up yet: withdraw it. Picked up: the worker stays busy until the
    // blocked call returns, and then drops the result.
    state_->request.reset();
    state_->abandoned = true;
    return fail(
        fmt::format("statfs {}: timed out after {}ms (hung filesystem?)", path,
                    std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()));
  }
  Result<StatfsResult> r = std::move(*state_->result);
  state_->result.reset();
  return r;
}

}  // namespace nodehealth::sources
