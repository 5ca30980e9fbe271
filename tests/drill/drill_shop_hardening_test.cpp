// The reference shop's hardening, proven with real drills (the `stampede` binary, a fresh shop with
// HAProxy, nodes and the payment emulator):
//  - the login-storm game day at the production password cost: every buyer logs in (following
//    Retry-After), HAProxy never answers an error itself (503, 504) and never marks a node DOWN (read from
//    its stats);
//  - a shop broken on purpose (`--inject-bug double-capture`: every order charged twice) fails the money
//    invariant, naming the orders, against the real payment emulator.
// Every run is bounded (the child is killed at its deadline).
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/drill_process.h"

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

using stampede::testing::drill_run;

// `stampede drill scenarios/SCENARIO ARGS...` on a fresh 3-node shop in a fresh directory, killed after
// `deadline`.
drill_run drill(const std::string& scenario, std::vector<std::string> extra, std::chrono::seconds deadline) {
  const stampede::testing::temp_dir tmp{"stampede-hardening"};
  extra.insert(extra.begin(), {"--nodes", "3", "--quiet", "--quiet-timeout", "20s"});
  return stampede::testing::run_drill({.scenario = stampede::testing::scenario_path(scenario),
                                       .dir = tmp.path(),
                                       .args = std::move(extra),
                                       .bound = deadline});
}

// name -> invariant of results.verify.
std::map<std::string, json::object> invariants(const drill_run& r) {
  std::map<std::string, json::object> out;
  if (!r.results.is_object() || !r.results.at("verify").is_object()) return out;
  for (const auto& inv : r.results.at("verify").at("invariants").as_array()) {
    out[std::string(inv.at("name").as_string())] = inv.as_object();
  }
  return out;
}

// Short form of scenarios/gameday_login_storm.lua: 45 buyers at the interactive argon2id cost, more than the
// three nodes' pools admit at once (2 running each, and none waits more than 2 s), so some are shed with 429
// and retry. Before the hashing pool, the same storm marked the nodes DOWN (health checks waited behind
// hashes) and HAProxy answered 503 with no server left.
TEST(shop_hardening, login_storm_every_buyer_logs_in_no_node_down_no_haproxy_error) {
  auto r =
      drill("gameday_login_storm.lua", {"-e", "BUYERS=45", "-e", "DURATION=150s"}, std::chrono::seconds{240});
  EXPECT_EQ(r.code, 0) << r.log;
  auto inv = invariants(r);
  ASSERT_EQ(inv.size(), 3u) << r.log;
  for (const char* name : {"every buyer logged in", "no 5xx from HAProxy", "no node marked DOWN"}) {
    ASSERT_TRUE(inv.contains(name)) << name;
    EXPECT_TRUE(inv[name].at("ok").as_bool()) << name << ": " << json::serialize(inv[name]);
  }
  EXPECT_EQ(inv["every buyer logged in"].at("evidence").at("logged_in").to_number<int64_t>(), 45);
  EXPECT_EQ(inv["no node marked DOWN"].at("evidence").at("nodes").to_number<int64_t>(), 3);
  const auto& errors = inv["no 5xx from HAProxy"].at("evidence");
  EXPECT_EQ(errors.at("haproxy_5xx").to_number<int64_t>(), 0) << json::serialize(errors);
  EXPECT_EQ(errors.at("node_5xx").to_number<int64_t>(), 0) << json::serialize(errors);
  EXPECT_EQ(errors.at("other").to_number<int64_t>(), 0) << json::serialize(errors);
  std::printf("login storm: %s\n",
              std::string(inv["every buyer logged in"].at("detail").as_string()).c_str());
}

// The deliberately broken shop charges every order twice (its payment worker drops the Idempotency-Key and
// sends each capture twice): the money invariant fails and names the orders; the others hold.
TEST(shop_hardening, injected_double_capture_is_caught_naming_the_orders) {
  auto r = drill("flash_sale_drill.lua",
                 {"-e", "NO_FAULT=1", "-e", "DURATION=5s", "-e", "BUYERS=20", "-e", "SPIKE_AT=1s", "-e",
                  "ORDER_RATE=4", "--shop-arg", "--inject-bug=double-capture"},
                 std::chrono::seconds{120});
  EXPECT_EQ(r.code, 98) << r.log;
  auto inv = invariants(r);
  ASSERT_EQ(inv.size(), 5u) << r.log;
  const auto& money = inv["one capture per paid order, captures - refunds = paid totals"];
  ASSERT_FALSE(money.empty()) << r.log;
  EXPECT_FALSE(money.at("ok").as_bool());
  const std::string detail(money.at("detail").as_string());
  EXPECT_NE(detail.find("charged twice: orders "), std::string::npos) << detail;
  const auto& evidence = money.at("evidence").as_object();
  const int64_t doubled = evidence.at("double_capture_count").to_number<int64_t>();
  EXPECT_GT(doubled, 10) << json::serialize(evidence);
  // Every order the shop paid was charged twice, and each one is named.
  const auto& orders = inv["acknowledged orders exist exactly once"];
  EXPECT_TRUE(orders.at("ok").as_bool()) << json::serialize(orders);
  EXPECT_EQ(evidence.at("double_capture").as_array().size(),
            static_cast<size_t>(std::min<int64_t>(doubled, 100)));
  ASSERT_FALSE(evidence.at("double_capture").as_array().empty());
  const std::string first = json::serialize(evidence.at("double_capture").at(0));
  EXPECT_NE(detail.find("charged twice: orders " + first), std::string::npos) << detail;
  for (const char* name :
       {"acknowledged orders exist exactly once", "stock per SKU never negative and within purchase bounds",
        "flash sale never oversold, nobody over the per-user limit",
        "queue accounting: published = done + dead-lettered + pending"}) {
    EXPECT_TRUE(inv[name].at("ok").as_bool()) << name << ": " << json::serialize(inv[name]);
  }
}

}  // namespace
