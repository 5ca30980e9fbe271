#include "reference_shop/redis_cache.h"

#include <charconv>
#include <concepts>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

namespace stampede::shop {

namespace {

using steady = std::chrono::steady_clock;

// KEYS: lock, rebuild counter. ARGV: token, lock TTL (ms). Returns 0 when another caller holds the lock,
// else how many rebuilds of the key are running now over all nodes, this one included.
constexpr std::string_view acquire_script = R"(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local n = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return n
end
return 0)";

// KEYS: value, lock, rebuild counter. ARGV: token, encoded entry, PX. Stores only while the lock is still
// ours: invalidate() deletes it, so a rebuild that read the database before a write stores nothing.
constexpr std::string_view store_script = R"(
local stored = 0
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  stored = 1
end
if redis.call('DECR', KEYS[3]) <= 0 then redis.call('DEL', KEYS[3]) end
return stored)";

// KEYS: lock, rebuild counter. ARGV: token. A rebuild that failed gives its lock back.
constexpr std::string_view release_script = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('DECR', KEYS[2]) <= 0 then redis.call('DEL', KEYS[2]) end
return 1)";

std::string new_token() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return text;
}

void raise_max(std::atomic<int64_t>& max, int64_t value) {
  int64_t seen = max.load();
  while (value > seen && !max.compare_exchange_weak(seen, value)) {
  }
}

}  // namespace

redis_cache::redis_cache(redis_cache_options options)
    : options_(std::move(options)), client_(options_.redis) {}

redis_cache::~redis_cache() = default;

int64_t redis_cache::now_ms() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string redis_cache::redis_key(std::string_view key) const {
  return options_.prefix + "g" + std::to_string(generation_.load()) + ":" + std::string(key);
}

redis_cache::entry redis_cache::make_entry(value body) const {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const auto base = body ? options_.ttl : options_.negative_ttl;
  const double u = std::uniform_real_distribution<double>{0.0, 1.0}(rng);
  const auto ttl = static_cast<int64_t>(static_cast<double>(base.count()) * (1.0 - options_.jitter * u));
  const int64_t now = now_ms();
  return entry{std::move(body), now + std::max<int64_t>(1, ttl), now + std::max<int64_t>(1, ttl) + options_.stale_for.count()};
}

// "P<soft expiry>|<body>" or "N<soft expiry>|".
std::string redis_cache::encode(const entry& e) const {
  std::string out = (e.body ? "P" : "N") + std::to_string(e.soft) + "|";
  if (e.body) out += *e.body;
  return out;
}

std::optional<redis_cache::entry> redis_cache::decode(const redis::reply& r) const {
  if (r.kind != redis::reply::type::string || r.text.size() < 3) return std::nullopt;
  const std::string& t = r.text;
  const size_t bar = t.find('|', 1);
  if ((t[0] != 'P' && t[0] != 'N') || bar == std::string::npos) return std::nullopt;  // not ours: a miss
  entry e;
  const auto [end, ec] = std::from_chars(t.data() + 1, t.data() + bar, e.soft);
  if (ec != std::errc{} || end != t.data() + bar) return std::nullopt;
  if (t[0] == 'P') e.body = std::make_shared<const std::string>(t.substr(bar + 1));
  e.hard = e.soft + options_.stale_for.count();
  return e;
}

// ---- the local copy ----

std::optional<redis_cache::entry> redis_cache::local_get(const std::string& key) {
  std::lock_guard lock{local_mutex_};
  auto it = local_index_.find(key);
  if (it == local_index_.end()) return std::nullopt;
  local_lru_.splice(local_lru_.begin(), local_lru_, it->second);
  return it->second->second;
}

void redis_cache::local_put(const std::string& key, const entry& e) {
  std::lock_guard lock{local_mutex_};
  if (auto it = local_index_.find(key); it != local_index_.end()) {
    it->second->second = e;
    local_lru_.splice(local_lru_.begin(), local_lru_, it->second);
    return;
  }
  local_lru_.emplace_front(key, e);
  local_index_.emplace(local_lru_.front().first, local_lru_.begin());
  while (local_lru_.size() > std::max<size_t>(1, options_.local_capacity)) {
    local_index_.erase(local_lru_.back().first);
    local_lru_.pop_back();
  }
}

void redis_cache::local_erase(const std::string& key) {
  std::lock_guard lock{local_mutex_};
  if (auto it = local_index_.find(key); it != local_index_.end()) {
    local_lru_.erase(it->second);
    local_index_.erase(it);
  }
}

// ---- reads ----

read_cache::value redis_cache::get_or_load(std::string_view key_view, const loader& load) {
  const std::string key{key_view};
  std::shared_ptr<flight> f;
  bool leader = false;
  {
    std::lock_guard lock{flights_mutex_};
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) it->second = std::make_shared<flight>();
    f = it->second;
    leader = inserted;
  }
  auto rethrow = [this](const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const cache_overloaded&) {
      ++shed_;
      throw;
    }
  };
  if (!leader) {
    ++coalesced_;
    std::unique_lock lock{f->mutex};
    f->done_cv.wait(lock, [&] { return f->done; });  // the leader's work is bounded (timeouts, lock_wait)
    if (f->error) rethrow(f->error);
    return f->result;
  }
  value result;
  std::exception_ptr error;
  try {
    result = resolve(key, load, *f);
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::lock_guard lock{flights_mutex_};
    if (auto it = flights_.find(key); it != flights_.end() && it->second == f) flights_.erase(it);
  }
  {
    std::lock_guard lock{f->mutex};
    f->done = true;
    f->result = result;
    f->error = error;
  }
  f->done_cv.notify_all();
  if (error) rethrow(error);
  return result;
}

read_cache::value redis_cache::resolve(const std::string& key, const loader& load, const flight& f) {
  if (!client_.available()) return fallback(key, load, fallback_reason::redis_down, f);
  const std::string rk = redis_key(key), lock = rk + "#lock", counter = rk + "#rebuilding";
  auto try_lock = [&](const std::string& token) {
    const auto r = client_.command({"EVAL", acquire_script, "2", lock, counter, token,
                                    std::to_string(options_.lock_ttl.count())});
    if (r.integer > 0) raise_max(cluster_max_, r.integer);
    return r.integer > 0;
  };
  try {
    flush_invalidations();
    const auto found = decode(client_.command({"GET", rk}));
    if (found) {
      {
        std::lock_guard guard{flights_mutex_};
        if (!f.invalidated) local_put(key, *found);
      }
      if (now_ms() < found->soft) {
        ++(found->body ? hits_ : negative_hits_);
        return found->body;
      }
      ++expirations_;
      // Stale: one caller over all nodes rebuilds; everyone else is answered the stale value now.
      if (const std::string token = new_token(); try_lock(token)) return rebuild(key, load, token, found, f);
      ++stale_served_;
      return found->body;
    }
    ++misses_;
    if (const std::string token = new_token(); try_lock(token)) return rebuild(key, load, token, std::nullopt, f);
    return wait_for_rebuild(key, load, f);
  } catch (const redis::error& e) {
    return fallback(key, load,
                    e.kind() == redis::error_kind::down ? fallback_reason::redis_down : fallback_reason::redis_error,
                    f);
  }
}

// Another caller (on any node) holds the lock of a key that has no value: poll for its result, at most
// lock_wait; take over if the lock disappears without a value (its holder failed or was invalidated).
read_cache::value redis_cache::wait_for_rebuild(const std::string& key, const loader& load, const flight& f) {
  ++lock_waits_;
  const std::string rk = redis_key(key), lock = rk + "#lock", counter = rk + "#rebuilding";
  const auto deadline = steady::now() + options_.lock_wait;
  auto interval = std::chrono::milliseconds{2};
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) break;
    std::this_thread::sleep_for(std::min(interval, left));  // polling: Redis has no cheap "wait for key"
    interval = std::min(interval * 2, std::chrono::milliseconds{20});
    const auto r = client_.command({"MGET", rk, lock});
    if (r.elements.size() != 2) throw redis::error(redis::error_kind::protocol, "redis MGET: unexpected reply");
    if (const auto found = decode(r.elements[0])) {
      std::lock_guard guard{flights_mutex_};
      if (!f.invalidated) local_put(key, *found);
      return found->body;
    }
    if (r.elements[1].nil()) {
      const std::string token = new_token();
      const auto got = client_.command({"EVAL", acquire_script, "2", lock, counter, token,
                                        std::to_string(options_.lock_ttl.count())});
      if (got.integer > 0) {
        raise_max(cluster_max_, got.integer);
        return rebuild(key, load, token, std::nullopt, f);
      }
    }
  }
  ++lock_wait_timeouts_;
  return fallback(key, load, fallback_reason::lock_wait, f);
}

// We hold the lock: load (admitted), store if the lock is still ours, give the lock back.
read_cache::value redis_cache::rebuild(const std::string& key, const loader& load, const std::string& token,
                                       const std::optional<entry>& stale, const flight& f) {
  const std::string rk = redis_key(key), lock = rk + "#lock", counter = rk + "#rebuilding";
  value body;
  try {
    body = load_admitted(key, load);
  } catch (...) {
    try {
      client_.command({"EVAL", release_script, "2", lock, counter, token});
    } catch (const redis::error&) {
      // The lock expires by itself after lock_ttl.
    }
    if (stale) {  // no room or a database error: the stale value beats an error
      ++stale_served_;
      return stale->body;
    }
    throw;
  }
  const entry e = make_entry(body);
  try {
    const auto r = client_.command({"EVAL", store_script, "3", rk, lock, counter, token, encode(e),
                                    std::to_string(std::max<int64_t>(1, e.hard - now_ms()))});
    if (r.integer == 0) ++stores_voided_;
  } catch (const redis::error&) {
    // The answer stands; the next caller rebuilds (the lock expires after lock_ttl).
  }
  std::lock_guard guard{flights_mutex_};
  if (!f.invalidated) local_put(key, e);
  return body;
}

// Without Redis (or without its rebuilder): the local copy if fresh, else an admitted database load,
// else the local copy even if stale, else cache_overloaded.
read_cache::value redis_cache::fallback(const std::string& key, const loader& load, fallback_reason reason,
                                        const flight& f) {
  ++(reason == fallback_reason::redis_down    ? fallback_down_
     : reason == fallback_reason::redis_error ? fallback_error_
                                              : fallback_lock_);
  const auto copy = local_get(key);
  const int64_t now = now_ms();
  if (copy && now < copy->soft) {
    ++local_hits_;
    return copy->body;
  }
  try {
    value body = load_admitted(key, load);
    std::lock_guard guard{flights_mutex_};
    if (!f.invalidated) local_put(key, make_entry(body));
    return body;
  } catch (...) {
    if (copy && now < copy->hard) {
      ++stale_served_;
      return copy->body;
    }
    throw;
  }
}

// One database load by the cache, if this node runs fewer than max_db_loads now.
read_cache::value redis_cache::load_admitted(const std::string& key, const loader& load) {
  if (++loads_in_flight_ > options_.max_db_loads) {
    --loads_in_flight_;
    throw cache_overloaded("too many cache loads in progress on this node, retry");
  }
  struct release {
    redis_cache& cache;
    const std::string& key;
    ~release() {
      --cache.loads_in_flight_;
      std::lock_guard lock{cache.loads_mutex_};
      if (auto it = cache.loading_.find(key); it != cache.loading_.end() && --it->second == 0) cache.loading_.erase(it);
    }
  };
  raise_max(loads_in_flight_max_, loads_in_flight_.load());
  {
    std::lock_guard lock{loads_mutex_};
    raise_max(key_loads_max_, ++loading_[key]);
  }
  release guard{*this, key};
  ++loads_;
  auto loaded = load();
  return loaded ? std::make_shared<const std::string>(std::move(*loaded)) : nullptr;
}

// Sends the invalidations that failed while Redis was away; throws redis::error if it still fails.
void redis_cache::flush_invalidations() {
  while (true) {
    std::vector<std::string> keys;
    {
      std::lock_guard lock{pending_mutex_};
      while (!pending_.empty() && keys.size() < 64) keys.push_back(pending_.extract(pending_.begin()).value());
    }
    if (keys.empty()) return;
    std::vector<std::string> names;
    for (const auto& k : keys) {
      names.push_back(k);
      names.push_back(k + "#lock");
    }
    std::vector<std::string_view> args{"DEL"};
    for (const auto& n : names) args.push_back(n);
    try {
      client_.command(args);
    } catch (const redis::error&) {
      std::lock_guard lock{pending_mutex_};
      for (auto& k : keys) pending_.insert(std::move(k));
      throw;
    }
  }
}

std::optional<read_cache::value> redis_cache::get(std::string_view key_view) {
  const std::string key{key_view};
  try {
    flush_invalidations();
    const auto found = decode(client_.command({"GET", redis_key(key)}));
    if (!found) return std::nullopt;
    if (now_ms() < found->soft) return found->body;
    ++expirations_;
    return std::nullopt;
  } catch (const redis::error&) {
    const auto copy = local_get(key);
    if (copy && now_ms() < copy->soft) return copy->body;
    return std::nullopt;
  }
}

void redis_cache::put(std::string_view key_view, std::optional<std::string> body) {
  const std::string key{key_view};
  const entry e = make_entry(body ? std::make_shared<const std::string>(std::move(*body)) : nullptr);
  local_put(key, e);
  try {
    client_.command({"SET", redis_key(key), encode(e), "PX", std::to_string(std::max<int64_t>(1, e.hard - now_ms()))});
  } catch (const redis::error&) {
    // A cache write that did not happen: the next reader loads.
  }
}

void redis_cache::invalidate(std::string_view key_view) {
  const std::string key{key_view};
  {
    std::lock_guard lock{flights_mutex_};
    if (auto it = flights_.find(key); it != flights_.end()) {
      it->second->invalidated = true;
      flights_.erase(it);
    }
  }
  local_erase(key);
  const std::string rk = redis_key(key);
  try {
    client_.command({"DEL", rk, rk + "#lock"});
    return;
  } catch (const redis::error&) {
  }
  std::lock_guard lock{pending_mutex_};
  if (pending_.size() >= options_.pending_invalidations) {
    ++dropped_;  // staleness then bounded by the TTL
    return;
  }
  pending_.insert(rk);
}

void redis_cache::start_generation(int64_t generation) {
  generation_ = generation;  // keys of the old generation expire by themselves
  {
    std::lock_guard lock{local_mutex_};
    local_index_.clear();
    local_lru_.clear();
  }
  std::lock_guard lock{pending_mutex_};
  pending_.clear();
}

redis_cache_stats redis_cache::full_stats() const {
  redis_cache_stats s;
  s.base = cache_stats{hits_, negative_hits_, misses_, loads_, coalesced_, 0, expirations_, 0};
  {
    std::lock_guard lock{local_mutex_};
    s.base.entries = local_lru_.size();
  }
  s.stale_served = stale_served_;
  s.lock_waits = lock_waits_;
  s.lock_wait_timeouts = lock_wait_timeouts_;
  s.fallback_redis_down = fallback_down_;
  s.fallback_redis_error = fallback_error_;
  s.fallback_lock_wait = fallback_lock_;
  s.local_hits = local_hits_;
  s.shed = shed_;
  s.stores_voided = stores_voided_;
  {
    std::lock_guard lock{pending_mutex_};
    s.invalidations_pending = pending_.size();
  }
  s.invalidations_dropped = dropped_;
  s.loads_in_flight = loads_in_flight_;
  s.loads_in_flight_max = loads_in_flight_max_;
  s.key_loads_max = key_loads_max_;
  s.key_rebuilds_max_cluster = cluster_max_;
  s.redis = client_.stats();
  return s;
}

void redis_cache::render_metrics(prometheus::text_writer& out) const {
  using prometheus::metric_type;
  const auto s = full_stats();
  render_cache_metrics(out, s.base);
  auto counter = [&](std::string_view name, std::string_view help, std::integral auto v) {
    out.family(name, metric_type::counter, help);
    out.sample(name, {}, v);
  };
  auto gauge = [&](std::string_view name, std::string_view help, std::integral auto v) {
    out.family(name, metric_type::gauge, help);
    out.sample(name, {}, v);
  };
  counter("shop_cache_stale_served_total", "Answers with a stale value (a rebuild elsewhere, or no Redis).",
          s.stale_served);
  counter("shop_cache_lock_waits_total", "Misses that waited for another caller's rebuild (cross-node single-flight).",
          s.lock_waits);
  counter("shop_cache_lock_wait_timeouts_total", "Lock waits that gave up after the bound and loaded themselves.",
          s.lock_wait_timeouts);
  out.family("shop_cache_fallbacks_total", metric_type::counter, "Lookups answered without Redis, by reason.");
  out.sample("shop_cache_fallbacks_total", {{"reason", "redis_down"}}, s.fallback_redis_down);
  out.sample("shop_cache_fallbacks_total", {{"reason", "redis_error"}}, s.fallback_redis_error);
  out.sample("shop_cache_fallbacks_total", {{"reason", "lock_wait"}}, s.fallback_lock_wait);
  counter("shop_cache_fallback_local_hits_total", "Fallbacks answered from the node's local copy, fresh.", s.local_hits);
  counter("shop_cache_shed_total", "Lookups refused with 503: no Redis answer and no room for a database load.", s.shed);
  counter("shop_cache_stores_voided_total", "Rebuilds not stored: the lock was lost (invalidated or expired).",
          s.stores_voided);
  gauge("shop_cache_invalidations_pending", "Invalidations waiting for Redis to answer again.",
        s.invalidations_pending);
  counter("shop_cache_invalidations_dropped_total", "Invalidations lost: the pending set was full.",
          s.invalidations_dropped);
  gauge("shop_cache_rebuilds_in_flight", "Database loads by the cache running now on this node.", s.loads_in_flight);
  gauge("shop_cache_rebuilds_in_flight_max", "The most database loads by the cache at once on this node.",
        s.loads_in_flight_max);
  out.family("shop_cache_key_rebuilds_max", metric_type::gauge,
             "The most rebuilds of one key at once: on this node, and over all nodes as counted in Redis.");
  out.sample("shop_cache_key_rebuilds_max", {{"scope", "node"}}, s.key_loads_max);
  out.sample("shop_cache_key_rebuilds_max", {{"scope", "cluster"}}, s.key_rebuilds_max_cluster);
  gauge("shop_cache_redis_up", "1 while this node's Redis circuit is closed.", s.redis.up ? 1 : 0);
  out.family("shop_cache_redis_errors_total", metric_type::counter, "Redis call failures by kind.");
  for (size_t i = 0; i < redis::counted_error_kinds.size(); ++i) {
    out.sample("shop_cache_redis_errors_total", {{"kind", redis::to_string(redis::counted_error_kinds[i])}},
               s.redis.errors[i]);
  }
  counter("shop_cache_redis_skipped_total", "Redis calls not made: the circuit was open (backing off).", s.redis.skipped);
  counter("shop_cache_redis_reconnects_total", "Times Redis answered again after a failure.", s.redis.reconnects);
  counter("shop_cache_redis_connections_total", "Redis connections opened.", s.redis.connections);
}

}  // namespace stampede::shop
