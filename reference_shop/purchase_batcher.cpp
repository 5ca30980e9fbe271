#include "reference_shop/purchase_batcher.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace stampede::shop {

namespace {

purchase_outcome unavailable(const char* why) {
  return purchase_outcome{{}, std::make_exception_ptr(store_unavailable(why))};
}

}  // namespace

purchase_batcher::purchase_batcher(run_batch run, limits limits)
    : run_(std::move(run)), limits_(limits), committer_([this] { commit_loop(); }) {}

purchase_batcher::~purchase_batcher() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  committer_.join();
}

bool purchase_batcher::submit(const purchase_request& request, on_done done) {
  {
    std::lock_guard lock{mutex_};
    if (stopping_ || queue_.size() >= limits_.max_queue) return false;
    queue_.push_back(waiting{request, std::move(done), clock::now()});
  }
  wake_.notify_one();
  return true;
}

purchase_batcher::stats purchase_batcher::counters() const {
  std::lock_guard lock{mutex_};
  return stats_;
}

void purchase_batcher::commit_loop() {
  std::vector<waiting> batch;
  while (true) {
    batch.clear();
    {
      std::unique_lock lock{mutex_};
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      const size_t n = std::min(queue_.size(), limits_.max_batch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_one(batch);
  }
  // Stopping: what still waits is answered without being tried.
  std::deque<waiting> left;
  {
    std::lock_guard lock{mutex_};
    left.swap(queue_);
  }
  for (auto& w : left) w.done(unavailable("the shop is stopping, retry"));
}

void purchase_batcher::run_one(std::vector<waiting>& batch) {
  // Expired ones are answered without being tried; the rest go to the store together.
  const auto now = clock::now();
  std::vector<waiting*> tried;
  std::vector<purchase_request> requests;
  tried.reserve(batch.size());
  requests.reserve(batch.size());
  for (auto& w : batch) {
    if (now - w.since > limits_.max_wait) {
      w.done(unavailable("the purchase waited too long for the database, retry"));
    } else {
      requests.push_back(w.request);
      tried.push_back(&w);
    }
  }
  if (tried.empty()) return;
  std::vector<purchase_outcome> outcomes;
  try {
    outcomes = run_(requests);
    if (outcomes.size() != tried.size()) throw std::logic_error("flash_purchases answered a wrong count");
  } catch (...) {  // nothing of the batch was done: each gets the error
    outcomes.assign(tried.size(), purchase_outcome{{}, std::current_exception()});
  }
  {
    std::lock_guard lock{mutex_};
    ++stats_.batches;
    stats_.purchases += tried.size();
    stats_.largest = std::max<uint64_t>(stats_.largest, tried.size());
  }
  for (size_t i = 0; i < tried.size(); ++i) tried[i]->done(std::move(outcomes[i]));
}

}  // namespace stampede::shop
