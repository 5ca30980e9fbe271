// A distributed run's live snapshot carries the script's custom metrics and the sub-metrics by tag set, so
// the coordinator judges their thresholds on the merged data while the test runs: three local agents through
// the real binary, with known answers (the live merge's figures equal to the exact end-of-run merge, and an
// abortOnFail threshold that only the merged view can cross).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "tests/distributed/distributed_run.h"
#include "tests/support/sanitizers.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using stampede::testing::distributed_run;
using stampede::testing::load;
using stampede::testing::read_text;

// 60 iterations over 3 shards (20 each), each adding known values: a Trend, a Counter with a tagged
// sub-metric, a Rate (one true, one false), and an HTTP request with a tag.
constexpr const char* metrics_script = R"lua(
local basket = metrics.trend("basket")
local orders = metrics.counter("orders")
local paid = metrics.rate("paid")
options = { vus = 3, iterations = 60,
            thresholds = { basket = { "p(99)<1000" }, orders = { "count>0" }, ["orders{flow:buy}"] = { "count>0" },
                           paid = { "rate>=0.5" }, ["http_req_duration{step:checkout}"] = { "p(99)<10000" },
                           ["iterations{scenario:default}"] = { "count>0" } } }
function default()
  basket:add(7)
  orders:add(2, { flow = "buy" })
  paid:add(true)
  paid:add(false)
  http.get("/hello", { tags = { step = "checkout" } })
  sleep(0.05)
end
)lua";

// Each VU (one per shard) adds 1 to orders{flow:buy} in its first 10 iterations only: no shard alone ever
// passes 10, the merged view reaches 30 and crosses count<25.
constexpr const char* aborting_script = R"lua(
local orders = metrics.counter("orders")
options = { vus = 3, duration = "30s",
            thresholds = { ["orders{flow:buy}"] = { { threshold = "count<25", abortOnFail = true } } } }
function default()
  if vu.iteration < 10 then orders:add(1, { flow = "buy" }) end
  http.get("/hello")
  sleep(0.05)
end
)lua";

std::map<std::string, json::object> by_name(const json::value& metrics) {
  std::map<std::string, json::object> out;
  for (const auto& m : metrics.as_array()) out[std::string(m.at("name").as_string())] = m.as_object();
  return out;
}

TEST_F(distributed_run, custom_metrics_and_sub_metrics_are_merged_live_exactly) {
  const path lua = write_script(metrics_script);
  const pid_t coordinator = start_coordinator(lua, 3, {"--register-timeout", "20s"});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 30s), 0) << read_text(agent_log(i));
  ASSERT_EQ(stampede::testing::wait_bounded(coordinator, 30s), 0) << read_text(coordinator_log());

  const json::object merged = load(dir.path() / "merged.json");
  const auto live = by_name(merged.at("distributed").at("live_metrics"));
  const auto end = by_name(merged.at("metrics"));
  ASSERT_EQ(live.count("basket"), 1u) << json::serialize(merged.at("distributed"));
  EXPECT_EQ(live.at("basket").at("samples").as_int64(), 60);
  EXPECT_NEAR(live.at("basket").at("stats").at("max").to_number<double>(), 7.0,
              0.01);  // 3 significant digits
  EXPECT_EQ(live.at("orders").at("count").to_number<double>(), 120.0);
  EXPECT_EQ(live.at("orders{flow:buy}").at("count").to_number<double>(), 120.0);
  EXPECT_EQ(live.at("paid").at("samples").as_int64(), 120);
  EXPECT_EQ(live.at("paid").at("trues").as_int64(), 60);
  EXPECT_EQ(live.at("iterations{scenario:default}").at("count").to_number<double>(), 60.0);
  // The live merge of per-second snapshots equals the exact merge of the agents' whole results.
  for (const char* name : {"basket", "orders", "orders{flow:buy}", "paid", "iterations{scenario:default}"}) {
    ASSERT_EQ(end.count(name), 1u) << name;
    for (const char* key : {"samples", "count", "trues", "histogram"}) {
      if (end.at(name).contains(key)) {
        EXPECT_EQ(live.at(name).at(key), end.at(name).at(key)) << name << "." << key;
      }
    }
  }
  for (const auto& t : merged.at("thresholds").as_array())
    EXPECT_TRUE(t.at("ok").as_bool()) << json::serialize(t);
}

TEST_F(distributed_run, abort_on_fail_on_a_merged_custom_sub_metric_stops_every_agent) {
  const path lua = write_script(aborting_script);
  const pid_t coordinator = start_coordinator(lua, 3, {"--register-timeout", "20s"});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 20s), 0) << read_text(agent_log(i));
  ASSERT_EQ(stampede::testing::wait_bounded(coordinator, 20s), 99) << read_text(coordinator_log());

  const json::object merged = load(dir.path() / "merged.json");
  const json::object& d = merged.at("distributed").as_object();
  EXPECT_NE(
      std::string(d.at("stopped").as_string()).find("orders{flow:buy} count<25 crossed on the merged view"),
      std::string::npos)
      << json::serialize(d.at("stopped"));
  const double stopped_at = d.at("stopped_at_s").to_number<double>();
  for (int i = 0; i < 3; ++i) {
    const json::object shard = load(dir.path() / ("shard" + std::to_string(i) + ".json"));
    EXPECT_EQ(shard.at("meta").at("aborted").at("reason").as_string(), "threshold") << "shard " << i;
    EXPECT_LT(shard.at("meta").at("duration_s").to_number<double>() - stopped_at,
              2.0 + stampede::testing::sanitizer_overhead_ms / 1000 * 10)
        << "shard " << i;
    // No shard alone could cross it: each added 10.
    EXPECT_EQ(by_name(shard.at("metrics")).at("orders{flow:buy}").at("count").to_number<double>(), 10.0);
  }
  EXPECT_EQ(by_name(merged.at("metrics")).at("orders{flow:buy}").at("count").to_number<double>(), 30.0);
  EXPECT_LT(merged.at("meta").at("duration_s").to_number<double>(), 10.0);
}

}  // namespace
