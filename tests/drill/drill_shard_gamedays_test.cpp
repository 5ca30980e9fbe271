// The shard game days end to end with the real binary, in their short forms
// (scenarios/gameday_shard_partition.lua, scenarios/gameday_shard_pause.lua) on `stampede shop --db postgres
// --shards 2`:
// - the drill puts a fault proxy on every shard's database link for every node (db:shardS:nodeK, in front of
//   that shard's own port) and the topology names each shard's server as a process target (shard0, shard1:
//   its postmaster's pid);
// - shard 1 cut off (every db:shard1:* link black-holed) with 2pc and with sagas: every invariant holds after
//   the heal (atomicity, nothing prepared, no saga open), checkouts caught by the cut end within the bound,
//   results.drill.shards reports the outcomes with nothing left in doubt; with coordinators holding their
//   prepared parts, transactions stay in doubt through the cut and recovery resolves them after the heal;
// - shard 0 frozen (SIGSTOP of its postmaster and backends) while coordinators hold their prepared parts
//   (--txn-hold-ms): transactions stay in doubt through the pause and are resolved after it, every
//   invariant holds. Every run is bounded.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/drill_process.h"
#include "tests/support/sanitizers.h"

namespace {

namespace json = boost::json;

using stampede::testing::read_text;
using stampede::testing::temp_dir;

using stampede::testing::drill_run;

// The game day's short form (16 s): ~35 s here (two PostgreSQL servers to initialise, the load, the quiet
// wait).
drill_run drill(const temp_dir& dir, const std::string& scenario, const std::vector<std::string>& extra) {
  std::vector<std::string> args{"--quiet", "-e", "DURATION=16s"};
  args.insert(args.end(), extra.begin(), extra.end());
  return stampede::testing::run_drill({.scenario = stampede::testing::scenario_path(scenario),
                                       .dir = dir.path(),
                                       .args = std::move(args),
                                       .bound = std::chrono::seconds{150},
                                       .sanitized_bound = std::chrono::seconds{300}});
}

void expect_every_invariant_holds(const drill_run& r) {
  for (const auto& inv : r.results.at("verify").at("invariants").as_array()) {
    EXPECT_TRUE(inv.at("ok").as_bool()) << json::serialize(inv);
  }
  const auto& names = r.results.at("verify").at("invariants").as_array();
  bool atomicity = false, bound = false;
  for (const auto& inv : names) {
    const std::string name(inv.at("name").as_string());
    atomicity |= name.starts_with("cross-shard orders atomic");
    bound |= name.starts_with("checkouts caught by");
  }
  EXPECT_TRUE(atomicity && bound) << json::serialize(r.results.at("verify"));
}

const json::object& shards_section(const drill_run& r) {
  return r.results.at("drill").at("shards").as_object();
}

TEST(drill_shard_gamedays,
     a_cut_shard_blocks_two_phase_checkouts_for_a_bounded_time_and_leaves_nothing_in_doubt) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill(dir, "gameday_shard_partition.lua", {"-e", "FAULT_AT=4s", "-e", "FAULT_FOR=6s"});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  expect_every_invariant_holds(r);
  // The shard bulkheads: checkouts wholly on shard 0 kept succeeding (an invariant of the game day), and
  // HAProxy kept every node UP (before them it took every node out for the whole cut).
  bool healthy = false;
  for (const auto& inv : r.results.at("verify").at("invariants").as_array()) {
    healthy |= std::string(inv.at("name").as_string()).starts_with("checkouts wholly on the healthy shards");
  }
  EXPECT_TRUE(healthy) << json::serialize(r.results.at("verify"));
  EXPECT_TRUE(r.results.at("drill").at("system").at("health_changes").as_array().empty())
      << json::serialize(r.results.at("drill").at("system").at("health_changes"));

  // Every shard's link for every node, in front of that shard's own server.
  const auto& topology = r.results.at("drill").at("topology_at_start");
  const auto& shards = topology.at("database").at("shards").as_array();
  ASSERT_EQ(shards.size(), 2u);
  int found = 0;
  for (const auto& l : r.results.at("drill").at("links").as_array()) {
    const std::string name(l.at("name").as_string());
    EXPECT_NE(name.rfind("db:node", 0), 0u) << "with shards every database link names its shard: " << name;
    for (int s = 0; s < 2; ++s) {
      if (name.rfind("db:shard" + std::to_string(s) + ":node", 0) != 0) continue;
      ++found;
      EXPECT_EQ(std::string(l.at("upstream").as_string()),
                "127.0.0.1:" + std::to_string(shards[s].at("port").to_number<int>()))
          << name;
    }
  }
  EXPECT_EQ(found, 6) << json::serialize(r.results.at("drill").at("links"));  // 2 shards x 3 nodes
  // Each shard's server as a process target, by its postmaster's pid.
  const auto& targets = topology.at("database_nodes").as_array();
  ASSERT_EQ(targets.size(), 2u);
  for (int s = 0; s < 2; ++s) {
    EXPECT_EQ(targets[s].at("name").as_string(), "shard" + std::to_string(s));
    EXPECT_EQ(targets[s].at("pid").to_number<int64_t>(), shards[s].at("pid").to_number<int64_t>());
    EXPECT_TRUE(targets[s].at("commands").as_object().contains("pause"));
  }
  // The cut reached traffic on shard 1's links.
  const auto& fault = r.results.at("chaos").at(0);
  EXPECT_FALSE(fault.as_object().contains("error")) << json::serialize(fault);
  EXPECT_GT(fault.at("injections").to_number<int64_t>(), 0) << json::serialize(fault);

  const auto& s = shards_section(r);
  EXPECT_EQ(s.at("txn").as_string(), "2pc");
  EXPECT_TRUE(s.at("audit_read").as_bool()) << json::serialize(s);
  EXPECT_GT(s.at("orders").at("committed").as_int64(), 5) << json::serialize(s);
  EXPECT_EQ(s.at("orders").at("in_doubt").as_int64(), 0) << json::serialize(s);
  EXPECT_EQ(s.at("in_doubt").at("unresolved").as_int64(), 0) << json::serialize(s);
  EXPECT_GT(s.at("in_doubt").at("samples").as_int64(), 20) << json::serialize(s);
}

// With coordinators holding their prepared parts (--txn-hold-ms 1000, ~5 cross-shard checkouts a second), the
// cut finds transactions prepared: a decision that cannot reach shard 1, or a COMMIT PREPARED that cannot,
// leaves them in doubt through the cut; recovery resolves them after the heal (past the 3 s lease).
TEST(drill_shard_gamedays,
     a_cut_shard_leaves_held_transactions_in_doubt_until_recovery_resolves_them_after_the_heal) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill(dir, "gameday_shard_partition.lua",
                 {"-e", "FAULT_AT=4s", "-e", "FAULT_FOR=6s", "-e", "ORDER_RATE=10", "--shop-arg",
                  "--txn-hold-ms", "--shop-arg", "1000"});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  expect_every_invariant_holds(r);
  const auto& s = shards_section(r);
  const auto& d = s.at("in_doubt").as_object();
  EXPECT_GT(d.at("stuck").as_int64(), 0) << json::serialize(s);
  EXPECT_GE(d.at("max_s").as_double(), 4.0) << json::serialize(s);  // through most of the 6 s cut
  EXPECT_EQ(d.at("unresolved").as_int64(), 0) << json::serialize(s);
  EXPECT_GT(s.at("orders").at("resolved_by_recovery").as_int64(), 0) << json::serialize(s);
  EXPECT_EQ(s.at("orders").at("in_doubt").as_int64(), 0) << json::serialize(s);
}

TEST(drill_shard_gamedays, a_cut_shard_makes_sagas_compensate_and_every_invariant_holds_after_the_heal) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill(dir, "gameday_shard_partition.lua",
                 {"-e", "FAULT_AT=4s", "-e", "FAULT_FOR=6s", "--shop-arg", "--txn", "--shop-arg", "saga"});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  expect_every_invariant_holds(r);
  const auto& s = shards_section(r);
  EXPECT_EQ(s.at("txn").as_string(), "saga");
  EXPECT_TRUE(s.at("orders").at("aborted").is_null());
  EXPECT_TRUE(s.at("orders").at("compensated").is_int64()) << json::serialize(s);
  EXPECT_EQ(s.at("orders").at("in_doubt").as_int64(), 0) << json::serialize(s);
  EXPECT_EQ(s.at("in_doubt").at("transactions").as_int64(), 0) << "a saga prepares nothing";
}

TEST(drill_shard_gamedays,
     a_frozen_shard_keeps_prepared_transactions_in_doubt_until_it_thaws_then_all_resolve) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill(dir, "gameday_shard_pause.lua", {"-e", "FAULT_AT=5s", "-e", "FAULT_FOR=4s"});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  expect_every_invariant_holds(r);
  const auto& fault = r.results.at("chaos").at(0);
  EXPECT_FALSE(fault.as_object().contains("error")) << json::serialize(fault);
  const auto& s = shards_section(r);
  const auto& d = s.at("in_doubt").as_object();
  // The coordinators hold 1 s after their PREPAREs with ~5 cross-shard checkouts a second: several are
  // prepared when the pause lands, and stay in doubt through it (stuck: 1 s beyond the hold).
  EXPECT_DOUBLE_EQ(d.at("stuck_threshold_s").as_double(), 2.0);
  EXPECT_GT(d.at("stuck").as_int64(), 0) << json::serialize(s);
  EXPECT_GE(d.at("max_s").as_double(), 3.0) << json::serialize(s);
  EXPECT_EQ(d.at("unresolved").as_int64(), 0) << json::serialize(s);
  EXPECT_EQ(s.at("orders").at("in_doubt").as_int64(), 0) << json::serialize(s);
  EXPECT_GT(s.at("orders").at("committed").as_int64(), 5) << json::serialize(s);
}

TEST(drill_shard_gamedays, a_frozen_shard_under_sagas_leaves_no_saga_open) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill(dir, "gameday_shard_pause.lua",
                 {"-e", "FAULT_AT=5s", "-e", "FAULT_FOR=4s", "--shop-arg", "--txn", "--shop-arg", "saga"});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  expect_every_invariant_holds(r);
  EXPECT_EQ(shards_section(r).at("orders").at("in_doubt").as_int64(), 0);
}

}  // namespace
