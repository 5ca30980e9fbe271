// The shard bulkheads end to end with the real binary (tests/drill/scenarios/shard_bulkhead.lua on `stampede
// shop --db postgres --shards 2`, through HAProxy): shard 1's database links cut while browsers read both
// shards' pages and customers wholly on shard 0 check out. Known answers: before the cut every checkout
// succeeds (no spurious 503); during it carts on shard 0 succeed, carts touching shard 1 are refused within
// 1 s, shard 1's pages are answered (degraded); after the heal everything works; HAProxy keeps every node
// UP throughout (results.drill.system: no health change, every second UP); every shop invariant holds.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tests/support/drill_process.h"

namespace {

namespace json = boost::json;

using stampede::testing::temp_dir;

TEST(drill_shard_bulkhead, a_cut_shard_fails_only_its_own_requests_fast_and_haproxy_keeps_every_node_up) {
  temp_dir dir{"stampede-drill-test"};
  // ~40 s here (two PostgreSQL servers to initialise, 23 s of load); sanitizers slow it.
  const auto run = stampede::testing::run_drill(
      {.scenario = std::filesystem::path(STAMPEDE_SOURCE_DIR) / "tests/drill/scenarios/shard_bulkhead.lua",
       .dir = dir.path(),
       .args = {"--quiet"},
       .bound = std::chrono::seconds{150},
       .sanitized_bound = std::chrono::seconds{300}});
  ASSERT_TRUE(run.results.is_object()) << run.log;
  const json::value& results = run.results;
  EXPECT_EQ(run.code, 0) << run.log;

  std::set<std::string> names;
  for (const auto& inv : results.at("verify").at("invariants").as_array()) {
    EXPECT_TRUE(inv.at("ok").as_bool()) << json::serialize(inv);
    names.insert(std::string(inv.at("name").as_string()));
  }
  for (const char* expected :
       {"before the cut every checkout succeeds", "during the cut carts on shard 0 check out",
        "during the cut carts touching shard 1 fail fast",
        "during the cut shard 1's pages are answered, degraded (stock unknown)",
        "after the heal everything works"}) {
    EXPECT_TRUE(names.contains(expected)) << expected;
  }
  bool atomicity = false;
  for (const auto& n : names) atomicity |= n.starts_with("cross-shard orders atomic");
  EXPECT_TRUE(atomicity);

  // The cut reached traffic on shard 1's links.
  const auto& fault = results.at("chaos").at(0);
  EXPECT_FALSE(fault.as_object().contains("error")) << json::serialize(fault);
  EXPECT_GT(fault.at("injections").to_number<int64_t>(), 0) << json::serialize(fault);

  // HAProxy: every node UP at every reading.
  const auto& system = results.at("drill").at("system");
  EXPECT_TRUE(system.at("health_changes").as_array().empty()) << json::serialize(system.at("health_changes"));
  const auto& servers = system.at("servers").as_array();
  int nodes = 0;
  for (const auto& s : servers) {
    if (s.at("backend").as_string() != "nodes") continue;
    ++nodes;
    const auto& seconds = s.at("seconds").as_array();
    EXPECT_GT(seconds.size(), 15u) << json::serialize(s);
    for (const auto& second : seconds) {
      EXPECT_EQ(second.at("status").as_string(), "UP")
          << s.at("name").as_string() << " " << json::serialize(second);
    }
  }
  EXPECT_EQ(nodes, 3);
}

}  // namespace
