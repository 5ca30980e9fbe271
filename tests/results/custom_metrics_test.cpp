// Custom metrics in results files (results/custom_metrics.h): encode/decode round trip, the exact merge of
// shards with known values, and thresholds on them re-evaluated from a file (what `stampede merge` does).
#include "results/custom_metrics.h"

#include <gtest/gtest.h>

#include "common/hdr_histogram.h"
#include "results/evaluate.h"

namespace stampede::results {
namespace {

metric_result trend(std::string name, int64_t from, int64_t to) {
  hdr_histogram h(1, 1'000'000'000'000'000, 3);
  for (int64_t v = from; v <= to; ++v) h.record(v * 1000);  // value x 1000, as loadgen records
  metric_result m;
  m.name = name;
  m.metric = name.substr(0, name.find('{'));
  m.type = "trend";
  m.is_time = true;
  m.samples = h.total_count();
  m.histogram = h.encode_compressed_base64();
  m.stats = latency_stats::of(h);
  return m;
}

run_results shard(int64_t from, int64_t to, double counter, int64_t trues, int64_t samples, double gauge,
                  int64_t gauge_at) {
  run_results r;
  r.duration_s = 10;
  r.metrics.push_back(trend("wait", from, to));
  r.metrics.push_back(trend("wait{flow:buy}", from, from));
  metric_result c{.name = "orders", .metric = "orders", .type = "counter", .samples = 3, .count = counter};
  metric_result rate{.name = "ok", .metric = "ok", .type = "rate", .samples = samples, .trues = trues};
  metric_result g{.name = "depth", .metric = "depth", .type = "gauge", .samples = 2, .value = gauge,
                  .min = gauge - 1, .max = gauge + 1, .last_unix_us = gauge_at};
  r.metrics.insert(r.metrics.end(), {c, rate, g});
  return r;
}

TEST(custom_metrics_results, round_trip_through_the_json_document) {
  const run_results r = shard(1, 100, 12.5, 3, 4, 7, 1234);
  const run_results back = parse_results(encode(r));
  EXPECT_EQ(back.metrics, r.metrics);
}

TEST(custom_metrics_results, a_bad_metrics_entry_is_refused_naming_it) {
  run_results r = shard(1, 2, 1, 1, 1, 1, 1);
  r.metrics[3].type = "histogram";
  try {
    parse_results(encode(r));
    FAIL() << "accepted";
  } catch (const results_error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics[3].type"), std::string::npos) << e.what();
  }
}

TEST(custom_metrics_results, shards_merge_exactly) {
  const run_results a = shard(1, 500, 10, 3, 4, 7, 2000);  // gauge 7 added last (t=2000)
  const run_results b = shard(501, 1000, 5, 1, 4, 9, 1000);
  std::vector<metric_result> merged;
  merge_metrics(merged, a.metrics, 10);
  merge_metrics(merged, b.metrics, 10);
  const run_results whole = shard(1, 1000, 15, 4, 8, 7, 2000);
  ASSERT_EQ(merged.size(), 5u);
  EXPECT_EQ(merged[0].histogram, whole.metrics[0].histogram);  // added histograms: exact
  EXPECT_EQ(merged[0].samples, 1000);
  EXPECT_EQ(merged[1].samples, 2);  // the sub-metric merges on its own
  EXPECT_EQ(merged[2].count, 15);
  EXPECT_DOUBLE_EQ(merged[2].rate, 1.5);
  EXPECT_EQ(merged[3].trues, 4);
  EXPECT_DOUBLE_EQ(merged[3].rate, 0.5);
  EXPECT_EQ(merged[4].value, 7);  // the latest by wall clock, not the last merged
  EXPECT_EQ(merged[4].min, 6);
  EXPECT_EQ(merged[4].max, 10);
  std::vector<metric_result> clash = merged;
  std::vector<metric_result> other = {metric_result{.name = "orders", .metric = "orders", .type = "gauge"}};
  EXPECT_THROW(merge_metrics(clash, other, 10), results_error);
}

TEST(custom_metrics_results, thresholds_on_custom_metrics_are_re_evaluated_from_the_file) {
  const run_results r = shard(1, 1000, 15, 3, 4, 7, 2000);
  const auto p95 = evaluate_threshold(r, "wait", "p(95)<900");
  ASSERT_TRUE(p95.evaluated);
  EXPECT_FALSE(p95.ok);
  EXPECT_NEAR(*p95.observed, 950, 1);
  EXPECT_TRUE(evaluate_threshold(r, "wait{flow:buy}", "max<2").ok);
  EXPECT_TRUE(evaluate_threshold(r, "wait{flow:buy}", "max<2").evaluated);
  EXPECT_FALSE(evaluate_threshold(r, "wait{flow:browse}", "max<2").evaluated);  // not recorded
  EXPECT_TRUE(evaluate_threshold(r, "orders", "count==15").ok);
  EXPECT_TRUE(evaluate_threshold(r, "orders", "rate==1.5").ok);
  EXPECT_FALSE(evaluate_threshold(r, "ok", "rate>0.99").ok);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "ok", "rate>0.99").observed, 0.75);
  EXPECT_TRUE(evaluate_threshold(r, "depth", "value<8").ok);
  EXPECT_FALSE(evaluate_threshold(r, "nothing", "value<8").evaluated);
  EXPECT_FALSE(evaluate_threshold(r, "orders", "p(95)<1").evaluated);  // not an aggregation of counters
}

}  // namespace
}  // namespace stampede::results
