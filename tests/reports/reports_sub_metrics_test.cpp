// Custom metrics in `stampede compare` (their rows, directions and verdicts) and tag-set sub-metrics in
// `stampede merge` (thresholds re-evaluated exactly from the shards' tagged steps, checks and "metrics").
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>

#include "common/hdr_histogram.h"
#include "reports/compare.h"
#include "reports/merge.h"
#include "reports/results.h"
#include "results/evaluate.h"
#include "synthetic_results.h"

namespace stampede::reports {
namespace {

using results::metric_result;
using testing::build_results_text;
using testing::lognormal_run;

// A trend of n values evenly spread over [low, high] (the metric's unit), as loadgen writes it (x 1000).
metric_result trend(std::string name, double low, double high, int n = 1000, bool is_time = true) {
  hdr_histogram h(1, 1'000'000'000'000'000, 3);
  for (int i = 0; i < n; ++i) h.record(std::llround((low + (high - low) * i / (n - 1)) * 1000.0));
  metric_result m;
  m.metric = name.substr(0, name.find('{'));
  m.name = std::move(name);
  m.type = "trend";
  m.is_time = is_time;
  m.samples = n;
  m.histogram = h.encode_compressed_base64();
  m.stats = latency_stats::of(h);
  return m;
}

metric_result counter(std::string name, double count, double duration_s) {
  metric_result m;
  m.metric = name.substr(0, name.find('{'));
  m.name = std::move(name);
  m.type = "counter";
  m.samples = static_cast<int64_t>(count);
  m.count = count;
  m.rate = count / duration_s;
  return m;
}

metric_result rate(std::string name, int64_t trues, int64_t samples) {
  metric_result m;
  m.metric = name.substr(0, name.find('{'));
  m.name = std::move(name);
  m.type = "rate";
  m.samples = samples;
  m.trues = trues;
  m.rate = static_cast<double>(trues) / static_cast<double>(samples);
  return m;
}

metric_result gauge(std::string name, double value) {
  metric_result m;
  m.name = m.metric = std::move(name);
  m.type = "gauge";
  m.samples = 10;
  m.value = m.min = m.max = value;
  return m;
}

// One 20 s run of GET /a (the same requests on every call: built-in rows do not move) with custom metrics.
run_results run_with(std::vector<metric_result> metrics, std::vector<threshold_result> thresholds = {}) {
  run_results r = parse_results(build_results_text(lognormal_run(77, 20, 50, {"GET /a"})));
  r.metrics = std::move(metrics);
  r.thresholds = std::move(thresholds);
  return r;
}

// A row of a temporary comparison would dangle (ASan caught three): name the comparison first.
const metric_comparison& row(comparison&&, std::string_view, std::string_view) = delete;
const metric_comparison& row(const comparison& c, std::string_view step, std::string_view metric) {
  for (const auto& r : c.rows) {
    if (r.step == step && r.metric == metric) return r;
  }
  throw std::runtime_error("no row " + std::string(step) + " " + std::string(metric));
}

std::vector<metric_result> shop_metrics(double login_scale, double orders, int64_t ok, double queue) {
  return {trend("login_time", 10 * login_scale, 30 * login_scale), counter("orders", orders, 20),
          rate("login_ok", ok, 1000), gauge("queue", queue), trend("cart_size", 1, 5, 200, false)};
}

TEST(reports_compare_custom_metrics, nothing_changed_is_no_regression) {
  const std::vector<run_results> base{run_with(shop_metrics(1, 600, 990, 3))};
  const std::vector<run_results> same{run_with(shop_metrics(1, 600, 990, 3))};
  const comparison c = compare_runs(base, same, parse_budget(default_budget));
  EXPECT_FALSE(c.regression());
  size_t custom = 0;
  for (const auto& r : c.rows) {
    if (r.kind.empty()) continue;
    ++custom;
    EXPECT_EQ(r.verdict, comparison_verdict::no_change) << r.step << " " << r.metric;
    EXPECT_DOUBLE_EQ(r.change, 0) << r.step << " " << r.metric;
  }
  // login_time and cart_size: p50 and p99 (the default budget's latency items); orders, login_ok, queue: one
  // each.
  EXPECT_EQ(custom, 7u);
  EXPECT_EQ(row(c, "orders", "rate/s").baseline, 30);
  EXPECT_EQ(row(c, "login_ok", "rate").baseline, 0.99);
  EXPECT_EQ(row(c, "queue", "value").current, 3);
  const std::string md = render_comparison_markdown(c);
  EXPECT_EQ(md.rfind("## ✅ No regression", 0), 0u) << md;
  EXPECT_NE(md.find("### Custom metrics"), std::string::npos);
  EXPECT_NE(md.find("| login_time | trend | p99 (ms) | 29.8 | 29.8 | 0% | — | +10% |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("higher (a trend: higher is worse, as latency)"), std::string::npos);
  EXPECT_NE(md.find("| orders | counter | rate/s | 30/s | 30/s |"), std::string::npos) << md;
  EXPECT_NE(md.find("| cart_size | trend | p50 | 2.991 | 2.991 |"), std::string::npos) << md;
  EXPECT_NE(md.find("— (no threshold on it in current)"), std::string::npos);
}

TEST(reports_compare_custom_metrics, a_slower_custom_trend_is_a_regression) {
  const std::vector<run_results> base{run_with(shop_metrics(1, 600, 990, 3))};
  const std::vector<run_results> slow{run_with(shop_metrics(1.5, 600, 990, 3))};
  const comparison c = compare_runs(base, slow, parse_budget(default_budget));
  EXPECT_TRUE(c.regression());
  const auto& p99 = row(c, "login_time", "p99");
  EXPECT_EQ(p99.verdict, comparison_verdict::regression);
  EXPECT_NEAR(p99.change, 50, 0.2);
  EXPECT_NE(p99.note.find("noise unknown"), std::string::npos);  // single runs: the budget decides
  EXPECT_EQ(row(c, "cart_size", "p99").verdict, comparison_verdict::no_change);
  for (const auto& r : c.rows) {  // the built-in rows compare the same requests
    if (r.kind.empty()) {
      EXPECT_EQ(r.verdict, comparison_verdict::no_change) << r.step << " " << r.metric;
    }
  }
  const std::string md = render_comparison_markdown(c);
  EXPECT_EQ(md.rfind("## ❌ Regression: 2 of", 0), 0u) << md;  // p50 and p99 of login_time
  const std::string junit = render_comparison_junit(c);
  const size_t at = junit.find("name=\"metric login_time: p99\"");
  ASSERT_NE(at, std::string::npos) << junit;
  EXPECT_NE(junit.find("<failure type=\"regression\"", at), std::string::npos);
  EXPECT_NE(junit.find("worse when higher", at), std::string::npos);

  // Repeated runs: Welch's test on the runs' values, as the built-in rows.
  std::vector<run_results> b3, c3;
  for (double s : {1.0, 1.01, 0.99}) b3.push_back(run_with(shop_metrics(s, 600, 990, 3)));
  for (double s : {1.3, 1.31, 1.29}) c3.push_back(run_with(shop_metrics(s, 600, 990, 3)));
  const comparison repeated = compare_runs(b3, c3, parse_budget(default_budget));
  const auto& p50 = row(repeated, "login_time", "p50");
  EXPECT_EQ(p50.verdict, comparison_verdict::regression);
  EXPECT_TRUE(p50.significant);
  EXPECT_TRUE(p50.note.empty()) << p50.note;
  EXPECT_NEAR(p50.change, 30, 0.5);
}

TEST(reports_compare_custom_metrics, counters_rates_and_gauges_take_their_direction_from_current_thresholds) {
  const std::vector<run_results> base{run_with(shop_metrics(1, 600, 990, 3))};
  // Fewer orders, fewer successful logins, a longer queue; thresholds say which way is worse for two of them.
  const std::vector<threshold_result> thresholds{{"orders", "count>100"}, {"login_ok", "rate>0.95"}};
  const std::vector<run_results> worse{run_with(shop_metrics(1, 300, 800, 9), thresholds)};
  const comparison c = compare_runs(base, worse, parse_budget(default_budget));
  const auto& orders = row(c, "orders", "rate/s");
  EXPECT_EQ(orders.worse, metric_direction::lower_is_worse);
  EXPECT_EQ(orders.worse_because, "threshold orders count>100 in current");
  EXPECT_NEAR(orders.change, -50, 1e-9);
  EXPECT_EQ(orders.budget.amount, -5);  // the magnitude of the budget's rps item
  EXPECT_TRUE(orders.significant);      // Poisson noise of 600 and 300 orders
  EXPECT_EQ(orders.verdict, comparison_verdict::regression);
  const auto& ok = row(c, "login_ok", "rate");
  EXPECT_NEAR(ok.change, -19, 1e-9);  // points
  EXPECT_EQ(ok.budget.unit, budget_unit::points);
  EXPECT_EQ(ok.verdict, comparison_verdict::regression);
  // No threshold on the gauge: its change is reported, never judged.
  const auto& queue = row(c, "queue", "value");
  EXPECT_FALSE(queue.worse.has_value());
  EXPECT_NEAR(queue.change, 200, 1e-9);
  EXPECT_EQ(queue.verdict, comparison_verdict::changed);

  // The same changes the other way round are improvements; without thresholds, only changes.
  const std::vector<run_results> better{run_with(shop_metrics(1, 1200, 999, 1), thresholds)};
  const comparison up = compare_runs(base, better, parse_budget(default_budget));
  EXPECT_EQ(row(up, "orders", "rate/s").verdict, comparison_verdict::improvement);
  EXPECT_FALSE(up.regression());
  const std::vector<run_results> unjudged{run_with(shop_metrics(1, 300, 800, 9))};
  const comparison plain = compare_runs(base, unjudged, parse_budget(default_budget));
  EXPECT_FALSE(plain.regression());
  EXPECT_EQ(row(plain, "orders", "rate/s").verdict, comparison_verdict::changed);
  EXPECT_EQ(row(plain, "login_ok", "rate").verdict, comparison_verdict::changed);
  // A threshold on the sub-metric wins over none: direction of "orders{flow:buy}" from its own threshold.
  const std::vector<run_results> sub_base{run_with({counter("orders{flow:buy}", 100, 20)})};
  const std::vector<run_results> sub_cur{
      run_with({counter("orders{flow:buy}", 200, 20)}, {{"orders{flow:buy}", "count<150"}})};
  const comparison sub_compared = compare_runs(sub_base, sub_cur, parse_budget(default_budget));
  const auto& sub = row(sub_compared, "orders{flow:buy}", "rate/s");
  EXPECT_EQ(sub.worse, metric_direction::higher_is_worse);
  EXPECT_EQ(sub.verdict, comparison_verdict::regression);
}

TEST(reports_compare_custom_metrics, a_metric_of_one_side_only_is_listed_not_an_error) {
  const std::vector<run_results> base{run_with({trend("login_time", 10, 30), counter("old_counter", 5, 20)})};
  const std::vector<run_results> cur{run_with({trend("login_time", 10, 30), rate("new_rate", 1, 2)})};
  const comparison c = compare_runs(base, cur, parse_budget(default_budget));
  EXPECT_FALSE(c.failed());
  EXPECT_EQ(row(c, "old_counter", "rate/s").verdict, comparison_verdict::missing);
  EXPECT_EQ(row(c, "old_counter", "rate/s").note, "only in baseline");
  EXPECT_EQ(row(c, "new_rate", "rate").note, "only in current");
  // Declared on both sides but never added to in current: listed as such, not as a metric of one side.
  metric_result idle = counter("idle", 0, 20);
  const std::vector<run_results> idle_base{run_with({counter("idle", 4, 20)})}, idle_cur{run_with({idle})};
  const comparison idle_c = compare_runs(idle_base, idle_cur, parse_budget(default_budget));
  EXPECT_EQ(row(idle_c, "idle", "rate/s").note, "no samples in current");
  EXPECT_FALSE(idle_c.failed());
  const std::string junit = render_comparison_junit(c);
  EXPECT_NE(junit.find("<skipped message=\"only in current\"/>"), std::string::npos) << junit;
  EXPECT_NE(
      render_comparison_markdown(c).find("| new_rate | rate | rate | | | | | | — (no threshold on it in "
                                         "current) | missing <small>(only in current)</small> |"),
      std::string::npos)
      << render_comparison_markdown(c);
}

// ------------------------------------------------------------------------------------------------- merge

step_result tagged(std::string name, int64_t requests, int64_t errors) {
  step_result s;
  s.name = std::move(name);
  s.kind = "tagged";
  s.requests = requests;
  s.errors = errors;
  hdr_histogram h;
  for (int64_t i = 0; i < requests; ++i) h.record(1000 + i * 100);
  s.histogram = h.encode_compressed_base64();
  return s;
}

TEST(reports_merge_sub_metrics, tag_set_thresholds_are_re_evaluated_exactly_on_the_merged_shards) {
  const std::vector<threshold_result> thresholds{
      {"http_reqs{status:200}", "count==150"},               // 100 + 50
      {"http_reqs{status:200}", "rate>=7"},                  // 150 over 20 s
      {"http_reqs{name:GET /a}", "count>0"},                 // a request step
      {"http_req_failed{status:200}", "rate<0.1"},           // (0 + 10) / 150
      {"iteration_duration{scenario:browse}", "p(99)<250"},  // shard 0: 100 ms, shard 1: 300 ms
      {"iterations{scenario:browse}", "count==100"},         // 40 + 60
      {"checks{scenario:browse}", "rate>0.9"},               // 9/10 + 1/10
      {"checks{check:ok}", "rate>0.5"},                      // 10/15
      {"http_req_waiting{status:200}", "p(95)<100"},         // phases of tag sets are not in the file
  };
  std::vector<run_results> shards;
  for (int i = 0; i < 2; ++i) {
    auto run = lognormal_run(90 + static_cast<uint64_t>(i), 20, 20, {"GET /a"});
    run.shard_count = 2;
    run.shard_index = i;
    run.run_id = "run-" + std::to_string(i);
    run_results r = parse_results(build_results_text(run));
    r.steps.push_back(tagged("{status:200}", i == 0 ? 100 : 50, i == 0 ? 0 : 10));
    r.metrics = {trend("iteration_duration{scenario:browse}", i == 0 ? 100 : 300, i == 0 ? 100 : 300, 50),
                 counter("iterations{scenario:browse}", i == 0 ? 40 : 60, 20),
                 rate("checks{scenario:browse}", i == 0 ? 9 : 1, 10)};
    r.checks = {{"ok", "", i == 0 ? 5 : 5, i == 0 ? 5 : 0}};
    for (auto t : thresholds) {  // each shard's own verdict: failed, but for the one merge cannot re-evaluate
      t.ok = t.metric == "http_req_waiting{status:200}";
      r.thresholds.push_back(t);
    }
    shards.push_back(std::move(r));
  }
  const merge_output out = merge_results(shards);
  const run_results merged = parse_results(out.document);
  ASSERT_EQ(merged.thresholds.size(), thresholds.size());
  auto verdict = [&](std::string_view metric, std::string_view expression) {
    for (const auto& t : merged.thresholds) {
      if (t.metric == metric && t.expression == expression) return t;
    }
    throw std::runtime_error("no threshold");
  };
  for (const auto& t : thresholds) {
    const threshold_result v = verdict(t.metric, t.expression);
    if (t.metric == "http_req_waiting{status:200}") {
      EXPECT_EQ(v.re_evaluated, false);
      EXPECT_TRUE(v.ok);  // the AND of the shards' verdicts
      continue;
    }
    EXPECT_EQ(v.re_evaluated, true) << t.metric << " " << t.expression;
    EXPECT_EQ(v.ok,
              t.metric != "checks{scenario:browse}" && t.metric != "iteration_duration{scenario:browse}")
        << t.metric << " " << t.expression;
  }
  EXPECT_DOUBLE_EQ(*verdict("http_reqs{status:200}", "count==150").observed, 150);
  EXPECT_DOUBLE_EQ(*verdict("http_reqs{status:200}", "rate>=7").observed, 150 / merged.duration_s);
  EXPECT_DOUBLE_EQ(*verdict("http_req_failed{status:200}", "rate<0.1").observed, 10.0 / 150);
  EXPECT_NEAR(*verdict("iteration_duration{scenario:browse}", "p(99)<250").observed, 300, 0.3);
  EXPECT_DOUBLE_EQ(*verdict("iterations{scenario:browse}", "count==100").observed, 100);
  EXPECT_DOUBLE_EQ(*verdict("checks{scenario:browse}", "rate>0.9").observed, 0.5);
  EXPECT_DOUBLE_EQ(*verdict("checks{check:ok}", "rate>0.5").observed, 10.0 / 15);
  // The merged sub-metrics are in "metrics" for the next merge or report.
  ASSERT_EQ(merged.metrics.size(), 3u);
  EXPECT_EQ(merged.metrics[1].count, 100);
  EXPECT_EQ(merged.metrics[2].trues, 10);
  EXPECT_EQ(
      std::count_if(out.warnings.begin(), out.warnings.end(),
                    [](const std::string& w) { return w.find("was not re-evaluated") != std::string::npos; }),
      1);
}

}  // namespace
}  // namespace stampede::reports
