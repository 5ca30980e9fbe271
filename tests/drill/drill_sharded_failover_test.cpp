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
#include "tests/support/sanitizers.h"

namespace {

namespace json = boost::json;

using stampede::testing::read_text;
using stampede::testing::temp_dir;

const json::object* invariant(const json::value& results, std::string_view prefix) {
  for (const auto& inv : results.at("verify").at("invariants").as_array()) {
    if (std::string_view(inv.at("name").as_string()).substr(0, prefix.size()) == prefix)
      return &inv.as_object();
  }
  return nullptr;
}

TEST(drill_sharded_failover, a_shards_primary_killed_under_cross_shard_orders_loses_nothing) {
  temp_dir dir{"stampede-drill-test"};
  const std::vector<std::string> args{STAMPEDE_BINARY,
                                      "drill",
                                      std::string(STAMPEDE_SOURCE_DIR) + "/scenarios/gameday_db_failover.lua",
                                      "--out",
                                      (dir.path() / "out").string(),
                                      "--quiet",
                                      "--shop-arg",
                                      "--shards",
                                      "--shop-arg",
                                      "2",
                                      "-e",
                                      "TARGET=shard1-primary",
                                      "-e",
                                      "DURATION=20s",
                                      "-e",
                                      "FAULT_AT=4s"};
  // ~75 s here: two Patroni clusters to form (~25 s), the run, the shop's stop.
  const auto bound = std::chrono::seconds{stampede::testing::sanitized_build ? 400 : 180};
  const int code =
      stampede::testing::run_bounded(args, dir.path() / "drill.log", bound, std::chrono::seconds{3});
  const std::string log = read_text(dir.path() / "drill.log");
  const std::string text = read_text(dir.path() / "out" / "results.json");
  ASSERT_FALSE(text.empty()) << log;
  const json::value results = json::parse(text);
  EXPECT_EQ(code, 0) << log;
  for (const auto& inv : results.at("verify").at("invariants").as_array()) {
    EXPECT_TRUE(inv.at("ok").as_bool()) << json::serialize(inv);
  }
  const auto* atomic = invariant(results, "cross-shard orders atomic");
  ASSERT_NE(atomic, nullptr) << "no atomicity invariant on a sharded shop";
  EXPECT_EQ(atomic->at("evidence").at("prepared_transactions").as_int64(), 0) << json::serialize(*atomic);
  const auto* rpo = invariant(results, "acknowledged orders lost in the failover (RPO)");
  ASSERT_NE(rpo, nullptr);
  EXPECT_EQ(rpo->at("evidence").at("lost_count"), 0) << json::serialize(*rpo);
  const auto* writes = invariant(results, "writes recover after the primary is killed");
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
