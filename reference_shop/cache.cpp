#include "reference_shop/cache.h"

#include <random>

namespace stampede::shop {

response_cache::response_cache(cache_options options) : options_(std::move(options)) {
  if (options_.shards == 0) options_.shards = 1;
  per_shard_capacity_ = std::max<size_t>(1, options_.capacity / options_.shards);
  for (size_t i = 0; i < options_.shards; ++i) shards_.push_back(std::make_unique<shard>());
}

response_cache::shard& response_cache::shard_for(std::string_view key) {
  return *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

std::chrono::steady_clock::time_point response_cache::now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

std::chrono::steady_clock::time_point response_cache::expiry(bool negative) const {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const auto base = negative ? options_.negative_ttl : options_.ttl;
  const double u = std::uniform_real_distribution<double>{0.0, 1.0}(rng);
  const double factor = 1.0 - options_.jitter * u;
  return now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(base * factor);
}

void response_cache::insert_locked(shard& s, std::string_view key, value body) {
  const bool negative = body == nullptr;
  if (auto it = s.index.find(key); it != s.index.end()) {
    it->second->body = std::move(body);
    it->second->expires = expiry(negative);
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  s.lru.push_front(entry{std::string{key}, std::move(body), expiry(negative)});
  s.index.emplace(s.lru.front().key, s.lru.begin());
  while (s.lru.size() > per_shard_capacity_) {
    s.index.erase(s.lru.back().key);
    s.lru.pop_back();
    ++evictions_;
  }
}

std::optional<response_cache::value> response_cache::get(std::string_view key) {
  shard& s = shard_for(key);
  std::lock_guard lock{s.mutex};
  auto it = s.index.find(key);
  if (it == s.index.end()) return std::nullopt;
  if (it->second->expires <= now()) {
    ++expirations_;
    s.lru.erase(it->second);
    s.index.erase(it);
    return std::nullopt;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return it->second->body;
}

response_cache::value response_cache::get_or_load(std::string_view key, const loader& load) {
  shard& s = shard_for(key);
  std::shared_ptr<flight> f;
  bool leader = false;
  {
    std::lock_guard lock{s.mutex};
    if (auto it = s.index.find(key); it != s.index.end()) {
      if (it->second->expires > now()) {
        s.lru.splice(s.lru.begin(), s.lru, it->second);
        ++(it->second->body ? hits_ : negative_hits_);
        return it->second->body;
      }
      ++expirations_;
      s.lru.erase(it->second);
      s.index.erase(it);
    }
    ++misses_;
    auto [fit, inserted] = s.flights.try_emplace(std::string{key});
    if (inserted) fit->second = std::make_shared<flight>();
    f = fit->second;
    leader = inserted;
  }
  if (!leader) {
    ++coalesced_;
    std::unique_lock lock{f->mutex};
    f->done_cv.wait(lock, [&] { return f->done; });
    if (f->error) std::rethrow_exception(f->error);
    return f->result;
  }
  value result;
  std::exception_ptr error;
  try {
    ++loads_;
    auto loaded = load();
    if (loaded) result = std::make_shared<const std::string>(std::move(*loaded));
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::lock_guard lock{s.mutex};
    // invalidate() detached this flight: newer callers have their own, and our result may predate the write.
    if (!error && !f->invalidated) insert_locked(s, key, result);
    if (auto it = s.flights.find(std::string{key}); it != s.flights.end() && it->second == f) s.flights.erase(it);
  }
  {
    std::lock_guard lock{f->mutex};
    f->done = true;
    f->result = result;
    f->error = error;
  }
  f->done_cv.notify_all();
  if (error) std::rethrow_exception(error);
  return result;
}

void response_cache::put(std::string_view key, std::optional<std::string> body) {
  shard& s = shard_for(key);
  std::lock_guard lock{s.mutex};
  insert_locked(s, key, body ? std::make_shared<const std::string>(std::move(*body)) : nullptr);
}

void response_cache::invalidate(std::string_view key) {
  shard& s = shard_for(key);
  std::lock_guard lock{s.mutex};
  if (auto it = s.index.find(key); it != s.index.end()) {
    s.lru.erase(it->second);
    s.index.erase(it);
  }
  // A load in flight may have read the data before the write: it must not be stored, and callers from
  // now on start a load of their own instead of waiting for it. (Flags are guarded by the shard mutex.)
  if (auto it = s.flights.find(std::string{key}); it != s.flights.end()) {
    it->second->invalidated = true;
    s.flights.erase(it);
  }
}

void response_cache::clear() {
  for (auto& s : shards_) {
    std::lock_guard lock{s->mutex};
    s->index.clear();
    s->lru.clear();
  }
}

cache_stats response_cache::stats() const {
  cache_stats out{hits_, negative_hits_, misses_, loads_, coalesced_, evictions_, expirations_, 0};
  for (const auto& s : shards_) {
    std::lock_guard lock{s->mutex};
    out.entries += s->lru.size();
  }
  return out;
}

void render_cache_metrics(prometheus::text_writer& out, const cache_stats& cs) {
  using prometheus::metric_type;
  out.family("shop_cache_requests_total", metric_type::counter, "Cache lookups by result.");
  out.sample("shop_cache_requests_total", {{"result", "hit"}}, cs.hits);
  out.sample("shop_cache_requests_total", {{"result", "negative_hit"}}, cs.negative_hits);
  out.sample("shop_cache_requests_total", {{"result", "miss"}}, cs.misses);
  out.family("shop_cache_loads_total", metric_type::counter, "Cache fills from the database.");
  out.sample("shop_cache_loads_total", {}, cs.loads);
  out.family("shop_cache_coalesced_total", metric_type::counter,
             "Misses that waited for a load in flight on this node (single-flight).");
  out.sample("shop_cache_coalesced_total", {}, cs.coalesced);
  out.family("shop_cache_evictions_total", metric_type::counter, "Entries evicted by LRU.");
  out.sample("shop_cache_evictions_total", {}, cs.evictions);
  out.family("shop_cache_expirations_total", metric_type::counter, "Entries found expired.");
  out.sample("shop_cache_expirations_total", {}, cs.expirations);
  out.family("shop_cache_entries", metric_type::gauge, "Entries in the node's own cache.");
  out.sample("shop_cache_entries", {}, cs.entries);
}

namespace {

uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

}  // namespace

bloom_filter::bloom_filter(const std::vector<int64_t>& ids, size_t bits_per_id)
    : bits_(std::max<size_t>(1, (ids.size() * bits_per_id + 63) / 64), 0) {
  const uint64_t m = bits_.size() * 64;
  for (int64_t id : ids) {
    const uint64_t h1 = mix64(static_cast<uint64_t>(id)), h2 = mix64(h1) | 1;
    for (int i = 0; i < probes_; ++i) {
      const uint64_t bit = (h1 + static_cast<uint64_t>(i) * h2) % m;
      bits_[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }
}

bool bloom_filter::may_contain(int64_t id) const noexcept {
  const uint64_t m = bits_.size() * 64;
  const uint64_t h1 = mix64(static_cast<uint64_t>(id)), h2 = mix64(h1) | 1;
  for (int i = 0; i < probes_; ++i) {
    const uint64_t bit = (h1 + static_cast<uint64_t>(i) * h2) % m;
    if ((bits_[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
  }
  return true;
}

}  // namespace stampede::shop
