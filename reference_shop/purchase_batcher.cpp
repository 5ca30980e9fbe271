#include "reference_shop/purchase_batcher.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace stampede::shop {

purchase_batcher::purchase_batcher(run_batch run, limits limits) : run_(std::move(run)), limits_(limits) {}

bool purchase_batcher::submit(const purchase_request& request, on_done done) {
  {
    std::lock_guard lock{mutex_};
    if (queue_.size() >= limits_.max_queue) return false;
    queue_.push_back(waiting{request, std::move(done), clock::now()});
    if (running_) return true;  // the running thread takes it in its next batch
    running_ = true;
  }
  drain();
  return true;
}

purchase_batcher::stats purchase_batcher::counters() const {
  std::lock_guard lock{mutex_};
  return stats_;
}

void purchase_batcher::drain() {
  std::vector<waiting> batch;
  std::vector<purchase_request> requests;
  while (true) {
    batch.clear();
    requests.clear();
    {
      std::lock_guard lock{mutex_};
      if (queue_.empty()) {
        running_ = false;
        return;
      }
      const size_t n = std::min(queue_.size(), limits_.max_batch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    // Expired ones are answered without being tried; the rest go to the store together.
    const auto now = clock::now();
    std::vector<waiting> tried;
    tried.reserve(batch.size());
    for (auto& w : batch) {
      if (now - w.since > limits_.max_wait) {
        purchase_outcome expired;
        expired.error = std::make_exception_ptr(
            store_unavailable("the purchase waited too long for the database, retry"));
        w.done(std::move(expired));
      } else {
        requests.push_back(w.request);
        tried.push_back(std::move(w));
      }
    }
    if (tried.empty()) continue;
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
    for (size_t i = 0; i < tried.size(); ++i) tried[i].done(std::move(outcomes[i]));
  }
}

}  // namespace stampede::shop
