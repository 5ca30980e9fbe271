// Payment-gateway emulator (TPC-W's PGE, with faults). Captures are idempotent by their `Idempotency-Key`
// header, as a real gateway's are: a retry with the same key replays the original charge; a capture without
// a key (or with a new one) is a new charge, even for an order already charged. Every accepted capture
// request is recorded (`GET /v1/captures`, one entry per request with its key), so a checker can
// reconcile payments against orders and see a double charge. Behaviour set by flags and at run time
// (PUT /v1/settings): latency distribution (log-normal from median and p99), failure rate (503, nothing
// captured), decline rate (402, final), and "charge but lose the response" (captured, then the reply comes
// only after lose_delay as a 504, i.e. after the caller's deadline).
// GET /metrics: Prometheus text (payment_* families: capture requests by result, refunds, injected faults,
// the reply delay as a histogram per route and status, replies in flight, the current settings).
// Concurrency: common's http::server with asynchronous replies (latency waits on timers, not threads);
// state under one mutex. Thread-safety: all public methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "common/http_server.h"
#include "reference_shop/metrics.h"

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
  struct charge {
    std::string id;  // "cap_N"
    int64_t order_id = 0;
    int64_t amount = 0;
    std::string idempotency_key;  // empty: the request had none
    bool refunded = false;
  };
  struct capture_request {  // one accepted POST /v1/captures (a new charge or a replay of one)
    size_t charge = 0;      // index into charges_
    bool replayed = false;
    int64_t at_ms = 0;  // Unix milliseconds
  };
  void handle_capture(http::request& request, const http::responder& reply);
  void handle_refund(http::request& request, const http::responder& reply);
  http::response captures_response();
  std::chrono::milliseconds latency();
  http::response settings_response();
  http::response metrics_response();
  // Every reply of a capture or refund goes through here: counted in the histogram by the delay it is given.
  void send(const http::responder& reply, std::string_view route, std::chrono::milliseconds delay,
            http::response response);

  emulator_options options_;
  std::mutex mutex_;
  std::mt19937_64 rng_;
  std::vector<charge> charges_;
  std::vector<capture_request> requests_;
  std::map<std::string, size_t, std::less<>> by_key_;  // idempotency key -> charge
  std::map<int64_t, std::vector<size_t>> by_order_;    // order id -> its charges
  std::map<int64_t, int64_t> declined_;                // order id -> calls
  uint64_t capture_calls_ = 0, failures_ = 0, lost_ = 0, refunds_ = 0;
  // Capture requests by result (captured, replayed, declined, failed, lost, rejected); refund requests by
  // result (refunded, repeated, no_charge, rejected).
  std::map<std::string, uint64_t, std::less<>> capture_results_, refund_results_;
  duration_histograms durations_;  // the delay each reply was given, per route, method and status
  // When each delayed reply is due (the earliest on top): those still ahead are in flight.
  std::priority_queue<std::chrono::steady_clock::time_point,
                      std::vector<std::chrono::steady_clock::time_point>, std::greater<>>
      due_;
  std::unique_ptr<http::server> server_;
};

}  // namespace stampede::shop
