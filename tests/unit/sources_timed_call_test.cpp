// A hung statfs (dead NFS) must not hang the agent: the call times out, and
// while it stays blocked later calls fail at once without piling up threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>

#include "agent/sources/timed_call.h"

using namespace nodehealth;
using namespace nodehealth::sources;
using namespace std::chrono_literals;

TEST_CASE("a statfs that returns in time passes its result through", "[statfs]") {
  TimedStatfs t([](const std::string& path) -> Result<StatfsResult> {
    StatfsResult r;
    r.capacity_bytes = path.size();
    return r;
  });
  auto r = t.run("/abc", 5s);
  REQUIRE(r);
  CHECK(r->capacity_bytes == 4);
  auto again = t.run("/abcdef", 5s);
  REQUIRE(again);
  CHECK(again->capacity_bytes == 7);
}

TEST_CASE("a statfs error keeps its errno", "[statfs]") {
  TimedStatfs t([](const std::string& path) -> Result<StatfsResult> {
    return errno_error("statfs " + path, ENOENT);
  });
  auto r = t.run("/missing", 5s);
  REQUIRE_FALSE(r);
  CHECK(r.error().errno_value == ENOENT);
}

TEST_CASE("a hung statfs times out, later calls fail fast, recovery after it returns", "[statfs]") {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  TimedStatfs t([&](const std::string&) -> Result<StatfsResult> {
    if (calls.fetch_add(1) == 0) released.wait();  // the first call hangs
    return StatfsResult{};
  });
  auto r = t.run("/mnt/nfs", 20ms);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "statfs /mnt/nfs: timed out after 20ms (hung filesystem?)");

  auto blocked = t.run("/mnt/nfs", 20ms);
  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().message.find("still blocked since") != std::string::npos);
  CHECK(calls.load() == 1);  // no second call was started

  release.set_value();
  // The worker comes back; a later call succeeds (bounded wait, not a timed assertion).
  Result<StatfsResult> ok = fail("not yet");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!ok && std::chrono::steady_clock::now() < deadline) {
    ok = t.run("/mnt/nfs", 1s);
    std::this_thread::yield();
  }
  CHECK(ok);
  CHECK(calls.load() == 2);
}

TEST_CASE("destroying a runner whose call is blocked does not block", "[statfs]") {
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  {
    TimedStatfs t([released](const std::string&) -> Result<StatfsResult> {
      released.wait();
      return StatfsResult{};
    });
    CHECK_FALSE(t.run("/hung", 10ms));
  }  // destructor detaches the blocked worker
  release->set_value();
}
