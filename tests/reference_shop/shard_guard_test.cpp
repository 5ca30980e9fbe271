// The shard guard (reference_shop/shard_guard.h) on its own, with a hand-driven clock: the bulkhead's bound,
// the circuit's opening after lost connections in a row, its probes' spacing, how it closes, and that a
// guard left at its defaults changes nothing.
#include "reference_shop/shard_guard.h"

#include <gtest/gtest.h>

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;
using admission = shard_guard::admission;

struct manual_clock {
  std::chrono::steady_clock::time_point now{};
  std::function<std::chrono::steady_clock::time_point()> fn() {
    return [this] { return now; };
  }
};

TEST(shard_guard, defaults_admit_everything_and_never_open) {
  shard_guard g;
  EXPECT_FALSE(g.enabled());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(g.enter(), admission::admitted);
  for (int i = 0; i < 100; ++i) g.leave(false);  // lost connections, but no breaker
  EXPECT_EQ(g.enter(), admission::admitted);
  const auto s = g.stats();
  EXPECT_FALSE(s.open);
  EXPECT_EQ(s.opened, 0u);
  EXPECT_EQ(s.refused_full + s.refused_open, 0u);
  EXPECT_EQ(s.failures, 100u);
}

TEST(shard_guard, the_bulkhead_refuses_one_more_than_its_bound_and_admits_again_when_one_leaves) {
  shard_guard g{{.max_inflight = 3}};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(g.enter(), admission::admitted);
  EXPECT_EQ(g.enter(), admission::full);
  EXPECT_EQ(g.enter(), admission::full);
  EXPECT_EQ(g.stats().inflight, 3);
  g.leave(true);
  EXPECT_EQ(g.enter(), admission::admitted);
  g.cancel();  // no session in time: neither outcome, the slot is free again
  EXPECT_EQ(g.enter(), admission::admitted);
  const auto s = g.stats();
  EXPECT_EQ(s.refused_full, 2u);
  EXPECT_EQ(s.inflight, 3);
  EXPECT_FALSE(s.open);
  EXPECT_NE(g.describe(admission::full).find("3 calls in flight"), std::string::npos);
}

TEST(shard_guard, lost_connections_in_a_row_open_the_circuit_and_a_success_between_resets_the_count) {
  manual_clock clock;
  shard_guard g{{.max_inflight = 0, .failures_to_open = 2, .open_for = 1000ms, .clock = clock.fn()}};
  ASSERT_EQ(g.enter(), admission::admitted);
  g.leave(false);
  ASSERT_EQ(g.enter(), admission::admitted);
  g.leave(true);  // reached: the count starts again
  ASSERT_EQ(g.enter(), admission::admitted);
  g.leave(false);
  EXPECT_FALSE(g.stats().open);
  ASSERT_EQ(g.enter(), admission::admitted);
  g.leave(false);
  EXPECT_TRUE(g.stats().open);
  EXPECT_EQ(g.enter(), admission::open);
  EXPECT_EQ(g.enter(), admission::open);
  const auto s = g.stats();
  EXPECT_EQ(s.opened, 1u);
  EXPECT_EQ(s.refused_open, 2u);
  EXPECT_EQ(s.failures, 3u);
}

TEST(shard_guard, an_open_circuit_is_probed_once_per_period_and_closes_when_a_probe_reaches_the_shard) {
  manual_clock clock;
  shard_guard g{{.max_inflight = 4, .failures_to_open = 1, .open_for = 1000ms, .clock = clock.fn()}};
  EXPECT_FALSE(g.probe_due());  // closed: nothing to probe
  ASSERT_EQ(g.enter(), admission::admitted);
  g.leave(false);
  ASSERT_TRUE(g.stats().open);
  clock.now += 999ms;
  EXPECT_FALSE(g.probe_due());
  clock.now += 1ms;
  EXPECT_TRUE(g.probe_due());
  EXPECT_FALSE(g.probe_due());  // one probe per period
  g.record(false);              // the probe failed: still open, next probe a period later
  EXPECT_EQ(g.enter(), admission::open);
  clock.now += 1000ms;
  EXPECT_TRUE(g.probe_due());
  g.record(true);
  EXPECT_FALSE(g.stats().open);
  EXPECT_EQ(g.enter(), admission::admitted);
  EXPECT_EQ(g.stats().opened, 1u);
}

TEST(shard_guard, a_call_that_reached_the_shard_while_it_was_open_closes_it) {
  manual_clock clock;
  shard_guard g{{.max_inflight = 0, .failures_to_open = 1, .open_for = 1000ms, .clock = clock.fn()}};
  ASSERT_EQ(g.enter(), admission::admitted);  // a slow call, still running when the other fails
  ASSERT_EQ(g.enter(), admission::admitted);
  g.leave(false);
  EXPECT_TRUE(g.stats().open);
  g.leave(true);
  EXPECT_FALSE(g.stats().open);
}

TEST(shard_guard, negative_limits_are_refused) {
  EXPECT_THROW(shard_guard({.max_inflight = -1}), std::invalid_argument);
  EXPECT_THROW(shard_guard({.failures_to_open = -1}), std::invalid_argument);
}

}  // namespace
}  // namespace stampede::shop
