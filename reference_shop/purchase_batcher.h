// Group commit for flash purchases: a node's purchases that arrive while one batch is being committed wait
// in a queue and go to the store together (store::flash_purchases: one transaction, one write-lock hold and
// one commit for all of them, instead of one each). Nobody waits for a timer: the thread that finds no batch
// running runs one at once, and keeps running batches until the queue is empty; purchases arriving meanwhile
// form the next one, so a batch is as large as the backlog (up to `max_batch`) and a lone purchase goes
// alone. Every purchase is answered only after its batch's commit (its `done` is called then, on the running
// thread): an acknowledged purchase is as durable as before. Bounded: beyond `max_queue` waiting a purchase
// is refused (submit returns false), and one that waited past `max_wait` gets a store_unavailable error
// without being tried.
// Thread-safety: submit() and stats() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "reference_shop/store.h"

namespace stampede::shop {

class purchase_batcher {
 public:
  using run_batch = std::function<std::vector<purchase_outcome>(std::span<const purchase_request>)>;
  using on_done = std::function<void(purchase_outcome)>;

  struct limits {
    size_t max_batch = 64;
    size_t max_queue = 1024;
    std::chrono::milliseconds max_wait{5000};
  };
  struct stats {
    uint64_t batches = 0;
    uint64_t purchases = 0;  // tried in a batch (expired ones not counted)
    uint64_t largest = 0;
  };

  purchase_batcher(run_batch run, limits limits);

  // Queues the purchase; `done` gets its outcome (maybe on this thread, before submit returns). false, with
  // `done` never called, when max_queue purchases already wait.
  bool submit(const purchase_request& request, on_done done);
  stats counters() const;

 private:
  using clock = std::chrono::steady_clock;
  struct waiting {
    purchase_request request;
    on_done done;
    clock::time_point since;
  };
  void drain();

  const run_batch run_;
  const limits limits_;
  mutable std::mutex mutex_;
  std::deque<waiting> queue_;
  bool running_ = false;
  stats stats_;
};

}  // namespace stampede::shop
