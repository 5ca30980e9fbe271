#include "reference_shop/work_pool.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace stampede::shop {

work_pool::work_pool(int workers, int max_queue, std::chrono::milliseconds max_wait,
                     std::chrono::milliseconds initial_estimate, int nice)
    : max_queue_(max_queue),
      nice_(nice),
      max_wait_(max_wait),
      average_task_ms_(static_cast<double>(initial_estimate.count())) {
  if (workers < 1 || max_queue < 0) throw std::invalid_argument("work_pool: workers >= 1 and max_queue >= 0");
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
}

work_pool::~work_pool() { stop(); }

int work_pool::waiting_locked() const {
  const int free_workers = std::max(0, static_cast<int>(threads_.size()) - running_);
  return std::max(0, static_cast<int>(tasks_.size()) - free_workers);
}

bool work_pool::try_submit(task t) {
  const auto now = clock::now();
  {
    std::lock_guard lock{mutex_};
    if (stopping_) return false;
    const int free_workers = static_cast<int>(threads_.size()) - running_;
    if (static_cast<int>(tasks_.size()) >= free_workers) {  // it would wait
      const int ahead = waiting_locked();
      if (ahead >= max_queue_) return false;
      // The queue is slower than estimated: its oldest task is already past the bound.
      if (!tasks_.empty() && now - tasks_.front().since > max_wait_) return false;
      const double wait_ms = (ahead + 1) * average_task_ms_ / static_cast<double>(threads_.size());
      if (wait_ms > std::chrono::duration<double, std::milli>(max_wait_).count()) return false;
    }
    tasks_.push_back({std::move(t), now});
  }
  wake_.notify_one();
  return true;
}

void work_pool::stop() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

int work_pool::waiting() const {
  std::lock_guard lock{mutex_};
  return static_cast<int>(tasks_.size());
}

int work_pool::running() const {
  std::lock_guard lock{mutex_};
  return running_;
}

uint64_t work_pool::expired() const {
  std::lock_guard lock{mutex_};
  return expired_;
}

std::chrono::milliseconds work_pool::drain_time() const {
  std::lock_guard lock{mutex_};
  const double ms = (waiting_locked() + 1) * average_task_ms_ / static_cast<double>(threads_.size());
  return std::chrono::milliseconds{static_cast<int64_t>(ms)};
}

void work_pool::run() {
  // Linux applies nice per thread: this worker yields the CPU to the server's threads under contention.
  if (nice_ != 0) ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice_);
  std::unique_lock lock{mutex_};
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, nothing left
    queued next = std::move(tasks_.front());
    tasks_.pop_front();
    const bool run = !stopping_ && clock::now() - next.since <= max_wait_;
    if (!run) ++expired_;
    ++running_;
    lock.unlock();
    const auto start = clock::now();
    try {
      next.work(run);
    } catch (...) {
      // A task reports its own errors (it owns the reply); nothing may escape a worker thread.
    }
    const double ms = std::chrono::duration<double, std::milli>(clock::now() - start).count();
    lock.lock();
    if (run) average_task_ms_ = average_task_ms_ == 0 ? ms : average_task_ms_ + (ms - average_task_ms_) / 8;
    --running_;
  }
}

}  // namespace stampede::shop
