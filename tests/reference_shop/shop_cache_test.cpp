// The local cache's own LRU, the Bloom filter and the token-bucket rate limiter, with an injected clock
// where time matters. What every cache promises (TTL + jitter, negative entries, single-flight,
// invalidation) is in shop_cache_conformance_test.cpp, for the local and the Redis cache alike.
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
