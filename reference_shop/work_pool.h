// A bounded pool of worker threads for CPU-heavy request work (argon2id password hashing), kept off the
// HTTP server's threads so that health checks and cheap requests are answered while hashes run.
// No task waits longer than `max_wait` for a worker:
//  - admission: a task is queued only if a worker is free, or if fewer than `max_queue` wait, the oldest
//    of them has not waited `max_wait` yet, and at the recent speed (a moving average of task durations,
//    seeded with `initial_estimate`) it would start within `max_wait`; try_submit refuses otherwise;
//  - expiry: a task that still waited longer than `max_wait` (the estimate was optimistic: the CPU got
//    busier) is called with `run = false` instead, and must answer at once without doing the work.
// Either way the caller sheds the excess (429 + Retry-After) instead of letting it pile up into timeouts.
// Workers run at a lower CPU priority (`nice`, +10 for hashing) than the server's threads: a burst of hashing
// slows logins down, never the node's answers to everything else.
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
  // run = true: do the work; false: it waited past max_wait (or the pool is stopping), answer "busy" now.
  using task = std::function<void(bool run)>;

  work_pool(int workers, int max_queue, std::chrono::milliseconds max_wait,
            std::chrono::milliseconds initial_estimate = std::chrono::milliseconds{0}, int nice = 10);
  ~work_pool();  // stop()
  work_pool(const work_pool&) = delete;
  work_pool& operator=(const work_pool&) = delete;

  // Queues `t` as described above; false when refused (and once the pool stopped).
  bool try_submit(task t);
  // Runs what is queued (expired tasks with run = false), then joins the workers; later submissions are
  // refused.
  void stop();

  int workers() const noexcept { return static_cast<int>(threads_.size()); }
  int waiting() const;
  int running() const;
  uint64_t expired() const;  // tasks called with run = false
  // How long the tasks waiting now need to start, at the recent speed: what a shed client should be told
  // to wait (Retry-After).
  std::chrono::milliseconds drain_time() const;

 private:
  using clock = std::chrono::steady_clock;
  struct queued {
    task work;
    clock::time_point since;
  };
  void run();
  int waiting_locked() const;  // tasks no free worker will take at once

  const int max_queue_;
  const int nice_;
  const clock::duration max_wait_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<queued> tasks_;
  int running_ = 0;
  uint64_t expired_ = 0;
  double average_task_ms_;  // exponential moving average, weight 1/8
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace stampede::shop
