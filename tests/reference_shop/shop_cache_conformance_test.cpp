// One suite, two caches: the node's in-process cache (`--cache local`) and the Redis cache shared by all
// nodes (`--cache redis`, on a throwaway redis-server) meet the same expectations: TTL with jitter,
// negative entries with their own TTL, single-flight, loader errors not cached, invalidation that a load
// in flight cannot undo, and a new data generation that drops everything. Time is an injected clock (the
// Redis cache keeps its own soft expiry in each value; Redis's hard expiry is a minute away).
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include "reference_shop/cache.h"
#include "reference_shop/redis_cache.h"
#include "tests/reference_shop/redis_test_server.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;

struct fake_clock {
  std::chrono::milliseconds now{0};
};

class cache_conformance : public ::testing::TestWithParam<std::string> {
 protected:
  // ttl 1 s with 20% jitter, negative ttl 100 ms, as the local cache's own tests.
  std::unique_ptr<read_cache> make_cache() {
    if (GetParam() == "local") {
      cache_options o;
      o.shards = 1;
      o.ttl = 1000ms;
      o.jitter = 0.2;
      o.negative_ttl = 100ms;
      o.clock = [this] { return std::chrono::steady_clock::time_point{} + clock_.now; };
      return std::make_unique<response_cache>(o);
    }
    if (!redis_) redis_ = std::make_unique<testing::redis_test_server>();
    redis_cache_options o;
    o.redis = redis_->client();
    o.ttl = 1000ms;
    o.jitter = 0.2;
    o.negative_ttl = 100ms;
    o.stale_for = 60s;
    o.clock = [this] { return int64_t{1'800'000'000'000} + clock_.now.count(); };
    return std::make_unique<redis_cache>(o);
  }

  fake_clock clock_;
  std::unique_ptr<testing::redis_test_server> redis_;
};

TEST_P(cache_conformance, hit_after_load_and_ttl_with_jitter) {
  auto cache = make_cache();
  int loads = 0;
  auto loader = [&]() -> std::optional<std::string> { return "v" + std::to_string(++loads); };
  EXPECT_EQ(*cache->get_or_load("k", loader), "v1");
  EXPECT_EQ(*cache->get_or_load("k", loader), "v1");
  clock_.now += 799ms;  // jitter shortens the TTL by at most 20%
  EXPECT_EQ(*cache->get_or_load("k", loader), "v1");
  clock_.now += 202ms;  // past the full TTL: expired whatever the jitter
  EXPECT_EQ(*cache->get_or_load("k", loader), "v2");
  auto s = cache->stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.loads, 2u);
  EXPECT_EQ(s.expirations, 1u);
}

TEST_P(cache_conformance, jitter_spreads_expiry_against_avalanche) {
  auto cache = make_cache();
  for (int i = 0; i < 200; ++i) cache->put("k" + std::to_string(i), "v");
  clock_.now += 900ms;  // between 0.8 x TTL and TTL: some expired, some not
  int expired = 0;
  for (int i = 0; i < 200; ++i) expired += cache->get("k" + std::to_string(i)).has_value() ? 0 : 1;
  EXPECT_GT(expired, 20);
  EXPECT_LT(expired, 180);
}

TEST_P(cache_conformance, negative_entries_have_their_own_short_ttl) {
  auto cache = make_cache();
  int loads = 0;
  auto missing = [&]() -> std::optional<std::string> {
    ++loads;
    return std::nullopt;
  };
  EXPECT_EQ(cache->get_or_load("nope", missing), nullptr);
  EXPECT_EQ(cache->get_or_load("nope", missing), nullptr);
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache->stats().negative_hits, 1u);
  clock_.now += 101ms;
  EXPECT_EQ(cache->get_or_load("nope", missing), nullptr);
  EXPECT_EQ(loads, 2);
}

TEST_P(cache_conformance, single_flight_coalesces_concurrent_misses) {
  auto cache = make_cache();
  constexpr int callers = 8;
  std::atomic<int> loads{0};
  auto slow = [&]() -> std::optional<std::string> {
    ++loads;
    // Hold the load until every other caller is waiting on it (bounded).
    testing::eventually([&] { return cache->stats().coalesced == callers - 1; }, 5s);
    return "value";
  };
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&] {
      if (auto v = cache->get_or_load("hot", slow); v && *v == "value") ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(ok.load(), callers);
  EXPECT_EQ(cache->stats().coalesced, static_cast<uint64_t>(callers - 1));
}

TEST_P(cache_conformance, loader_errors_reach_caller_and_are_not_cached) {
  auto cache = make_cache();
  EXPECT_THROW(cache->get_or_load("k", []() -> std::optional<std::string> { throw std::runtime_error("db down"); }),
               std::runtime_error);
  EXPECT_EQ(*cache->get_or_load("k", []() -> std::optional<std::string> { return "ok"; }), "ok");
}

TEST_P(cache_conformance, invalidate_removes_the_entry) {
  auto cache = make_cache();
  cache->put("a", "1");
  ASSERT_TRUE(cache->get("a").has_value());
  cache->invalidate("a");
  EXPECT_FALSE(cache->get("a").has_value());
  EXPECT_EQ(*cache->get_or_load("a", []() -> std::optional<std::string> { return "2"; }), "2");
}

// The race behind a stale product page: a load reads the old stock, a checkout commits and invalidates,
// then the load finishes. Readers after the invalidation must see the new value, and the cache must not
// keep the old one.
TEST_P(cache_conformance, a_load_in_flight_cannot_undo_an_invalidation) {
  auto cache = make_cache();
  std::promise<void> started, release;
  auto old_load = std::async(std::launch::async, [&] {
    return cache->get_or_load("p:7", [&]() -> std::optional<std::string> {
      started.set_value();
      release.get_future().wait_for(5s);  // the old value was read; the write happens now
      return "stock 10";
    });
  });
  ASSERT_EQ(started.get_future().wait_for(5s), std::future_status::ready);
  cache->invalidate("p:7");  // the checkout committed: stock is 9
  EXPECT_EQ(*cache->get_or_load("p:7", []() -> std::optional<std::string> { return "stock 9"; }), "stock 9");
  release.set_value();
  EXPECT_EQ(*old_load.get(), "stock 10");  // its own caller started before the write
  auto now = cache->get("p:7");
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(**now, "stock 9");
}

TEST_P(cache_conformance, a_new_generation_drops_everything) {
  auto cache = make_cache();
  cache->put("categories", "old");
  cache->start_generation(2);
  int loads = 0;
  EXPECT_EQ(*cache->get_or_load("categories", [&]() -> std::optional<std::string> { return "new" + std::to_string(++loads); }),
            "new1");
}

INSTANTIATE_TEST_SUITE_P(caches, cache_conformance, ::testing::Values("local", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace stampede::shop
