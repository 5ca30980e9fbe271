// Shard leases: idempotent registration, hints, and a shard that ran is never handed out again.
#include "distributed/leases.h"

#include <gtest/gtest.h>

namespace stampede::distributed {
namespace {

const auto t0 = std::chrono::steady_clock::time_point{};

TEST(leases, agents_get_the_lowest_free_shard_and_a_retry_the_same_answer) {
  lease_table t(3);
  EXPECT_EQ(t.register_agent("a", std::nullopt, 0, 0, t0).shard, 0);
  EXPECT_EQ(t.register_agent("b", std::nullopt, 0, 0, t0).shard, 1);
  EXPECT_EQ(t.register_agent("a", std::nullopt, 0, 0, t0).shard, 0);  // retried
  EXPECT_EQ(t.missing(), "2");
  EXPECT_EQ(t.register_agent("c", std::nullopt, 0, 0, t0).shard, 2);
  const registration full = t.register_agent("d", std::nullopt, 0, 0, t0);
  EXPECT_FALSE(full.shard);
  EXPECT_EQ(full.status, 409);
  EXPECT_EQ(full.error, "all 3 shards are leased");
  EXPECT_EQ(t.leased(), 3);
}

TEST(leases, a_hint_takes_its_shard_and_a_restarted_pod_takes_over_before_the_start) {
  lease_table t(2);
  EXPECT_EQ(t.register_agent("pod-1-a", 1, 0, 0, t0).shard, 1);
  EXPECT_EQ(t.register_agent("pod-1-b", 1, 0, 0, t0).shard,
            1);  // the pod restarted: a new id, the same index
  EXPECT_EQ(t.held_by("pod-1-a"), nullptr);
  EXPECT_EQ(t.register_agent("x", std::nullopt, 0, 0, t0).shard, 0);
  EXPECT_EQ(t.register_agent("y", 7, 0, 0, t0).status, 400);
}

TEST(leases, after_the_start_no_shard_runs_twice) {
  lease_table t(2);
  t.register_agent("a", 0, 0, 0, t0);
  t.register_agent("b", 1, 0, 0, t0);
  t.start(t0);
  const registration again = t.register_agent("a", 0, 0, 0, t0);  // the same agent, restarted with its id
  EXPECT_FALSE(again.shard);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.error, "shard 0 already running (agent a): its load does not run twice");
  t.held_by("b")->state = lease_state::finished;
  const registration other = t.register_agent("b-restarted", 1, 0, 0, t0);
  EXPECT_FALSE(other.shard);
  EXPECT_EQ(other.error, "shard 1 already finished (agent b): its load does not run twice");
  EXPECT_FALSE(t.register_agent("new", std::nullopt, 0, 0, t0).shard);
}

}  // namespace
}  // namespace stampede::distributed
