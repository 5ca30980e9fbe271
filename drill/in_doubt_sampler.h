// How long cross-shard transactions stayed in doubt during a drill on a sharded shop (`stampede shop --shards
// K`): a thread per shard that reads the shard's `pg_prepared_xacts` every `interval`, straight at the
// shard's own PostgreSQL port (no fault proxy: it sees the shard as it is, also while the nodes' links are
// cut), each read bounded (connect 2 s, statement 1 s + 0.5 s); a frozen shard is a failed sample, never a
// hang. The tracker (pure) keeps, per prepared transaction seen, when it was prepared (the shard's own
// timestamp), when it was last seen and when a later sample found it gone (resolved). shard_outcomes.h turns
// that into figures.
//
// Thread-safety: in_doubt_tracker is a plain value; in_doubt_sampler's tracker() may be called from any
// thread (one mutex), its constructor and stop() from the owner's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace stampede::drill {

struct in_doubt_record {
  std::string gid;  // PREFIX:HOME:RANDOM:SHARD (reference_shop/two_phase.h)
  int shard = 0;
  int64_t prepared_ms = 0;             // unix ms, the shard's pg_prepared_xacts.prepared
  int64_t last_seen_ms = 0;            // unix ms of the last sample that listed it
  std::optional<int64_t> resolved_ms;  // unix ms of the first later sample of its shard without it
};

struct in_doubt_tracker {
  std::vector<in_doubt_record> records;  // in the order first seen
  int64_t samples = 0, failed_samples = 0;

  // One successful read of `shard` at `t_ms`: the prepared transactions it listed (gid, prepared unix ms).
  void observe(int shard, int64_t t_ms, const std::vector<std::pair<std::string, int64_t>>& prepared);
  // A read of `shard` that failed (the shard frozen or unreachable): nothing is concluded from it.
  void observe_failure(int shard, int64_t t_ms);

 private:
  std::map<std::string, size_t> index_;  // gid -> records index
};

struct in_doubt_shard {
  int shard = 0;
  std::string url;  // postgresql://... of the shard's own server (the topology's database.shards[].url)
};

class in_doubt_sampler {
 public:
  explicit in_doubt_sampler(std::vector<in_doubt_shard> shards,
                            std::chrono::milliseconds interval = std::chrono::milliseconds{250});
  ~in_doubt_sampler();  // stop()
  in_doubt_sampler(const in_doubt_sampler&) = delete;
  in_doubt_sampler& operator=(const in_doubt_sampler&) = delete;

  // Ends the sampling after one closing read of every shard (each read bounded by its session deadlines).
  void stop();
  in_doubt_tracker tracker() const;
  std::chrono::milliseconds interval() const noexcept { return interval_; }

 private:
  void run(size_t index);

  std::vector<in_doubt_shard> shards_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  in_doubt_tracker tracker_;
  std::vector<std::thread> threads_;
};

}  // namespace stampede::drill
