// A bounded pool of worker threads for CPU-heavy request work (argon2id password hashing), kept off the
// HTTP server's threads so that health checks and cheap requests are answered while hashes run.
// Admission: a task is queued only if it would start within `max_wait` at the recent speed (moving average
// of task durations) and fewer than `max_queue` wait; try_submit refuses otherwise, so the caller sheds the
// excess (429 + Retry-After) instead of letting it pile up. A cheap KDF thus queues many, an expensive one
// under a loaded CPU few. Workers run at a lower CPU priority (nice +10) than the server's threads: a burst
// of hashing slows logins down, never the node's answers to everything else.
// Thread-safety: try_submit and the accessors are thread-safe; stop() from one thread (idempotent).
#pragma once

#include <chrono>
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
  work_pool(int workers, int max_queue, std::chrono::milliseconds max_wait);
  ~work_pool();  // stop()
  work_pool(const work_pool&) = delete;
  work_pool& operator=(const work_pool&) = delete;

  // Queues `task` if a worker is free, or if it would start within max_wait and fewer than max_queue wait;
  // false otherwise (and once the pool stopped).
  bool try_submit(std::function<void()> task);
  // Runs what is queued, then joins the workers; later submissions are refused.
  void stop();

  int workers() const noexcept { return static_cast<int>(threads_.size()); }
  int waiting() const;
  int running() const;
  // How long the tasks waiting now need to start, at the recent speed: what a shed client should be told
  // to wait (Retry-After). Zero before the first task finished.
  std::chrono::milliseconds drain_time() const;

 private:
  void run();
  int waiting_locked() const;  // tasks no free worker will take at once

  const int max_queue_;
  const double max_wait_ms_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  int running_ = 0;
  double average_task_ms_ = 0;  // exponential moving average, weight 1/8
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace stampede::shop
