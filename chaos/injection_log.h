// Bounded in-memory record of every fault injection, readable through proxy_server.
// Thread-safety: all members are safe to call from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace stampede::chaos {

struct injection {
  uint64_t sequence = 0;                              // 1, 2, ... in log order (never reused)
  std::chrono::system_clock::time_point time;         // wall clock, for timelines
  std::chrono::nanoseconds since_start{0};            // monotonic, since the proxy_server started
  std::string proxy;
  std::string toxic;                                  // toxic name ("" for proxy-level events)
  std::string type;                                   // toxic type, or "refused"/"upstream_error"
  std::string direction;                              // upstream / downstream / connection
  uint64_t connection = 0;                            // connection id within the proxy (1, 2, ...)
  uint64_t request = 0;                               // request index on the connection (1, 2, ...), 0 = n/a
  std::string detail;                                 // e.g. "delay=212ms", "status=503 POST /checkout"
};

class injection_log {
 public:
  explicit injection_log(size_t capacity = 10'000) : capacity_(capacity == 0 ? 1 : capacity) {}

  void append(injection entry) {
    std::lock_guard lock(mutex_);
    entry.sequence = ++total_;
    if (entries_.size() == capacity_) entries_.pop_front();
    entries_.push_back(std::move(entry));
  }
  // The retained entries (at most capacity), oldest first.
  std::vector<injection> entries() const {
    std::lock_guard lock(mutex_);
    return {entries_.begin(), entries_.end()};
  }
  // Entries with sequence > after (for incremental readers).
  std::vector<injection> entries_after(uint64_t after) const {
    std::lock_guard lock(mutex_);
    std::vector<injection> out;
    for (const auto& e : entries_) {
      if (e.sequence > after) out.push_back(e);
    }
    return out;
  }
  uint64_t total() const {  // all injections ever appended, including ones dropped from the ring
    std::lock_guard lock(mutex_);
    return total_;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    entries_.clear();
  }

 private:
  mutable std::mutex mutex_;
  size_t capacity_;
  uint64_t total_ = 0;
  std::deque<injection> entries_;
};

}  // namespace stampede::chaos
