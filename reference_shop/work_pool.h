// A bounded pool of worker threads for CPU-heavy request work (argon2id password hashing), kept off the
// HTTP server's threads so that health checks and cheap requests are answered while hashes run. At most
// `workers` tasks run and `queue` wait; try_submit refuses beyond that, so the caller can shed the excess
// (429 + Retry-After) instead of letting it pile up. Workers run at a lower CPU priority (nice +10) than the
// server's threads: a burst of hashing slows logins down, never the node's answers to everything else.
// Thread-safety: try_submit and the accessors are thread-safe; stop() from one thread (idempotent).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace stampede::shop {

class work_pool {
 public:
  work_pool(int workers, int queue);
  ~work_pool();  // stop()
  work_pool(const work_pool&) = delete;
  work_pool& operator=(const work_pool&) = delete;

  // Queues `task` unless `workers` tasks run and `queue` wait already (or the pool stopped): false then.
  bool try_submit(std::function<void()> task);
  // Runs what is queued, then joins the workers; later submissions are refused.
  void stop();

  int workers() const noexcept { return static_cast<int>(threads_.size()); }
  int capacity() const noexcept { return queue_; }
  int waiting() const;
  int running() const;

 private:
  void run();

  const int queue_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace stampede::shop
