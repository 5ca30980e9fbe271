// The cache tier shared by all nodes (`stampede shop --cache redis`): rendered bodies in Redis, with the
// local cache's protections and what sharing needs on top.
//
// Entries. Each Redis value carries its own soft expiry (Unix ms): fresh until then, stale after, gone at
// the hard expiry (Redis PX = soft TTL + stale_for). TTLs get jitter (avalanche); "not found" is cached
// with the shorter negative TTL (penetration; the node's Bloom filter runs before the cache).
//
// Cross-node single-flight (stampede). A rebuild needs the key's lock, `SET lock token NX PX lock_ttl`:
// - a stale entry: the lock holder rebuilds, everyone else is answered the stale value at once;
// - no entry: the others wait, polling every few ms, at most lock_wait; then they load from the
//   database themselves (admitted, below) without storing. So a key is rebuilt once per cluster, and a
//   slow rebuild costs the others at most lock_wait.
// The store is conditional on still holding the lock (one Lua script), and invalidate() deletes the lock
// with the value: a rebuild that read the database before a write can never store its stale result.
// Within a node, concurrent callers of one key share one resolution (local single-flight), so one node
// sends Redis one request per key at a time.
// Why a lock and not probabilistic early refresh (XFetch): early refresh only spreads the refreshes of
// keys that are still cached; after Redis is lost and comes back empty, every key is cold at once, and
// only a lock keeps N nodes from loading the same key N times.
//
// Redis down or slow. Every Redis call is bounded (redis_client.h: connect and command timeouts, a
// circuit with backoff that skips Redis until it answers again). Without Redis a node serves from a small
// local copy (the last values it saw, fresh within their TTL), and loads misses from the database with
// admission control: at most max_db_loads loads at once per node. A request beyond that is answered the
// local copy's stale value if there is one, or refused with cache_overloaded (the node answers 503 with
// Retry-After: 1). Why both: the stale copy keeps hot pages (the flash-sale product) up during the loss,
// and a fast 503 for a cold key costs the database nothing, where queueing it would hold a server thread
// and pile up behind the database. Invalidations that fail are kept (bounded) and sent when Redis
// answers again, before anything is read from it.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "reference_shop/cache.h"
#include "reference_shop/redis_client.h"

namespace stampede::shop {

// No Redis answer and no room for another database load on this node: answer 503 + Retry-After.
class cache_overloaded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct redis_cache_options {
  redis::client_options redis;
  std::chrono::milliseconds ttl{30'000};
  double jitter = 0.2;  // each TTL is ttl * (1 - jitter * U[0,1))
  std::chrono::milliseconds negative_ttl{5'000};
  std::chrono::milliseconds stale_for{30'000};  // how long past its TTL an entry may still be served stale
  std::chrono::milliseconds lock_ttl{2'000};    // a rebuild lock left by a dead node frees itself after this
  std::chrono::milliseconds lock_wait{250};     // a caller with nothing to serve waits at most this
  int max_db_loads = 4;                          // database loads by the cache at once on this node
  size_t local_capacity = 10'000;                // entries of the local copy
  size_t pending_invalidations = 10'000;         // failed invalidations kept for Redis's return
  std::string prefix = "stampede:";              // key namespace (one shop per Redis, or one test)
  std::function<int64_t()> clock;                // Unix ms; injectable for tests
};

// Counters beyond cache_stats (for tests and /metrics).
struct redis_cache_stats {
  cache_stats base;
  uint64_t stale_served = 0;          // answered a stale value (another caller was rebuilding, or fallback)
  uint64_t lock_waits = 0;            // callers that waited for another node's rebuild
  uint64_t lock_wait_timeouts = 0;    // ... and gave up after lock_wait
  uint64_t fallback_redis_down = 0;   // requests answered without Redis: circuit open
  uint64_t fallback_redis_error = 0;  // ... a Redis call failed just now
  uint64_t fallback_lock_wait = 0;    // ... the rebuilder was too slow
  uint64_t local_hits = 0;            // fallbacks answered from the local copy, fresh
  uint64_t shed = 0;                  // refused with cache_overloaded
  uint64_t stores_voided = 0;         // rebuilds not stored: the lock was lost (invalidated or expired)
  uint64_t invalidations_pending = 0;  // failed invalidations waiting for Redis
  uint64_t invalidations_dropped = 0;  // ... lost because the pending set was full
  int64_t loads_in_flight = 0;         // database loads by the cache running now on this node
  int64_t loads_in_flight_max = 0;     // the most at once so far
  int64_t key_loads_max = 0;           // the most loads of one key at once on this node
  int64_t key_rebuilds_max_cluster = 0;  // the most rebuilds of one key at once over all nodes (counted in Redis)
  redis::client_stats redis;
};

class redis_cache final : public read_cache {
 public:
  explicit redis_cache(redis_cache_options options);
  ~redis_cache() override;

  value get_or_load(std::string_view key, const loader& load) override;
  std::optional<value> get(std::string_view key) override;
  void put(std::string_view key, std::optional<std::string> body) override;
  void invalidate(std::string_view key) override;
  void start_generation(int64_t generation) override;
  cache_stats stats() const override { return full_stats().base; }
  redis_cache_stats full_stats() const;
  void render_metrics(prometheus::text_writer& out) const override;

 private:
  struct entry {
    value body;        // nullptr = "not found"
    int64_t soft = 0;  // fresh until (Unix ms)
    int64_t hard = 0;  // served stale until
  };
  struct flight {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    bool invalidated = false;  // guarded by flights_mutex_
    value result;
    std::exception_ptr error;
  };
  enum class fallback_reason { redis_down, redis_error, lock_wait };

  value resolve(const std::string& key, const loader& load, const flight& f);
  value wait_for_rebuild(const std::string& key, const loader& load, const flight& f);
  value rebuild(const std::string& key, const loader& load, const std::string& token,
                const std::optional<entry>& stale, const flight& f);
  value fallback(const std::string& key, const loader& load, fallback_reason reason, const flight& f);
  value load_admitted(const std::string& key, const loader& load);
  void flush_invalidations();

  entry make_entry(value body) const;
  std::string encode(const entry& e) const;
  std::optional<entry> decode(const redis::reply& r) const;
  std::string redis_key(std::string_view key) const;
  int64_t now_ms() const;

  std::optional<entry> local_get(const std::string& key);
  void local_put(const std::string& key, const entry& e);
  void local_erase(const std::string& key);

  redis_cache_options options_;
  redis::client client_;
  std::atomic<int64_t> generation_{0};

  std::mutex flights_mutex_;
  std::unordered_map<std::string, std::shared_ptr<flight>> flights_;

  mutable std::mutex local_mutex_;  // the local copy: LRU of the last values seen
  std::list<std::pair<std::string, entry>> local_lru_;
  std::unordered_map<std::string_view, std::list<std::pair<std::string, entry>>::iterator> local_index_;

  mutable std::mutex pending_mutex_;
  std::set<std::string> pending_;  // Redis keys whose DEL failed

  std::mutex loads_mutex_;
  std::unordered_map<std::string, int64_t> loading_;  // key -> loads running now

  std::atomic<int64_t> loads_in_flight_{0}, loads_in_flight_max_{0}, key_loads_max_{0}, cluster_max_{0};
  mutable std::atomic<uint64_t> hits_{0}, negative_hits_{0}, misses_{0}, loads_{0}, coalesced_{0},
      expirations_{0}, stale_served_{0}, lock_waits_{0}, lock_wait_timeouts_{0}, fallback_down_{0},
      fallback_error_{0}, fallback_lock_{0}, local_hits_{0}, shed_{0}, stores_voided_{0}, dropped_{0};
};

}  // namespace stampede::shop
