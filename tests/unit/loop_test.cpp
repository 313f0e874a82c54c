// The event loop's two timers, its watched fds and their pauses, on real timerfds and pipes.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <vector>

#include "agent/loop.h"

using namespace nodehealth;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// EventLoop::create blocks SIGINT and SIGTERM for the thread; the test gives them back.
struct SignalMaskGuard {
  sigset_t saved;
  SignalMaskGuard() { pthread_sigmask(SIG_SETMASK, nullptr, &saved); }
  ~SignalMaskGuard() { pthread_sigmask(SIG_SETMASK, &saved, nullptr); }
};

// A loop and a pipe to watch: fds[0] is read, fds[1] written.
struct LoopAndPipe {
  SignalMaskGuard guard;
  std::unique_ptr<EventLoop> loop;
  int fds[2] = {-1, -1};
  LoopAndPipe() {
    auto l = EventLoop::create();
    REQUIRE(l);
    loop = std::move(*l);
    REQUIRE(::pipe(fds) == 0);
  }
  ~LoopAndPipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

}  // namespace

TEST_CASE("the soon timer fires once, after its delay, apart from the tick timer", "[loop]") {
  SignalMaskGuard guard;
  auto loop = EventLoop::create();
  REQUIRE(loop);
  auto& l = **loop;
  int ticks = 0, soons = 0;
  Clock::time_point armed, fired;
  l.on_timer([&] {
    ++ticks;
    armed = Clock::now();
    REQUIRE(l.arm_soon(milliseconds(30)));
  });
  l.on_soon([&] {
    ++soons;
    fired = Clock::now();
    l.stop();
  });
  REQUIRE(l.arm_timer(milliseconds(5)));
  auto ended = l.run();
  REQUIRE(ended);
  CHECK(*ended == 0);
  CHECK(ticks == 1);
  CHECK(soons == 1);
  CHECK(fired - armed >= milliseconds(30));
}

TEST_CASE("re-arming the soon timer replaces its deadline; a watched fd is served", "[loop]") {
  LoopAndPipe t;
  auto& l = *t.loop;
  const int* fds = t.fds;
  int reads = 0, soons = 0;
  Clock::time_point start = Clock::now(), fired;
  REQUIRE(l.watch(fds[0], [&] {
    char c;
    REQUIRE(::read(fds[0], &c, 1) == 1);
    ++reads;
  }));
  l.on_soon([&] {
    ++soons;
    fired = Clock::now();
    l.stop();
  });
  REQUIRE(l.arm_soon(milliseconds(500)));
  REQUIRE(l.arm_soon(milliseconds(20)));  // the later call wins
  REQUIRE(::write(fds[1], "x", 1) == 1);
  auto ended = l.run();
  REQUIRE(ended);
  CHECK(reads == 1);
  CHECK(soons == 1);
  CHECK(fired - start >= milliseconds(20));
  CHECK(fired - start < milliseconds(400));
}

TEST_CASE("a paused fd is not served until its pause is over, then is again", "[loop]") {
  LoopAndPipe t;
  auto& l = *t.loop;
  const int* fds = t.fds;
  std::vector<Clock::time_point> served;
  REQUIRE(l.watch(fds[0], [&] {
    char c;
    REQUIRE(::read(fds[0], &c, 1) == 1);
    served.push_back(Clock::now());
    if (served.size() == 1) {
      REQUIRE(l.pause(fds[0], milliseconds(80)));
      REQUIRE(::write(fds[1], "y", 1) == 1);  // ready at once, served after the pause
    } else {
      l.stop();
    }
  }));
  CHECK_FALSE(l.pause(fds[1], milliseconds(1)));  // not watched: an error
  REQUIRE(::write(fds[1], "x", 1) == 1);
  auto ended = l.run();
  REQUIRE(ended);
  REQUIRE(served.size() == 2);
  CHECK(served[1] - served[0] >= milliseconds(80));
  CHECK(served[1] - served[0] < milliseconds(1000));
}
