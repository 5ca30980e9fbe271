// A bulkhead and a circuit breaker for one database shard of one node (docs/SHOP.md "Shard bulkheads"):
// the compartment that keeps a lost shard from taking the whole node, and so the whole shop, with it.
//  - bulkhead: at most `max_inflight` calls use the shard at once; one more is refused at once (the node
//    answers 503 + Retry-After) instead of waiting for a session;
//  - circuit breaker: `failures_to_open` calls in a row that lost their connection (no answer within the
//    deadline, a reset, a connect that failed) open the circuit: every call is refused at once until a probe
//    (pg_pool::probe, run by the sharded store's background worker, never by a request) reaches the shard
//    again, at most every `open_for`. A call that reached the shard closes it as well.
// So a cut shard costs each node a few calls' deadlines, then nothing: requests that need it fail fast, the
// others (and /readyz) never wait behind it.
// Pure logic with an injectable clock (tests); pg_pool calls it around every lease.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace stampede::shop {

struct shard_guard_options {
  int max_inflight = 0;      // calls using the shard at once; 0: no bulkhead
  int failures_to_open = 0;  // lost connections in a row that open the circuit; 0: no circuit breaker
  std::chrono::milliseconds open_for{1000};                      // before the first probe, and between probes
  std::function<std::chrono::steady_clock::time_point()> clock;  // tests; default steady_clock::now
};

struct shard_guard_stats {
  bool open = false;
  int inflight = 0;
  uint64_t refused_full = 0;  // the bulkhead was full
  uint64_t refused_open = 0;  // the circuit was open
  uint64_t opened = 0;        // times the circuit opened
  uint64_t failures = 0;      // calls that lost their connection
};

class shard_guard {
 public:
  explicit shard_guard(shard_guard_options options = {});

  enum class admission { admitted, full, open };
  // A call that wants the shard: admitted (then leave() exactly once) or refused.
  admission enter();
  // The admitted call ended: `reached` = the shard answered (SQL errors included), false = the connection
  // was lost or could not be made.
  void leave(bool reached);
  // The admitted call ended without using the shard (no session free in time): neither outcome.
  void cancel();
  // For calls outside the bulkhead (the probe, a connect that failed before admission counted): the outcome.
  void record(bool reached);
  // Open and its probe is due (open_for passed since it opened or since the last probe).
  bool probe_due();
  bool enabled() const noexcept { return options_.max_inflight > 0 || options_.failures_to_open > 0; }
  shard_guard_stats stats() const;
  // "circuit open" / "N calls in flight": for the refusal's message.
  std::string describe(admission refused) const;

 private:
  using clock = std::chrono::steady_clock;
  clock::time_point now() const { return options_.clock ? options_.clock() : clock::now(); }
  void record_locked(bool reached);

  const shard_guard_options options_;
  mutable std::mutex mutex_;
  shard_guard_stats stats_;
  int failures_in_a_row_ = 0;
  clock::time_point next_probe_{};
};

}  // namespace stampede::shop
