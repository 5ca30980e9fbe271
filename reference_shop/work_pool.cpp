#include "reference_shop/work_pool.h"

#include <sys/resource.h>
#include <unistd.h>

#include <stdexcept>

namespace stampede::shop {

work_pool::work_pool(int workers, int queue) : queue_(queue) {
  if (workers < 1 || queue < 0) throw std::invalid_argument("work_pool: workers >= 1 and queue >= 0");
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
}

work_pool::~work_pool() { stop(); }

bool work_pool::try_submit(std::function<void()> task) {
  {
    std::lock_guard lock{mutex_};
    if (stopping_) return false;
    // Free workers take new tasks at once; otherwise at most queue_ wait.
    const int free_workers = static_cast<int>(threads_.size()) - running_;
    if (static_cast<int>(tasks_.size()) >= queue_ + std::max(0, free_workers)) return false;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

void work_pool::stop() {
  {
    std::lock_guard lock{mutex_};
    if (stopping_ && threads_.empty()) return;
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

void work_pool::run() {
  // Linux applies nice per thread: this worker yields the CPU to the server's threads under contention.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock lock{mutex_};
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, nothing left
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    ++running_;
    lock.unlock();
    try {
      task();
    } catch (...) {
      // A task reports its own errors (it owns the reply); nothing may escape a worker thread.
    }
    lock.lock();
    --running_;
  }
}

}  // namespace stampede::shop
