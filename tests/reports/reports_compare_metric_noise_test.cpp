// `stampede compare` with single runs: the noise of a custom trend (block bootstrap over its per-second
// histograms) and of a gauge (the spread of its per-second readings) from the results' "metric_intervals",
// so a noisy trend or gauge that did not change is not flagged, and a clear shift is.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/hdr_histogram.h"
#include "reports/compare.h"
#include "reports/results.h"
#include "synthetic_results.h"

namespace stampede::reports {
namespace {

using results::metric_interval;
using results::metric_result;
using testing::build_results_text;
using testing::lognormal_run;

// One 60 s run of GET /a (the same requests on every call) plus a custom time trend "wait": 40 samples a
// second, lognormal around a level that drifts from second to second (AR(1) on its logarithm), times
// `shift`. Its per-second histograms add up to the whole-run one, as loadgen writes them.
run_results run_with_trend(uint64_t seed, double shift) {
  run_results r = parse_results(build_results_text(lognormal_run(77, 60, 20, {"GET /a"})));
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, 1);
  hdr_histogram whole(1, 1'000'000'000'000'000, 3);
  double level = 0;
  for (int t = 0; t < 60; ++t) {
    level = 0.8 * level + 0.2 * normal(rng);
    hdr_histogram second(1, 1'000'000'000'000'000, 3);
    for (int i = 0; i < 40; ++i) {
      const double ms = 100 * shift * std::exp(level + 0.5 * normal(rng));
      second.record(std::llround(ms * 1000));
    }
    whole.add(second);
    metric_interval row;
    row.name = "wait";
    row.t = t;
    row.type = "trend";
    row.samples = 40;
    row.histogram = second.encode_compressed_base64();
    r.metric_intervals.push_back(std::move(row));
  }
  metric_result m;
  m.name = m.metric = "wait";
  m.type = "trend";
  m.is_time = true;
  m.samples = whole.total_count();
  m.histogram = whole.encode_compressed_base64();
  m.stats = latency_stats::of(whole);
  r.metrics.push_back(std::move(m));
  return r;
}

// The same run with a gauge "queue" read each second, uniform in [low, high]; its value (the last reading)
// is `last`. A threshold "value<1000" says higher is worse.
run_results run_with_gauge(uint64_t seed, double low, double high, double last) {
  run_results r = parse_results(build_results_text(lognormal_run(77, 60, 20, {"GET /a"})));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> reading(low, high);
  for (int t = 0; t < 60; ++t) {
    metric_interval row;
    row.name = "queue";
    row.t = t;
    row.type = "gauge";
    row.samples = 1;
    row.value = row.min = row.max = t == 59 ? last : reading(rng);
    r.metric_intervals.push_back(std::move(row));
  }
  metric_result m;
  m.name = m.metric = "queue";
  m.type = "gauge";
  m.samples = 60;
  m.value = last;
  m.min = low;
  m.max = high;
  r.metrics.push_back(std::move(m));
  r.thresholds.push_back({"queue", "value<1000"});
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

TEST(reports_compare_metric_noise, a_noisy_unchanged_trend_is_not_flagged_and_a_clear_shift_is) {
  const std::vector<run_results> base{run_with_trend(1, 1.0)};
  // Another run of the same process: its p99 moves beyond the 10% budget by noise alone (which a comparison
  // without the per-second series would call a regression).
  const std::vector<run_results> same{run_with_trend(4, 1.0)};
  const comparison c = compare_runs(base, same, parse_budget(default_budget));
  const auto& p99 = row(c, "wait", "p99");
  ASSERT_GT(p99.change, 10) << "the precondition: a noise-only change beyond the budget";
  EXPECT_TRUE(p99.noise_known);
  EXPECT_FALSE(p99.significant);
  EXPECT_EQ(p99.verdict, comparison_verdict::no_change);
  EXPECT_NE(p99.note.find("beyond budget but within noise"), std::string::npos) << p99.note;
  EXPECT_LT(p99.ci_low, 0);  // the interval covers no change
  EXPECT_EQ(row(c, "wait", "p50").verdict, comparison_verdict::no_change);
  EXPECT_FALSE(c.regression());
  // Without per-second series (a file of an earlier version) the noise is unknown: the budget alone decides.
  std::vector<run_results> old_base = base, old_same = same;
  old_base[0].metric_intervals.clear();
  old_same[0].metric_intervals.clear();
  const comparison old_files = compare_runs(old_base, old_same, parse_budget(default_budget));
  const auto& unknown = row(old_files, "wait", "p99");
  EXPECT_FALSE(unknown.noise_known);
  EXPECT_EQ(unknown.verdict, comparison_verdict::regression);

  // Twice as slow: a regression, with a known noise.
  const std::vector<run_results> slow{run_with_trend(4, 2.0)};
  const comparison s = compare_runs(base, slow, parse_budget(default_budget));
  for (const char* statistic : {"p50", "p99"}) {
    const auto& r = row(s, "wait", statistic);
    EXPECT_TRUE(r.noise_known) << statistic;
    EXPECT_TRUE(r.significant) << statistic;
    EXPECT_GT(r.ci_low, 10) << statistic;
    EXPECT_EQ(r.verdict, comparison_verdict::regression) << statistic;
  }
  EXPECT_TRUE(s.regression());
}

TEST(reports_compare_metric_noise, a_noisy_unchanged_gauge_is_not_flagged_and_a_clear_shift_is) {
  const std::vector<run_results> base{run_with_gauge(1, 5, 15, 8)};
  // Read 12 at the end of a run of the same process (+50%, beyond the 5% budget): within its seconds' spread.
  const std::vector<run_results> same{run_with_gauge(2, 5, 15, 12)};
  const comparison c = compare_runs(base, same, parse_budget(default_budget));
  const auto& queue = row(c, "queue", "value");
  EXPECT_EQ(queue.worse, metric_direction::higher_is_worse);
  EXPECT_NEAR(queue.change, 50, 1e-9);
  EXPECT_TRUE(queue.noise_known);
  EXPECT_EQ(queue.verdict, comparison_verdict::no_change);
  EXPECT_FALSE(c.regression());

  const std::vector<run_results> longer{run_with_gauge(2, 80, 90, 85)};
  const comparison l = compare_runs(base, longer, parse_budget(default_budget));
  const auto& shifted = row(l, "queue", "value");
  EXPECT_TRUE(shifted.significant);
  EXPECT_EQ(shifted.verdict, comparison_verdict::regression);

  // Without per-second series (a file of an earlier version) the noise is unknown: the budget alone decides.
  std::vector<run_results> old_base = base, old_same = same;
  old_base[0].metric_intervals.clear();
  old_same[0].metric_intervals.clear();
  const comparison old_files = compare_runs(old_base, old_same, parse_budget(default_budget));
  const auto& unknown = row(old_files, "queue", "value");
  EXPECT_FALSE(unknown.noise_known);
  EXPECT_EQ(unknown.verdict, comparison_verdict::regression);
}

}  // namespace
}  // namespace stampede::reports
