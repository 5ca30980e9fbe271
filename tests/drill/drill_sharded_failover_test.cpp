// The database failover game day (scenarios/gameday_db_failover.lua, short form) on a sharded shop whose
// shards are Patroni clusters (`--shards 2 --ha patroni`, one synchronous replica each): the fault target
// names the shard (`shard1-primary`), shard 1's primary is SIGKILLed under cross-shard orders and a flash
// sale, writes come back through its promoted replica, and every invariant holds: no acknowledged order
// lost, cross-shard orders atomic with nothing left prepared, no oversell. The RPO is measured on shard 1.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/drill_process.h"
#include "tests/support/sanitizers.h"

namespace {

namespace json = boost::json;

using stampede::testing::read_text;
using stampede::testing::temp_dir;

using stampede::testing::find_invariant;

TEST(drill_sharded_failover, a_shards_primary_killed_under_cross_shard_orders_loses_nothing) {
  temp_dir dir{"stampede-drill-test"};
  // ~75 s here: two Patroni clusters to form (~25 s), the run, the shop's stop.
  const auto r = stampede::testing::run_drill(
      {.scenario = stampede::testing::scenario_path("gameday_db_failover.lua"),
       .dir = dir.path(),
       .args = {"--quiet", "--shop-arg", "--shards", "--shop-arg", "2", "-e", "TARGET=shard1-primary", "-e",
                "DURATION=20s", "-e", "FAULT_AT=4s"},
       .bound = std::chrono::seconds{180},
       .sanitized_bound = std::chrono::seconds{400}});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  const json::value& results = r.results;
  EXPECT_EQ(r.code, 0) << r.log;
  for (const auto& inv : results.at("verify").at("invariants").as_array()) {
    EXPECT_TRUE(inv.at("ok").as_bool()) << json::serialize(inv);
  }
  const auto* atomic = find_invariant(results, "cross-shard orders atomic");
  ASSERT_NE(atomic, nullptr) << "no atomicity invariant on a sharded shop";
  EXPECT_EQ(atomic->at("evidence").at("prepared_transactions").as_int64(), 0) << json::serialize(*atomic);
  const auto* rpo = find_invariant(results, "acknowledged orders lost in the failover (RPO)");
  ASSERT_NE(rpo, nullptr);
  EXPECT_EQ(rpo->at("evidence").at("lost_count"), 0) << json::serialize(*rpo);
  const auto* writes = find_invariant(results, "writes recover after the primary is killed");
  ASSERT_NE(writes, nullptr);
  EXPECT_LT(writes->at("evidence").at("rto_s").to_number<double>(), 30.0) << json::serialize(*writes);
  // The failover happened on shard 1, the one the fault named; the kill got its figures.
  const auto& failover = results.at("drill").at("failover");
  EXPECT_EQ(failover.at("shard"), 1) << json::serialize(failover);
  EXPECT_EQ(std::string(failover.at("old_primary").as_string()).rfind("shard1-pg", 0), 0u)
      << json::serialize(failover);
  EXPECT_TRUE(results.at("chaos").at(0).as_object().contains("rpo")) << json::serialize(results.at("chaos"));
}

}  // namespace
