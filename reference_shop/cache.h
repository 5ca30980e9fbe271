// The shop node's read cache and its protections against the classic failure modes:
// - avalanche: every TTL gets random jitter, so entries filled together do not expire together;
// - stampede / breakdown: single-flight loading, concurrent misses of one key wait for one load;
// - penetration: "not found" is cached too (negative entries with a shorter TTL), and the Bloom filter
//   (bloom_filter below) turns away ids that cannot exist before the cache or the database is asked.
// Values are rendered response bodies (strings), so a hit costs one lookup and no serialisation.
// read_cache is what a node uses; response_cache (below) is the in-process one (`--cache local`),
// redis_cache (redis_cache.h) the one shared by all nodes through Redis (`--cache redis`).
// Thread-safety: all methods are thread-safe (sharded LRU, one mutex per shard).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/prometheus_text.h"

namespace stampede::shop {

struct cache_options {
  size_t capacity = 100'000;                    // entries, over all shards
  std::chrono::milliseconds ttl{30'000};
  double jitter = 0.2;                          // each TTL is ttl * (1 - jitter * U[0,1))
  std::chrono::milliseconds negative_ttl{5'000};
  size_t shards = 16;
  // Injectable clock for tests.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

struct cache_stats {
  uint64_t hits = 0;
  uint64_t negative_hits = 0;
  uint64_t misses = 0;
  uint64_t loads = 0;       // loader calls
  uint64_t coalesced = 0;   // misses that waited for another caller's load (single-flight)
  uint64_t evictions = 0;   // LRU
  uint64_t expirations = 0;
  uint64_t entries = 0;
};

// The cache a node reads through. Keys are the node's own ("p:42", "categories"); values are rendered
// bodies, nullptr for a cached "not found".
class read_cache {
 public:
  using value = std::shared_ptr<const std::string>;  // nullptr = cached "not found"
  using loader = std::function<std::optional<std::string>()>;
  virtual ~read_cache() = default;

  // The cached value for `key`, or the loader's result (cached, nullopt as a negative entry).
  // A loader exception reaches every caller waiting on that load and nothing is cached.
  // Concurrent misses of one key run the loader once (single-flight).
  virtual value get_or_load(std::string_view key, const loader& load) = 0;
  // Peek without loading (nullopt = not cached, or expired).
  virtual std::optional<value> get(std::string_view key) = 0;
  virtual void put(std::string_view key, std::optional<std::string> body) = 0;
  // After a write that changed what `key` shows: a read that starts after invalidate() returns never
  // sees a value loaded before it (a load in flight is not stored, and later callers do not join it).
  virtual void invalidate(std::string_view key) = 0;
  // Everything cached comes from an older data set: forget it. `generation` names the new one.
  virtual void start_generation(int64_t generation) = 0;
  virtual cache_stats stats() const = 0;
  // The shop_cache_* families for /metrics.
  virtual void render_metrics(prometheus::text_writer& out) const = 0;
};

// Writes the families every cache has (requests by result, loads, coalesced, evictions, expirations,
// entries) from `s`.
void render_cache_metrics(prometheus::text_writer& out, const cache_stats& s);

class response_cache final : public read_cache {
 public:
  explicit response_cache(cache_options options = {});

  value get_or_load(std::string_view key, const loader& load) override;
  std::optional<value> get(std::string_view key) override;
  void put(std::string_view key, std::optional<std::string> body) override;
  void invalidate(std::string_view key) override;
  void start_generation(int64_t) override { clear(); }
  void clear();
  cache_stats stats() const override;
  void render_metrics(prometheus::text_writer& out) const override { render_cache_metrics(out, stats()); }

 private:
  struct entry {
    std::string key;
    value body;
    std::chrono::steady_clock::time_point expires;
  };
  struct flight {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    bool invalidated = false;  // invalidate() ran during the load: its result is not stored
    value result;
    std::exception_ptr error;
  };
  struct shard {
    std::mutex mutex;
    std::list<entry> lru;  // front = most recent
    std::unordered_map<std::string_view, std::list<entry>::iterator> index;
    std::unordered_map<std::string, std::shared_ptr<flight>> flights;
  };
  shard& shard_for(std::string_view key);
  std::chrono::steady_clock::time_point now() const;
  std::chrono::steady_clock::time_point expiry(bool negative) const;
  void insert_locked(shard& s, std::string_view key, value body);

  cache_options options_;
  size_t per_shard_capacity_;
  std::vector<std::unique_ptr<shard>> shards_;
  mutable std::atomic<uint64_t> hits_{0}, negative_hits_{0}, misses_{0}, loads_{0}, coalesced_{0},
      evictions_{0}, expirations_{0};
};

// Immutable Bloom filter over 64-bit ids (~1% false positives at 10 bits per id, 7 probes).
// Thread-safety: const methods are thread-safe.
class bloom_filter {
 public:
  explicit bloom_filter(const std::vector<int64_t>& ids, size_t bits_per_id = 10);
  bool may_contain(int64_t id) const noexcept;
  size_t bits() const noexcept { return bits_.size() * 64; }

 private:
  std::vector<uint64_t> bits_;
  static constexpr int probes_ = 7;
};

}  // namespace stampede::shop
