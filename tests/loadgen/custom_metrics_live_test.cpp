// Custom metrics while the load runs (docs/SCENARIOS.md, "Custom metrics"): workers hand their samples over
// every second, so abortOnFail (and delayAbortEval) thresholds on custom metrics and their sub-metrics stop a
// run against the test server early, and the results' per-second series ("metric_intervals", docs/RESULTS.md)
// add up exactly to the end-of-run figures. Also the registry's interval roll-over, without a run.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/hdr_histogram.h"
#include "loadgen/custom_metrics.h"
#include "loadgen/run.h"
#include "tests/loadgen/live_run_support.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using results::metric_type;
using test::run_result;

// ---- the registry's intervals, without a run ----

TEST(custom_metrics_intervals, rolled_intervals_merge_to_the_whole_run_exactly) {
  custom_metrics worker;
  const size_t trend = worker.declare("t", metric_type::trend, true);
  const size_t counter = worker.declare("c", metric_type::counter, false);
  const size_t rate = worker.declare("r", metric_type::rate, false);
  const size_t gauge = worker.declare("g", metric_type::gauge, false);
  worker.track(results::parse_metric_selector("c{flow:buy}", worker.catalogue()));
  const std::pair<std::string_view, std::string_view> buy[] = {{"flow", "buy"}};
  custom_metrics seconds;  // every interval merged, as the coordinator's live view
  int64_t clock = 1'000'000;
  for (int second = 0; second < 5; ++second) {
    for (int i = 0; i < 7 * (second + 1); ++i) {
      worker.add(trend, 10.0 * (i + 1) + second, clock, {});
      worker.add(counter, i % 3, clock, i % 2 == 0 ? sample_tags(buy) : sample_tags{});
      worker.add(rate, i % 4 != 0, clock, {});
      // The same microsecond for every gauge sample of a second, and the clock going back in second 3: the
      // last sample added still wins, in the whole run and in the merged seconds.
      worker.add(gauge, 100.0 - i - second, second == 3 ? clock - 500'000 : clock, {});
    }
    custom_metrics rolled = worker.roll_interval();
    EXPECT_FALSE(rolled.empty());
    seconds.merge(rolled);
    clock += 1'000'000;
  }
  EXPECT_TRUE(worker.roll_interval().empty());  // nothing since the last roll-over
  const custom_metric& whole_t = *worker.find("t");
  const custom_metric& sum_t = *seconds.find("t");
  EXPECT_EQ(*whole_t.all.histogram, *sum_t.all.histogram);
  EXPECT_EQ(whole_t.all.samples, sum_t.all.samples);
  EXPECT_EQ(worker.find("c")->all.sum, seconds.find("c")->all.sum);
  EXPECT_EQ(worker.find("c")->subs.at(0).sink.sum, seconds.find("c")->subs.at(0).sink.sum);
  EXPECT_EQ(worker.find("c")->subs.at(0).sink.samples, seconds.find("c")->subs.at(0).sink.samples);
  EXPECT_EQ(worker.find("r")->all.trues, seconds.find("r")->all.trues);
  const custom_sink& whole_g = worker.find("g")->all;
  const custom_sink& sum_g = seconds.find("g")->all;
  EXPECT_EQ(whole_g.last, 100.0 - 34 - 4);  // the last sample added: i = 34 of second 4
  EXPECT_EQ(sum_g.last, whole_g.last);
  EXPECT_EQ(sum_g.last_unix_us, whole_g.last_unix_us);
  EXPECT_EQ(sum_g.min, whole_g.min);
  EXPECT_EQ(sum_g.max, whole_g.max);
}

TEST(custom_metrics_intervals, a_second_lists_only_what_was_added_in_it) {
  custom_metrics worker;
  const size_t a = worker.declare("a", metric_type::counter, false);
  worker.declare("b", metric_type::trend, false);
  worker.add(a, 2, 1, {});
  const custom_metrics rolled = worker.roll_interval();
  ASSERT_EQ(rolled.metrics().size(), 1u);
  EXPECT_EQ(rolled.metrics()[0]->name, "a");
  const auto rows = to_intervals(rolled, 7);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].name, "a");
  EXPECT_EQ(rows[0].t, 7);
  EXPECT_EQ(rows[0].type, "counter");
  EXPECT_EQ(rows[0].count, 2);
  EXPECT_EQ(rows[0].samples, 1);
}

TEST(custom_metrics_intervals, seconds_of_several_workers_add_up_by_name) {
  custom_metrics first, second;
  const size_t t1 = first.declare("t", metric_type::trend, false);
  const size_t c1 = first.declare("c", metric_type::counter, false);
  const size_t c2 = second.declare("c", metric_type::counter, false);  // declared in another order
  const size_t g2 = second.declare("g", metric_type::gauge, false);
  const size_t t2 = second.declare("t", metric_type::trend, false);
  for (int i = 0; i < 10; ++i) {
    first.add(t1, i, 0, {});
    first.add(c1, 1, 0, {});
    second.add(t2, 100 + i, 0, {});
    second.add(c2, 2, 0, {});
    second.add(g2, i, 50 + i, {});
  }
  const custom_metrics a = first.roll_interval(), b = second.roll_interval();
  std::vector<results::metric_interval> rows;
  add_to_second(rows, a, 3);
  add_to_second(rows, b, 3);
  custom_metrics merged;
  merged.merge(a);
  merged.merge(b);
  const auto expected = to_intervals(merged, 3);
  ASSERT_EQ(rows.size(), 3u);  // c, g, t: by name
  ASSERT_EQ(rows.size(), expected.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].name, expected[i].name);
    EXPECT_EQ(rows[i].samples, expected[i].samples);
    EXPECT_EQ(rows[i].count, expected[i].count);
    EXPECT_EQ(rows[i].value, expected[i].value);
    EXPECT_EQ(rows[i].last_unix_us, expected[i].last_unix_us);
  }
  EXPECT_EQ(rows[0].count, 30);
  EXPECT_EQ(rows[1].value, 9);
  EXPECT_EQ(*hdr_histogram::decode_base64(rows[2].histogram), *merged.find("t")->all.histogram);
}

// ---- through a run against the test server ----

using custom_metrics_live = test::live_run_test;

// Two VUs order about 60 times a second (half of them "buy"), for up to 20 s.
std::string orders_script(std::string_view thresholds, std::string_view duration = "20s") {
  return std::string(R"lua(
local orders = metrics.counter("orders")
options = { vus = 2, duration = ")lua") +
         std::string(duration) + R"lua(", thresholds = )lua" + std::string(thresholds) + R"lua( }
function default()
  local res = http.get("/hello")
  if res.status == 200 then orders:add(1, { flow = vu.iteration % 2 == 0 and "buy" or "browse" }) end
  sleep(0.03)
end
)lua";
}

TEST_F(custom_metrics_live, an_abort_on_fail_counter_threshold_stops_the_run_with_99_and_names_it) {
  struct case_ {
    const char* metric;
    const char* expression;
  };
  for (const case_& c : {case_{"orders", "count<40"}, case_{"orders{flow:buy}", "count<20"}}) {
    const auto r = run(orders_script(std::string("{ [\"") + c.metric + "\"] = { { threshold = \"" +
                                     c.expression + "\", abortOnFail = true } } }"));
    EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << c.metric << r.err;
    ASSERT_TRUE(r.has_results()) << c.metric;
    // Crossed within the first second or so; the live evaluation (every 2 s) stops it long before 20 s.
    EXPECT_LT(duration(r), 8.0) << c.metric;
    const auto& aborted = r.root().at("meta").at("aborted");
    ASSERT_TRUE(aborted.is_object()) << c.metric;
    EXPECT_EQ(aborted.at("reason").as_string(), "threshold");
    const std::string detail(aborted.at("detail").as_string());
    EXPECT_NE(detail.find(std::string(c.metric) + " " + c.expression), std::string::npos) << detail;
    const auto& t = r.root().at("thresholds").at(0);
    EXPECT_FALSE(t.at("ok").as_bool());
    EXPECT_TRUE(t.at("abort_on_fail").as_bool());
  }
}

TEST_F(custom_metrics_live, delay_abort_eval_holds_a_custom_metric_abort_until_its_delay) {
  const auto r = run(orders_script(R"({ orders = { { threshold = "count<40", abortOnFail = true,
                                        delayAbortEval = "3s" } } })"));
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err;
  ASSERT_TRUE(r.has_results());
  // Crossed at the first live evaluation (2 s), not acted on before 3 s; the next one (4 s) stops it.
  EXPECT_GE(duration(r), 3.0);
  EXPECT_LT(duration(r), 12.0);
  EXPECT_EQ(r.root().at("meta").at("aborted").at("reason").as_string(), "threshold");
}

TEST_F(custom_metrics_live, abort_on_fail_thresholds_that_hold_let_the_run_complete) {
  const auto r = run(orders_script(R"({ orders = { { threshold = "count<1000000", abortOnFail = true } },
      ["orders{flow:buy}"] = { { threshold = "count>=0", abortOnFail = true } } })",
                                   "3s"));
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results());
  const json::value* aborted = r.root().at("meta").as_object().if_contains("aborted");
  EXPECT_TRUE(aborted == nullptr || aborted->is_null());
  EXPECT_GE(duration(r), 3.0);
  EXPECT_GT(metric(r, "orders")->at("count").to_number<double>(), 20);
}

// A metric whose first sample comes only after 3 s is not judged live before it (as k6 skips empty sinks):
// "rate>0.9" and "count>5" on empty sinks would read 0 and abort a run that ends up holding both.
TEST_F(custom_metrics_live, a_metric_without_samples_yet_is_not_judged_during_the_run) {
  const auto r = run(R"lua(
local paid = metrics.rate("paid")
local orders = metrics.counter("orders")
options = { vus = 1, duration = "5s", thresholds = {
  paid = { { threshold = "rate>0.9", abortOnFail = true } },
  orders = { { threshold = "count>5", abortOnFail = true } } } }
function default()
  if vu.iteration == 0 then sleep(3.2) end
  http.get("/hello")
  paid:add(true)
  orders:add(1)
  sleep(0.05)
end
)lua");
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_GE(duration(r), 5.0);
  const json::value* aborted = r.root().at("meta").as_object().if_contains("aborted");
  EXPECT_TRUE(aborted == nullptr || aborted->is_null());
  EXPECT_GT(metric(r, "orders")->at("count").to_number<double>(), 5);
}

// abortOnFail on a metric the live figures lack is judged at the end only, and the run says so at the start.
TEST_F(custom_metrics_live, abort_on_fail_on_a_metric_not_judged_live_is_announced) {
  const auto r = run(R"lua(
options = { vus = 1, duration = "1s", thresholds = {
  http_req_waiting = { { threshold = "p(95)<60000", abortOnFail = true } },
  http_req_duration = { { threshold = "p(95)<60000", abortOnFail = true } } } }
function default() http.get("/hello") sleep(0.1) end
)lua");
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  EXPECT_NE(r.err.find("warning: thresholds['http_req_waiting']: abortOnFail is judged at the end of the run only"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("thresholds['http_req_duration']"), std::string::npos) << r.err;
}

// At the end of the run a metric that never had a sample is judged (count-like: 0), as k6 does.
TEST_F(custom_metrics_live, a_metric_that_never_had_a_sample_is_judged_at_the_end) {
  const auto r = run(R"lua(
local orders = metrics.counter("orders")
options = { vus = 1, duration = "2s", thresholds = { orders = { { threshold = "count>0", abortOnFail = true } } } }
function default() http.get("/hello") sleep(0.1) end
)lua");
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_GE(duration(r), 2.0);  // not aborted: judged once, at the end
  EXPECT_FALSE(r.root().at("thresholds").at(0).at("ok").as_bool());
}

// Every type over ~3 s on two threads: the per-second rows add up to the end-of-run figures exactly.
TEST_F(custom_metrics_live, per_second_series_add_up_to_the_end_of_run_figures) {
  const auto r = run(R"lua(
local waiting = metrics.trend("waiting", true)
local orders = metrics.counter("orders")
local ok = metrics.rate("ok")
local depth = metrics.gauge("depth")
options = { vus = 4, duration = "3s", thresholds = { ["orders{flow:buy}"] = { "count>0" } } }
function default()
  local res = http.get("/hello")
  waiting:add(res.timings.waiting)
  orders:add(vu.id, { flow = vu.id % 2 == 0 and "buy" or "browse" })
  ok:add(vu.iteration % 3 ~= 0)
  depth:add(vu.iteration)
  sleep(0.02)
end
)lua",
                     2);
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  const auto orders = series(r, "orders");
  ASSERT_GE(orders.size(), 3u);  // seconds 0, 1, 2 (and the last partial one)
  double count = 0;
  int64_t samples = 0;
  for (const auto& row : orders) {
    count += row.at("count").to_number<double>();
    samples += row.at("samples").to_number<int64_t>();
  }
  EXPECT_EQ(count, metric(r, "orders")->at("count").to_number<double>());
  EXPECT_EQ(samples, metric(r, "orders")->at("samples").to_number<int64_t>());
  double buy = 0;
  for (const auto& row : series(r, "orders{flow:buy}")) buy += row.at("count").to_number<double>();
  EXPECT_EQ(buy, metric(r, "orders{flow:buy}")->at("count").to_number<double>());
  EXPECT_GT(buy, 0);

  hdr_histogram added(1, trend_highest, 3);
  for (const auto& row : series(r, "waiting")) {
    const auto h = hdr_histogram::decode_base64(std::string(row.at("histogram").as_string()));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->total_count(), row.at("samples").to_number<int64_t>());
    added.add(*h);
  }
  const auto whole =
      hdr_histogram::decode_base64(std::string(metric(r, "waiting")->at("histogram").as_string()));
  ASSERT_TRUE(whole);
  EXPECT_EQ(added, *whole);

  int64_t trues = 0;
  for (const auto& row : series(r, "ok")) trues += row.at("trues").to_number<int64_t>();
  EXPECT_EQ(trues, metric(r, "ok")->at("trues").to_number<int64_t>());

  const auto depth = series(r, "depth");
  ASSERT_FALSE(depth.empty());
  const json::object* latest = &depth.front();
  double lowest = depth.front().at("min").to_number<double>();
  for (const auto& row : depth) {
    if (row.at("last_unix_us").to_number<int64_t>() > latest->at("last_unix_us").to_number<int64_t>())
      latest = &row;
    lowest = std::min(lowest, row.at("min").to_number<double>());
  }
  EXPECT_EQ(latest->at("value").to_number<double>(), metric(r, "depth")->at("value").to_number<double>());
  EXPECT_EQ(lowest, 0);
  // Rows are by second, then name; no row without samples.
  int64_t previous_t = -1;
  for (const auto& row : r.root().at("metric_intervals").as_array()) {
    EXPECT_GE(row.at("t").to_number<int64_t>(), previous_t);
    previous_t = row.at("t").to_number<int64_t>();
    EXPECT_GT(row.at("samples").to_number<int64_t>(), 0);
  }
}

}  // namespace
}  // namespace stampede::loadgen
