// Sub-metrics of the built-in iteration metrics while the load runs (docs/SCENARIOS.md, "Tags"): workers hand
// their samples over every second like custom metrics', so abortOnFail (and delayAbortEval) thresholds on
// "iteration_duration{scenario:...}" and "checks{...}" stop a run against the test server early, and their
// per-second series ("metric_intervals") add up exactly to the end-of-run figures. Also the interval
// roll-over without a run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/hdr_histogram.h"
#include "loadgen/builtin_sub_metrics.h"
#include "loadgen/run.h"
#include "tests/loadgen/live_run_support.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using test::run_result;

results::metric_selector selector(const std::string& text) {
  return results::parse_metric_selector(text, results::metric_catalogue::builtin());
}

// ---- the intervals, without a run ----

TEST(builtin_sub_metrics_intervals, rolled_intervals_merge_to_the_whole_run_exactly) {
  builtin_sub_metrics worker;
  for (const char* text : {"iteration_duration{scenario:slow}", "iterations{scenario:slow}",
                           "dropped_iterations{scenario:slow}", "checks{scenario:slow}"}) {
    worker.track(selector(text));
  }
  builtin_sub_metrics seconds;  // every interval merged, as the coordinator's live view
  builtin_sample_tags slow{.scenario = "slow"}, fast{.scenario = "fast"};
  for (int second = 0; second < 4; ++second) {
    for (int i = 0; i < 5 * (second + 1); ++i) {
      worker.record_iteration(1000 * (i + 1) + second, slow);
      worker.record_iteration(7, fast);  // another tag set: in no sub-metric
      worker.record_dropped(slow);
      builtin_sample_tags check = slow;
      check.check = "ok";
      check.group = "";
      worker.record_check(i % 3 != 0, check);
    }
    builtin_sub_metrics rolled = worker.roll_interval();
    EXPECT_FALSE(rolled.empty());
    const auto rows = rolled.to_intervals(second);
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[1].name, "iterations{scenario:slow}");
    EXPECT_EQ(rows[1].count, 5 * (second + 1));
    EXPECT_EQ(rows[1].t, second);
    seconds.merge(rolled);
  }
  EXPECT_TRUE(worker.roll_interval().empty());  // nothing since the last roll-over
  const results::aggregation count{results::aggregation_method::count};
  const results::aggregation p95{results::aggregation_method::percentile, 95};
  const results::aggregation rate{results::aggregation_method::rate};
  for (const char* text : {"iterations{scenario:slow}", "dropped_iterations{scenario:slow}"}) {
    EXPECT_EQ(worker.value(selector(text), count, 4), 50) << text;  // 5 + 10 + 15 + 20
    EXPECT_EQ(seconds.value(selector(text), count, 4), 50) << text;
  }
  EXPECT_EQ(seconds.value(selector("iteration_duration{scenario:slow}"), p95, 4),
            worker.value(selector("iteration_duration{scenario:slow}"), p95, 4));
  EXPECT_EQ(seconds.value(selector("checks{scenario:slow}"), rate, 4),
            worker.value(selector("checks{scenario:slow}"), rate, 4));
  const auto whole = worker.to_results(4), merged = seconds.to_results(4);
  ASSERT_EQ(whole.size(), merged.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(whole[i].histogram, merged[i].histogram) << whole[i].name;
    EXPECT_EQ(whole[i].samples, merged[i].samples) << whole[i].name;
    EXPECT_EQ(whole[i].trues, merged[i].trues) << whole[i].name;
  }
}

// ---- through a run against the test server ----

using builtin_sub_metrics_live = test::live_run_test;

// Two scenarios for up to `duration`: "slow" iterations sleep 400 ms, "fast" ones 20 ms; in "fast" every
// third check fails, in "slow" none does.
std::string two_scenarios(std::string_view thresholds, std::string_view duration = "20s") {
  const std::string d(duration);
  return R"lua(
options = {
  scenarios = {
    slow = { executor = "constant-vus", vus = 1, duration = ")lua" +
         d + R"lua(", exec = "slow" },
    fast = { executor = "constant-vus", vus = 2, duration = ")lua" +
         d + R"lua(", exec = "fast" },
  },
  thresholds = )lua" +
         std::string(thresholds) + R"lua(,
}
function slow()
  local res = http.get("/hello")
  check(res, { ["status is 200"] = function(r) return r.status == 200 end })
  sleep(0.4)
end
function fast()
  local res = http.get("/hello")
  check(res, { ["every third fails"] = function(r) return vu.iteration % 3 ~= 0 end })
  sleep(0.02)
end
)lua";
}

TEST_F(builtin_sub_metrics_live, abort_on_fail_on_a_scenarios_iteration_duration_stops_the_run_with_99) {
  const auto r = run(two_scenarios(R"({
    ["iteration_duration{scenario:slow}"] = { { threshold = "p(95)<300", abortOnFail = true } },
    ["iteration_duration{scenario:fast}"] = { { threshold = "p(95)<300", abortOnFail = true } },
  })"));
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err;
  ASSERT_TRUE(r.has_results());
  // Crossed from the first slow iteration on; the live evaluation (every 2 s) stops it long before 20 s.
  EXPECT_LT(duration(r), 8.0);
  const auto& aborted = r.root().at("meta").at("aborted");
  ASSERT_TRUE(aborted.is_object());
  EXPECT_EQ(aborted.at("reason").as_string(), "threshold");
  const std::string detail(aborted.at("detail").as_string());
  EXPECT_NE(detail.find("iteration_duration{scenario:slow} p(95)<300"), std::string::npos) << detail;
  EXPECT_FALSE(threshold(r, "iteration_duration{scenario:slow}").at("ok").as_bool());
  EXPECT_GE(threshold(r, "iteration_duration{scenario:slow}").at("observed").to_number<double>(), 400);
  EXPECT_TRUE(threshold(r, "iteration_duration{scenario:fast}").at("ok").as_bool());
}

TEST_F(builtin_sub_metrics_live, abort_on_fail_on_a_scenarios_checks_rate_stops_the_run_with_99) {
  const auto r = run(two_scenarios(R"({
    ["checks{scenario:fast}"] = { { threshold = "rate>0.9", abortOnFail = true } },
    ["checks{scenario:slow}"] = { { threshold = "rate==1", abortOnFail = true } },
  })"));
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_LT(duration(r), 8.0);
  const std::string detail(r.root().at("meta").at("aborted").at("detail").as_string());
  EXPECT_NE(detail.find("checks{scenario:fast} rate>0.9"), std::string::npos) << detail;
  const auto& fast = threshold(r, "checks{scenario:fast}");
  EXPECT_FALSE(fast.at("ok").as_bool());
  EXPECT_NEAR(fast.at("observed").to_number<double>(), 2.0 / 3.0, 0.05);  // every third fails
  EXPECT_TRUE(threshold(r, "checks{scenario:slow}").at("ok").as_bool());
}

TEST_F(builtin_sub_metrics_live, delay_abort_eval_holds_the_abort_until_its_delay) {
  const auto r = run(two_scenarios(R"({
    ["iteration_duration{scenario:slow}"] = { { threshold = "p(95)<300", abortOnFail = true,
                                               delayAbortEval = "5s" } },
  })"));
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err;
  ASSERT_TRUE(r.has_results());
  // Crossed at the first live evaluation (2 s), not acted on before 5 s; the next one (6 s) stops it.
  EXPECT_GE(duration(r), 5.0);
  EXPECT_LT(duration(r), 14.0);
  EXPECT_EQ(r.root().at("meta").at("aborted").at("reason").as_string(), "threshold");
}

// The whole-run metrics too: iteration_duration and checks (also by check name) are in the live view.
TEST_F(builtin_sub_metrics_live, abort_on_fail_on_the_whole_iteration_duration_stops_the_run_with_99) {
  const auto r = run(two_scenarios(R"({
    iteration_duration = { { threshold = "max<300", abortOnFail = true } },
  })"));
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_LT(duration(r), 8.0);
  const std::string detail(r.root().at("meta").at("aborted").at("detail").as_string());
  EXPECT_NE(detail.find("iteration_duration max<300"), std::string::npos) << detail;
}

TEST_F(builtin_sub_metrics_live, checks_that_pass_never_stop_the_run_and_failing_ones_do) {
  // Every check of "slow" passes: a live rate of 1, not the 0 of an empty sink.
  const auto held = run(two_scenarios(R"({
    ["checks{check:status is 200}"] = { { threshold = "rate>0.9", abortOnFail = true } },
  })",
                                      "3s"));
  EXPECT_EQ(held.exit_code, exit_ok) << held.err;
  ASSERT_TRUE(held.has_results());
  EXPECT_TRUE(not_aborted(held));
  EXPECT_GE(duration(held), 3.0);
  // All checks: a third of "fast"'s fail.
  const auto crossed =
      run(two_scenarios(R"({ checks = { { threshold = "rate>0.9", abortOnFail = true } } })"));
  EXPECT_EQ(crossed.exit_code, exit_thresholds_crossed) << crossed.err;
  ASSERT_TRUE(crossed.has_results());
  EXPECT_LT(duration(crossed), 8.0);
  const std::string detail(crossed.root().at("meta").at("aborted").at("detail").as_string());
  EXPECT_NE(detail.find("checks rate>0.9"), std::string::npos) << detail;
}

// Nothing crossed: the run completes (exit 0), and the per-second series add up to the end-of-run figures.
TEST_F(builtin_sub_metrics_live, thresholds_that_hold_let_the_run_complete_and_series_add_up) {
  const auto r = run(two_scenarios(R"({
    ["iteration_duration{scenario:slow}"] = { { threshold = "p(95)<60000", abortOnFail = true } },
    ["iterations{scenario:fast}"] = { { threshold = "count<1000000", abortOnFail = true } },
    ["dropped_iterations{scenario:fast}"] = { { threshold = "count==0", abortOnFail = true } },
    ["checks{scenario:slow}"] = { { threshold = "rate==1", abortOnFail = true } },
  })",
                                   "3s"),
                     2);
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_TRUE(not_aborted(r));
  EXPECT_GE(duration(r), 3.0);

  const auto slow = series(r, "iteration_duration{scenario:slow}");
  ASSERT_GE(slow.size(), 2u);
  hdr_histogram added(1, trend_highest, 3);
  int64_t samples = 0;
  for (const auto& row : slow) {
    const auto h = hdr_histogram::decode_base64(std::string(row.at("histogram").as_string()));
    ASSERT_TRUE(h);
    added.add(*h);
    samples += row.at("samples").to_number<int64_t>();
  }
  const json::object* whole_slow = metric(r, "iteration_duration{scenario:slow}");
  ASSERT_NE(whole_slow, nullptr);
  const auto whole = hdr_histogram::decode_base64(std::string(whole_slow->at("histogram").as_string()));
  ASSERT_TRUE(whole);
  EXPECT_EQ(added, *whole);
  EXPECT_EQ(samples, whole_slow->at("samples").to_number<int64_t>());
  EXPECT_GE(samples, 5);  // ~7 iterations of 420 ms in 3 s

  double iterations = 0;
  for (const auto& row : series(r, "iterations{scenario:fast}"))
    iterations += row.at("count").to_number<double>();
  EXPECT_EQ(iterations, metric(r, "iterations{scenario:fast}")->at("count").to_number<double>());
  EXPECT_GT(iterations, 50);
  int64_t trues = 0, checks = 0;
  for (const auto& row : series(r, "checks{scenario:slow}")) {
    trues += row.at("trues").to_number<int64_t>();
    checks += row.at("samples").to_number<int64_t>();
  }
  EXPECT_EQ(trues, checks);
  EXPECT_EQ(trues, metric(r, "checks{scenario:slow}")->at("trues").to_number<int64_t>());
  EXPECT_TRUE(series(r, "dropped_iterations{scenario:fast}").empty());  // constant-vus drops nothing
}

}  // namespace
}  // namespace stampede::loadgen
