// The work pool that runs fsync-mode calls off gRPC's callback threads.
#include "letterbox/server/work_pool.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "absl/synchronization/notification.h"

namespace letterbox::server {
namespace {

TEST_CASE("every submitted task runs exactly once on a pool thread") {
  std::atomic<int> ran{0};
  {
    WorkPool pool(4, 1000);
    for (int i = 0; i < 500; ++i) REQUIRE(pool.TrySubmit([&ran] { ++ran; }));
  }  // the destructor stops the pool after the queued tasks
  CHECK(ran.load() == 500);
}

TEST_CASE("tasks run concurrently up to the thread count") {
  WorkPool pool(8, 100);
  absl::Notification release;
  std::atomic<int> waiting{0};
  for (int i = 0; i < 8; ++i) {
    REQUIRE(pool.TrySubmit([&] {
      ++waiting;
      release.WaitForNotification();
    }));
  }
  while (waiting.load() < 8) std::this_thread::yield();
  CHECK(waiting.load() == 8);
  release.Notify();
}

TEST_CASE("a full queue refuses the task without running it") {
  WorkPool pool(1, 2);
  absl::Notification started;
  absl::Notification release;
  REQUIRE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  REQUIRE(pool.TrySubmit([] {}));
  REQUIRE(pool.TrySubmit([] {}));
  bool refused_ran = false;
  CHECK_FALSE(pool.TrySubmit([&refused_ran] { refused_ran = true; }));
  CHECK(pool.queued() == 2);
  release.Notify();
  pool.Stop();
  CHECK_FALSE(refused_ran);
  CHECK(pool.queued() == 0);
}

TEST_CASE("after Stop the pool refuses new tasks") {
  WorkPool pool(2, 10);
  pool.Stop();
  bool ran = false;
  CHECK_FALSE(pool.TrySubmit([&ran] { ran = true; }));
  pool.Stop();  // idempotent
  CHECK_FALSE(ran);
}

}  // namespace
}  // namespace letterbox::server
