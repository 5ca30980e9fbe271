// Custom metrics' per-second series (metric_intervals, docs/RESULTS.md) through the real binary: two shards
// of one test (`stampede run --shard i/2`) run at the same time against the test server, `stampede merge`
// adds them up, and in each shard and in the merged file every metric's series sums to its whole-run figures,
// the merged series to the shards' together; the merged HTML report draws the series.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <string>

#include "tests/support/child_process.h"
#include "tests/support/test_server.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string binary = STAMPEDE_BINARY;

constexpr const char* script = R"lua(
local waiting = metrics.trend("waiting", true)
local orders = metrics.counter("orders")
local ok = metrics.rate("ok")
local depth = metrics.gauge("depth")
options = { vus = 4, duration = "3s", thresholds = { ["orders{flow:buy}"] = { "count>0" } } }
function default()
  local res = http.get("/hello")
  waiting:add(res.timings.waiting)
  orders:add(1 + vu.iteration % 3, { flow = vu.iteration % 2 == 0 and "buy" or "browse" })
  ok:add(vu.iteration % 4 ~= 0)
  depth:add(vu.iteration % 11)
  sleep(0.02)
end
)lua";

// Per name: (sum of count + trues, sum of samples) over the series, and the same from "metrics".
struct totals {
  double amount = 0;
  int64_t samples = 0;
  bool operator==(const totals&) const = default;
};

std::map<std::string, totals> series_totals(const json::object& results) {
  std::map<std::string, totals> out;
  for (const auto& row : results.at("metric_intervals").as_array()) {
    const json::object& o = row.as_object();
    totals& t = out[std::string(o.at("name").as_string())];
    if (const auto* c = o.if_contains("count")) t.amount += c->to_number<double>();
    if (const auto* c = o.if_contains("trues")) t.amount += c->to_number<double>();
    t.samples += o.at("samples").to_number<int64_t>();
  }
  return out;
}

std::map<std::string, totals> whole_run_totals(const json::object& results) {
  std::map<std::string, totals> out;
  for (const auto& m : results.at("metrics").as_array()) {
    const json::object& o = m.as_object();
    totals& t = out[std::string(o.at("name").as_string())];
    if (const auto* c = o.if_contains("count")) t.amount += c->to_number<double>();
    if (const auto* c = o.if_contains("trues")) t.amount += c->to_number<double>();
    t.samples += o.at("samples").to_number<int64_t>();
  }
  return out;
}

TEST(custom_metric_shards, two_shards_and_their_merge_keep_series_that_add_up) {
  stampede::testing::test_server server;
  stampede::testing::temp_dir dir("stampede-metric-shards");
  const fs::path lua = dir.path() / "shard.lua";
  { std::ofstream(lua) << script; }
  pid_t shards[2];
  for (int i = 0; i < 2; ++i) {
    shards[i] = stampede::testing::spawn(
        {binary, "run", lua.string(), "--target", server.base_url(), "--shard", std::to_string(i) + "/2",
         "--out", (dir.path() / ("s" + std::to_string(i) + ".json")).string(), "-q"},
        dir.path() / ("s" + std::to_string(i) + ".log"));
    ASSERT_GT(shards[i], 0);
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(stampede::testing::wait_bounded(shards[i], 60s), 0)
        << stampede::testing::read_text(dir.path() / ("s" + std::to_string(i) + ".log"));
  }
  const int merged_code = stampede::testing::run_bounded(
      {binary, "merge", (dir.path() / "s0.json").string(), (dir.path() / "s1.json").string(), "-o",
       (dir.path() / "merged.json").string(), "--report", (dir.path() / "report").string()},
      dir.path() / "merge.log", 60s);
  ASSERT_EQ(merged_code, 0) << stampede::testing::read_text(dir.path() / "merge.log");

  std::map<std::string, totals> shard_sum;
  for (const char* name : {"s0.json", "s1.json", "merged.json"}) {
    SCOPED_TRACE(name);
    const json::object results = json::parse(stampede::testing::read_text(dir.path() / name)).as_object();
    const auto series = series_totals(results);
    const auto whole = whole_run_totals(results);
    EXPECT_EQ(series, whole);
    for (const char* metric : {"waiting", "orders", "orders{flow:buy}", "ok", "depth"}) {
      ASSERT_TRUE(whole.contains(metric)) << metric;
      EXPECT_GT(whole.at(metric).samples, 0) << metric;
    }
    if (std::string(name) != "merged.json") {
      for (const auto& [metric, t] : series) {
        shard_sum[metric].amount += t.amount;
        shard_sum[metric].samples += t.samples;
      }
    } else {
      EXPECT_EQ(series, shard_sum);
    }
  }
  const std::string html = stampede::testing::read_text(dir.path() / "report" / "report.html");
  EXPECT_NE(html.find("Custom metrics over time"), std::string::npos);
  EXPECT_NE(html.find("orders{flow:buy} per second"), std::string::npos);
}

}  // namespace
