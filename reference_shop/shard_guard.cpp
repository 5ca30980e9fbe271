#include "reference_shop/shard_guard.h"

#include <stdexcept>

namespace stampede::shop {

shard_guard::shard_guard(shard_guard_options options) : options_(std::move(options)) {
  if (options_.max_inflight < 0 || options_.failures_to_open < 0 || options_.open_for.count() < 0) {
    throw std::invalid_argument("shard_guard: limits must not be negative");
  }
}

shard_guard::admission shard_guard::enter() {
  std::lock_guard lock{mutex_};
  if (stats_.open) {
    ++stats_.refused_open;
    return admission::open;
  }
  if (options_.max_inflight > 0 && stats_.inflight >= options_.max_inflight) {
    ++stats_.refused_full;
    return admission::full;
  }
  ++stats_.inflight;
  return admission::admitted;
}

void shard_guard::leave(bool reached) {
  std::lock_guard lock{mutex_};
  --stats_.inflight;
  record_locked(reached);
}

void shard_guard::cancel() {
  std::lock_guard lock{mutex_};
  --stats_.inflight;
}

void shard_guard::record(bool reached) {
  std::lock_guard lock{mutex_};
  record_locked(reached);
}

void shard_guard::record_locked(bool reached) {
  if (reached) {
    failures_in_a_row_ = 0;
    stats_.open = false;
    return;
  }
  ++stats_.failures;
  ++failures_in_a_row_;
  if (options_.failures_to_open > 0 && failures_in_a_row_ >= options_.failures_to_open && !stats_.open) {
    stats_.open = true;
    ++stats_.opened;
    next_probe_ = now() + options_.open_for;
  }
}

bool shard_guard::probe_due() {
  std::lock_guard lock{mutex_};
  if (!stats_.open) return false;
  const auto t = now();
  if (t < next_probe_) return false;
  next_probe_ = t + options_.open_for;
  return true;
}

shard_guard_stats shard_guard::stats() const {
  std::lock_guard lock{mutex_};
  return stats_;
}

std::string shard_guard::describe(admission refused) const {
  if (refused == admission::open) return "circuit open after lost connections, retry";
  return "bulkhead full: " + std::to_string(options_.max_inflight) + " calls in flight, retry";
}

}  // namespace stampede::shop
