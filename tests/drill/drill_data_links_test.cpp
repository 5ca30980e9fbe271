// `stampede drill` puts fault proxies on each node's database and Redis links (drill/data_links.h): with
// the real binary, a shop on PostgreSQL with Redis and two nodes, and tests/drill/scenarios/data_links.lua,
// whose phases fault node1's links only and compare node1 with node2 (asked directly, not through HAProxy):
// nothing (both alike), +300 ms on db:node1 (node1 slow, node2 not), db:node1 cut (node1 503 within its
// deadlines, never 200 before the heal, node2 serves), redis:node1 cut (node1 falls back to the database,
// node2 keeps its Redis hits). The links are in results.drill.links, in front of the shop's real ports.
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
namespace fs = std::filesystem;

using stampede::testing::read_text;
using stampede::testing::temp_dir;

const json::object* invariant(const json::value& results, const std::string& prefix) {
  return stampede::testing::find_invariant(results, prefix);
}

double number(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* at = &v;
  for (const char* key : path) at = &at->at(key);
  return at->to_number<double>();
}

TEST(drill_data_links, faults_on_one_nodes_database_and_redis_links_hit_that_node_only) {
  temp_dir dir;
  // Under ASan/TSan a node answers more slowly; the deadlines themselves (6 s + 3 s) do not change.
  const std::string bound_s = stampede::testing::sanitized_build ? "20" : "13";
  const auto run = stampede::testing::run_drill(
      {.scenario = fs::path(STAMPEDE_DRILL_TEST_SCENARIOS) / "data_links.lua",
       .dir = dir.path(),
       .args = {"--nodes", "2", "--quiet", "--quiet-timeout", "20s", "-e", "DB_CUT_BOUND_S=" + bound_s},
       .bound = std::chrono::seconds{150}});
  ASSERT_TRUE(run.results.is_object()) << run.log;
  const json::value& results = run.results;
  EXPECT_EQ(run.code, 0) << json::serialize(results.at("verify")) << "\n" << run.log;

  // The links: one per node and kind, in front of the shop's database and Redis ports.
  const auto& topology = results.at("drill").at("topology_at_start");
  const std::string db_upstream = "127.0.0.1:" + std::to_string(topology.at("database").at("port").to_number<int>());
  const std::string redis_upstream = "127.0.0.1:" + std::to_string(topology.at("redis").at("port").to_number<int>());
  int found = 0;
  for (const auto& l : results.at("drill").at("links").as_array()) {
    const std::string name(l.at("name").as_string());
    for (const std::string node : {"node1", "node2"}) {
      if (name == "db:" + node || name == "redis:" + node) {
        ++found;
        EXPECT_EQ(l.at("from").as_string(), node);
        EXPECT_EQ(std::string(l.at("upstream").as_string()), name.starts_with("db:") ? db_upstream : redis_upstream);
        EXPECT_FALSE(l.at("listen").as_string().empty());
      }
    }
  }
  EXPECT_EQ(found, 4) << json::serialize(results.at("drill").at("links"));

  // Every fault reached traffic on its link.
  for (const auto& f : results.at("chaos").as_array()) {
    EXPECT_FALSE(f.as_object().contains("error")) << json::serialize(f);
    EXPECT_GT(f.at("injections").to_number<int64_t>(), 0) << json::serialize(f);
  }

  const auto* none = invariant(results, "no fault");
  const auto* latency = invariant(results, "latency on db:node1");
  const auto* cut = invariant(results, "db:node1 cut");
  const auto* redis = invariant(results, "redis:node1 cut");
  ASSERT_TRUE(none && latency && cut && redis) << json::serialize(results.at("verify"));
  for (const auto* inv : {none, latency, cut, redis}) {
    EXPECT_TRUE(inv->at("ok").as_bool()) << json::serialize(*inv);
  }
  // The figures behind them (known answers).
  const auto& n = none->at("evidence");
  EXPECT_EQ(number(n, {"node1", "failures"}) + number(n, {"node2", "failures"}), 0) << json::serialize(n);
  const auto& l = latency->at("evidence");
  EXPECT_GE(number(l, {"node1", "p50_ms"}), 240) << json::serialize(l);
  EXPECT_LT(number(l, {"node2", "p50_ms"}), 100) << json::serialize(l);
  const auto& c = cut->at("evidence");
  EXPECT_GT(number(c, {"node1", "failures"}), 0) << json::serialize(c);
  EXPECT_EQ(number(c, {"node1", "ok_before_end"}), 0) << json::serialize(c);
  EXPECT_LE(number(c, {"node1", "max_ms"}), std::stod(bound_s) * 1000) << json::serialize(c);
  EXPECT_EQ(number(c, {"node2", "failures"}), 0) << json::serialize(c);
  const auto& r = redis->at("evidence");
  EXPECT_GT(number(r, {"node1_fallbacks"}), 0) << json::serialize(r);
  EXPECT_EQ(number(r, {"node2_fallbacks"}), 0) << json::serialize(r);
  EXPECT_GT(number(r, {"node2_hits"}), 0) << json::serialize(r);
}

}  // namespace
