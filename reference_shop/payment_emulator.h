// Payment-gateway emulator (TPC-W's PGE, with faults): captures are idempotent by order id and every one is
// recorded, so a checker can reconcile payments against orders. Behaviour set by flags and at run time
// (PUT /v1/settings): latency distribution (log-normal from median and p99), failure rate (503, nothing
// captured), decline rate (402, final), and "charge but lose the response" (captured, then the reply comes
// only after lose_delay as a 504, i.e. after the caller's deadline).
// Concurrency: common's http::server with asynchronous replies (latency waits on timers, not threads);
// state under one mutex. Thread-safety: all public methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "common/http_server.h"

namespace stampede::shop {

struct emulator_settings {
  double latency_median_ms = 2;
  double latency_p99_ms = 20;
  double failure_rate = 0;        // 503 without capturing
  double decline_rate = 0;        // 402, remembered per order
  double lose_response_rate = 0;  // capture, then answer too late
  std::chrono::milliseconds lose_delay{3000};
};

struct emulator_options {
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  int threads = 2;
  uint64_t seed = 1;
  emulator_settings settings;
};

class payment_emulator {
 public:
  explicit payment_emulator(emulator_options options);
  ~payment_emulator();
  void start();
  uint16_t port() const;
  void stop();
  void wait();
  void handle(http::request& request, http::responder reply);

 private:
  struct capture {
    std::string id;
    int64_t amount = 0;
    int64_t calls = 0;
    bool refunded = false;
  };
  std::chrono::milliseconds latency();
  http::response settings_response();

  emulator_options options_;
  std::mutex mutex_;
  std::mt19937_64 rng_;
  std::map<int64_t, capture> captures_;  // by order id
  std::map<int64_t, int64_t> declined_;  // order id -> calls
  uint64_t capture_calls_ = 0, failures_ = 0, lost_ = 0, refunds_ = 0;
  std::unique_ptr<http::server> server_;
};

}  // namespace stampede::shop
