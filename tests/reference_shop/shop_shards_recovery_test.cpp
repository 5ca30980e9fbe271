// The decision log, the recovery worker and garbage collection of the sharded store (two_phase.h,
// shards.h) on a real PostgreSQL 15 (shop_shards_fixture.h). Known answers: recovery never touches a part
// younger than the lease, even one whose decision says commit; the worker thread resolves an abandoned
// coordinator by itself, by the decision log; a decision is never collected while a part of its
// transaction is prepared, and is after the retention once every part is resolved; a compensated saga's
// tombstones go after the retention while a failed order's released parts stay.
#include "tests/reference_shop/shop_shards_fixture.h"
#include "tests/support/child_process.h"

namespace stampede::shop {
namespace {

using stampede::testing::eventually;

TEST_F(shards_test, recovery_never_touches_a_part_younger_than_the_lease_even_with_a_commit_decision) {
  auto db = open();
  const int64_t before2 = stock(2);
  auto s0 = session(0), s1 = session(1);
  s0.exec("BEGIN; UPDATE products SET stock = stock - 1 WHERE id = 2; PREPARE TRANSACTION '" + prefix_ +
          ":1:20:0'");
  two_phase::decide(s1, prefix_ + ":1:20", "commit");
  const auto pools = std::vector<pg_pool*>{&db->shard(0).pool(), &db->shard(1).pool()};
  auto young = two_phase::recover(pools, prefix_, 10'000ms);
  EXPECT_EQ(young.committed + young.rolled_back, 0);
  EXPECT_EQ(young.left, 1);
  EXPECT_EQ(prepared(), 1);
  EXPECT_EQ(stock(2), before2);  // not applied: still only prepared
  auto old = two_phase::recover(pools, prefix_, 0ms);
  EXPECT_EQ(old.committed, 1);
  EXPECT_EQ(prepared(), 0);
  EXPECT_EQ(stock(2), before2 - 1);
}

// The worker (a thread of every node's store, here every 100 ms with a 500 ms lease), not a pass by hand:
// a coordinator that stopped after PREPARE is rolled back everywhere (no decision: `abort` recorded
// first), one that stopped after its decision is committed everywhere.
TEST_F(shards_test, the_recovery_worker_resolves_an_abandoned_coordinator_by_itself) {
  for (const auto stop_at : {two_phase::point::prepared, two_phase::point::decided}) {
    SCOPED_TRACE(stop_at == two_phase::point::prepared ? "after prepare" : "after the decision");
    auto gid = std::make_shared<std::string>();
    sharded_store_options o;
    o.coordinator.gid_prefix = prefix_;
    o.coordinator.hook = [stop_at, gid](two_phase::point p, std::string_view g) {
      *gid = g;
      return p != stop_at;
    };
    o.shard.pool.size = 4;
    o.lease = 500ms;
    o.recovery_interval = 100ms;
    sharded_store db{urls_, o};
    const int64_t before2 = stock(2), before3 = stock(3);
    EXPECT_THROW(db.checkout(user, "", "", cross_cart, 1000), store_unavailable);
    EXPECT_EQ(prepared(), 2);
    ASSERT_TRUE(eventually([&] { return prepared() == 0; }, 10s)) << "the worker left parts prepared";
    const bool committed = stop_at == two_phase::point::decided;
    auto home = session(1);
    EXPECT_EQ(two_phase::decision_of(home, *gid), committed ? "commit" : "abort");
    EXPECT_EQ(stock(2), before2 - (committed ? 1 : 0));
    EXPECT_EQ(stock(3), before3 - (committed ? 2 : 0));
    expect_balanced(db.audit());
  }
}

// Decisions: one of a committed checkout (every part resolved), one of a coordinator that stopped after
// its decision (its parts still prepared). Within the retention nothing goes; with the retention over, the
// first goes and the second stays until recovery has committed its parts, then goes too.
TEST_F(shards_test, a_decision_outlives_its_prepared_parts_and_is_collected_after_the_retention) {
  auto kept = open();  // the default retention (10 minutes)
  ASSERT_EQ(kept->checkout(user, "", "", cross_cart, 1000).status, checkout_status::created);
  auto gid = std::make_shared<std::string>();
  sharded_store_options o;
  o.coordinator.hook = [gid](two_phase::point p, std::string_view g) {
    *gid = g;
    return p != two_phase::point::decided;
  };
  o.lease = 0ms;
  o.retention = 0ms;
  auto collecting = open(o);
  const int64_t before2 = stock(2);
  EXPECT_THROW(collecting->checkout(user, "", "", cross_cart, 2000), store_unavailable);
  const auto decisions = [&] { return value(1, "SELECT COUNT(*) FROM txn_decisions"); };
  EXPECT_EQ(decisions(), 2);
  EXPECT_EQ(kept->collect_garbage(3000).decisions, 0);
  std::this_thread::sleep_for(5ms);  // decided_at is in milliseconds: both are older than "now" now
  EXPECT_EQ(collecting->collect_garbage(3000).decisions, 1);
  auto home = session(1);
  EXPECT_EQ(two_phase::decision_of(home, *gid), "commit");  // its parts are prepared: kept
  EXPECT_EQ(collecting->recover_in_doubt().committed, 2);   // ... and recovery needs it
  EXPECT_EQ(stock(2), before2 - 1);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(collecting->collect_garbage(4000).decisions, 1);
  EXPECT_EQ(decisions(), 0);
  expect_balanced(collecting->audit());
}

// A compensated saga leaves released parts without a header (shard 0's part released, a tombstone on
// shard 1); a failed order keeps its released parts (its record). After the retention the first go, the
// second stay; before it nothing goes.
TEST_F(shards_test, a_compensated_sagas_tombstones_are_collected_after_the_retention) {
  auto o = saga_options();
  o.retention = 60'000ms;
  auto db = open(o);
  session(1).exec("UPDATE products SET stock = 1, initial_stock = 1 WHERE id = 3");
  EXPECT_EQ(db->checkout(user, "k1", "h1", cross_cart, 1000).status, checkout_status::out_of_stock);
  session(1).exec("UPDATE products SET stock = 10, initial_stock = 10 WHERE id = 3");
  auto failed = db->checkout(user, "k2", "h2", cross_cart, 2000);
  ASSERT_EQ(failed.status, checkout_status::created);
  auto claimed = db->claim_outbox("w", 3000, 60'000, 10);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(db->fail_payment(claimed[0], "w", "declined", false, 3000));
  const auto released = [&] {
    return value(0, "SELECT COUNT(*) FROM order_parts WHERE status = 'released'") +
           value(1, "SELECT COUNT(*) FROM order_parts WHERE status = 'released'");
  };
  EXPECT_EQ(released(), 4);
  EXPECT_EQ(db->audit().at("orphan_parts").as_array().size(), 2u);  // the compensated saga's
  EXPECT_EQ(db->collect_garbage(60'000).tombstones, 0);             // updated at 1000: not yet
  EXPECT_EQ(db->collect_garbage(62'000).tombstones, 2);
  EXPECT_EQ(db->collect_garbage(62'000).tombstones, 0);
  EXPECT_EQ(released(), 2);  // the failed order's
  const auto audit = db->audit();
  EXPECT_TRUE(audit.at("orphan_parts").as_array().empty());
  EXPECT_EQ(part_statuses(audit.at("orders").as_array().back()), "0:released 1:released");
  expect_balanced(audit);
}

}  // namespace
}  // namespace stampede::shop
