// The asynchronous order pipeline of one shop node: worker threads claim outbox messages with a lease,
// capture the payment at the payment emulator over HTTP (deadline per call; retries with exponential
// backoff and full jitter; idempotent: every attempt for an order carries the same Idempotency-Key), then mark the order paid, or failed with its stock
// released, and dead-letter a message after `max_attempts` with its last error. A dead node's leases
// expire and any other node's workers finish its messages: at-least-once delivery, exactly-once effect
// (every effect is conditional on still holding the lease and on the order still being pending).
// Thread-safety: notify() and stats() are thread-safe; start/stop from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "reference_shop/store.h"

namespace stampede::shop {

struct pipeline_options {
  std::string payment_host = "127.0.0.1";
  uint16_t payment_port = 0;
  int workers = 2;
  int batch = 2;                                   // messages claimed per lease
  std::chrono::milliseconds lease{5000};           // must exceed batch x payment_timeout
  std::chrono::milliseconds payment_timeout{1000};
  std::chrono::milliseconds poll_interval{50};     // idle wait between claims (local checkouts notify)
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_cap{5000};
  int max_attempts = 5;
  // Deliberately broken (for checker tests, `--inject-bug double-capture`): every capture is sent twice and
  // without its Idempotency-Key, as a client that "retries" on its own would, so each order is charged twice.
  bool bug_double_capture = false;
};

struct pipeline_stats {
  uint64_t captured = 0;
  uint64_t declined = 0;
  uint64_t retries = 0;
  uint64_t dead_lettered = 0;
  uint64_t refunds = 0;
  uint64_t lease_lost = 0;  // a result arrived after another worker took the message over
};

class order_pipeline {
 public:
  order_pipeline(store& db, std::string owner, pipeline_options options);
  ~order_pipeline();
  void start();
  void stop();  // finishes the message in hand, then joins
  void notify();
  pipeline_stats stats() const;

 private:
  void run(int index);
  void process(const outbox_message& message, const std::string& owner, void* client);

  store& db_;
  std::string owner_;
  pipeline_options options_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t wakeups_ = 0;
  std::atomic<uint64_t> captured_{0}, declined_{0}, retries_{0}, dead_lettered_{0}, refunds_{0}, lease_lost_{0};
};

int64_t unix_millis();

}  // namespace stampede::shop
