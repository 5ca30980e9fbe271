// The node's cache protections (TTL + jitter, LRU, negative caching, single-flight), the Bloom filter
// and the token-bucket rate limiter, with an injected clock where time matters.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "reference_shop/cache.h"
#include "reference_shop/rate_limiter.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;

struct fake_clock {
  std::chrono::steady_clock::time_point now{};
};

cache_options options_with(fake_clock& clock, size_t capacity = 100) {
  cache_options o;
  o.capacity = capacity;
  o.shards = 1;
  o.ttl = 1000ms;
  o.jitter = 0.2;
  o.negative_ttl = 100ms;
  o.clock = [&clock] { return clock.now; };
  return o;
}

TEST(cache, hit_after_load_and_ttl_with_jitter) {
  fake_clock clock;
  response_cache cache{options_with(clock)};
  int loads = 0;
  auto loader = [&]() -> std::optional<std::string> { return "v" + std::to_string(++loads); };
  EXPECT_EQ(*cache.get_or_load("k", loader), "v1");
  EXPECT_EQ(*cache.get_or_load("k", loader), "v1");
  clock.now += 799ms;  // jitter shortens the TTL by at most 20%
  EXPECT_EQ(*cache.get_or_load("k", loader), "v1");
  clock.now += 202ms;  // past the full TTL: expired whatever the jitter
  EXPECT_EQ(*cache.get_or_load("k", loader), "v2");
  auto s = cache.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.loads, 2u);
  EXPECT_EQ(s.expirations, 1u);
}

TEST(cache, jitter_spreads_expiry_against_avalanche) {
  fake_clock clock;
  response_cache cache{options_with(clock, 1000)};
  for (int i = 0; i < 200; ++i) cache.put("k" + std::to_string(i), "v");
  clock.now += 900ms;  // between 0.8 x TTL and TTL: some expired, some not
  int expired = 0;
  for (int i = 0; i < 200; ++i) expired += cache.get("k" + std::to_string(i)).has_value() ? 0 : 1;
  EXPECT_GT(expired, 20);
  EXPECT_LT(expired, 180);
}

TEST(cache, negative_entries_have_their_own_short_ttl) {
  fake_clock clock;
  response_cache cache{options_with(clock)};
  int loads = 0;
  auto missing = [&]() -> std::optional<std::string> {
    ++loads;
    return std::nullopt;
  };
  EXPECT_EQ(cache.get_or_load("nope", missing), nullptr);
  EXPECT_EQ(cache.get_or_load("nope", missing), nullptr);
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache.stats().negative_hits, 1u);
  clock.now += 101ms;
  EXPECT_EQ(cache.get_or_load("nope", missing), nullptr);
  EXPECT_EQ(loads, 2);
}

TEST(cache, lru_evicts_least_recently_used) {
  fake_clock clock;
  response_cache cache{options_with(clock, 2)};
  cache.put("a", "1");
  cache.put("b", "2");
  ASSERT_TRUE(cache.get("a").has_value());  // a is now most recent
  cache.put("c", "3");
  EXPECT_TRUE(cache.get("a").has_value());
  EXPECT_FALSE(cache.get("b").has_value());
  EXPECT_EQ(cache.stats().evictions, 1u);
  cache.invalidate("a");
  EXPECT_FALSE(cache.get("a").has_value());
}

TEST(cache, single_flight_coalesces_concurrent_misses) {
  response_cache cache{cache_options{}};
  constexpr int callers = 8;
  std::atomic<int> loads{0};
  auto slow = [&]() -> std::optional<std::string> {
    ++loads;
    // Hold the load until every other caller is waiting on it (bounded).
    testing::eventually([&] { return cache.stats().coalesced == callers - 1; }, 5s);
    return "value";
  };
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&] {
      if (auto v = cache.get_or_load("hot", slow); v && *v == "value") ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(ok.load(), callers);
  EXPECT_EQ(cache.stats().coalesced, static_cast<uint64_t>(callers - 1));
}

TEST(cache, loader_errors_reach_caller_and_are_not_cached) {
  response_cache cache{cache_options{}};
  EXPECT_THROW(cache.get_or_load("k", []() -> std::optional<std::string> { throw std::runtime_error("db down"); }),
               std::runtime_error);
  EXPECT_EQ(*cache.get_or_load("k", []() -> std::optional<std::string> { return "ok"; }), "ok");
}

TEST(bloom, no_false_negatives_and_few_false_positives) {
  std::vector<int64_t> ids;
  for (int64_t i = 1; i <= 10'000; ++i) ids.push_back(i);
  bloom_filter filter{ids};
  for (int64_t id : ids) ASSERT_TRUE(filter.may_contain(id));
  int false_positives = 0;
  for (int64_t id = 1'000'000; id < 1'010'000; ++id) false_positives += filter.may_contain(id) ? 1 : 0;
  EXPECT_LT(false_positives, 300);  // ~1% expected at 10 bits per id
}

TEST(rate_limit, token_bucket_refuses_then_refills) {
  auto spec = parse_bucket_spec("2:3");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->rate, 2);
  EXPECT_EQ(spec->burst, 3);
  EXPECT_FALSE(parse_bucket_spec("abc"));
  EXPECT_FALSE(parse_bucket_spec("-1"));
  EXPECT_FALSE(parse_bucket_spec("5:0"));
  rate_limiter limiter{*spec, bucket_spec{}};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.try_acquire("a", 100.0).allowed);
  auto refused = limiter.try_acquire("a", 100.0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_GE(refused.retry_after_seconds, 1);
  EXPECT_TRUE(limiter.try_acquire("b", 100.0).allowed);  // per client
  EXPECT_TRUE(limiter.try_acquire("a", 100.6).allowed);  // refilled 1.2 tokens
  EXPECT_FALSE(limiter.try_acquire("a", 100.6).allowed);
}

TEST(rate_limit, global_bucket_applies_to_everyone) {
  rate_limiter limiter{bucket_spec{}, bucket_spec{1, 2}};
  EXPECT_TRUE(limiter.try_acquire("a", 0).allowed);
  EXPECT_TRUE(limiter.try_acquire("b", 0).allowed);
  auto d = limiter.try_acquire("c", 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.global);
  EXPECT_FALSE(rate_limiter(bucket_spec{}, bucket_spec{}).enabled());
}

}  // namespace
}  // namespace stampede::shop
