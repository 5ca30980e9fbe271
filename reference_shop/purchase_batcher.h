// Group commit for flash purchases: a node's purchases that arrive while one batch is being committed wait in
// a queue and go to the store together (store::flash_purchases: one transaction, one write-lock hold and one
// commit for all of them, instead of one each). One committer thread per node takes them; nobody waits for a
// timer: a purchase that finds the committer idle is taken at once (alone), and those arriving while a batch
// runs form the next one, so a batch is as large as the backlog (up to `max_batch`).
// Every purchase is answered only after its batch's commit (its `done` is called then, on the committer
// thread): an acknowledged purchase is as durable as before. Bounded: beyond `max_queue` waiting a purchase
// is refused (submit returns false), and one that waited past `max_wait` gets a store_unavailable error
// without being tried. The committer is the node's own thread, not one of the database pool's: the pool's
// workers only check the request and queue it, so the pool's wait estimate (its admission) stays that of
// short tasks. Thread-safety: submit() and counters() from any thread. The destructor answers what is still
// queued with store_unavailable (nothing done) and joins the committer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
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
  ~purchase_batcher();
  purchase_batcher(const purchase_batcher&) = delete;
  purchase_batcher& operator=(const purchase_batcher&) = delete;

  // Queues the purchase; the committer calls `done` with its outcome. false, with `done` never called, when
  // max_queue purchases already wait or the batcher is stopping.
  bool submit(const purchase_request& request, on_done done);
  stats counters() const;

 private:
  using clock = std::chrono::steady_clock;
  struct waiting {
    purchase_request request;
    on_done done;
    clock::time_point since;
  };
  void commit_loop();
  void run_one(std::vector<waiting>& batch);

  const run_batch run_;
  const limits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<waiting> queue_;
  bool stopping_ = false;
  stats stats_;
  std::thread committer_;  // last: started once everything above exists
};

}  // namespace stampede::shop
