// Runs a call that may block forever (statfs on a dead NFS server) on a
// worker thread, and waits for it at most a timeout. While a call is still
// blocked, later calls fail at once instead of piling up threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/sources/sources.h"

namespace nodehealth::sources {

class TimedStatfs {
 public:
  explicit TimedStatfs(StatfsFn fn);
  ~TimedStatfs();
  TimedStatfs(const TimedStatfs&) = delete;
  TimedStatfs& operator=(const TimedStatfs&) = delete;

  // Error "statfs <path>: timed out after <t>" when the call did not return in
  // time; "statfs <path>: still blocked since <n>s ago" while it stays blocked.
  Result<StatfsResult> run(const std::string& path, std::chrono::nanoseconds timeout);

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    StatfsFn fn;
    std::optional<std::string> request;  // set by run(), taken by the worker
    std::optional<Result<StatfsResult>> result;
    bool busy = false;       // the worker is inside fn
    bool abandoned = false;  // run() gave up waiting on the current call
    bool stop = false;
    std::chrono::steady_clock::time_point started{};
  };
  static void worker(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace nodehealth::sources
