// File: letterbox/server/work_pool.h
//
// A fixed set of threads that run blocking work handed over by gRPC's
// callback threads, with a bounded queue.
//
// Why it exists: in `fsync` durability mode a handler blocks in a synced
// RocksDB write. gRPC runs callback handlers on a handful of threads, so run
// there at most that many writes wait on the WAL at once and RocksDB has
// nothing to group into one fsync. Run on this pool, up to `threads` writes
// wait together and each fsync commits a whole write group
// (docs/performance.md, "Durability").
//
//   WorkPool pool(32, 4096);
//   if (!pool.TrySubmit([reactor] { ...; reactor->Finish(status); })) {
//     reactor->Finish(busy);  // queue full or shutting down: the caller decides
//   }
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace letterbox::server {

class WorkPool {
 public:
  // Starts `threads` (at least 1) threads; at most `max_queued` (at least 1)
  // tasks wait for a thread at once.
  WorkPool(int threads, size_t max_queued);
  // Stop() then join.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `task` to run once on one of the pool's threads and returns true;
  // false (and `task` is dropped, not run) when `max_queued` tasks are already
  // waiting or Stop() has been called. Thread-safe. `task` must not throw.
  [[nodiscard]] bool TrySubmit(std::function<void()> task);

  // Refuses new tasks, runs every task already queued, and returns when the
  // threads have exited. Idempotent; must not be called from a pool thread.
  void Stop();

  // Tasks queued and not yet started (for tests and metrics).
  [[nodiscard]] size_t queued() const;

 private:
  void Run();

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace letterbox::server
