// The per-second series of custom metrics ("metric_intervals", docs/RESULTS.md, results/metric_series.h): its
// encode/decode round trip, files without it (older versions) decoding to an empty series, errors naming the
// row, and the exact merge of rows of one second.
#include "results/metric_series.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/hdr_histogram.h"

namespace stampede::results {
namespace {

namespace json = boost::json;

std::string histogram_of(std::initializer_list<int64_t> values) {
  hdr_histogram h(1, 1'000'000'000'000'000, 3);
  for (int64_t v : values) h.record(v * 1000);
  return h.encode_compressed_base64();
}

run_results with_series() {
  run_results r;
  r.duration_s = 3;
  r.metrics.push_back({.name = "wait", .metric = "wait", .type = "trend", .is_time = true, .samples = 3});
  r.metrics.push_back({.name = "orders", .metric = "orders", .type = "counter", .samples = 3, .count = 6});
  r.metrics.push_back(
      {.name = "orders{flow:buy}", .metric = "orders", .type = "counter", .samples = 1, .count = 1});
  r.metrics.push_back({.name = "ok", .metric = "ok", .type = "rate", .samples = 3, .trues = 2});
  r.metrics.push_back({.name = "depth", .metric = "depth", .type = "gauge", .samples = 2, .value = 4});
  r.metric_intervals = {
      {.name = "depth",
       .t = 0,
       .samples = 1,
       .type = "gauge",
       .value = 3,
       .min = 3,
       .max = 3,
       .last_unix_us = 5},
      {.name = "ok", .t = 0, .samples = 2, .type = "rate", .trues = 1},
      {.name = "orders", .t = 0, .samples = 2, .type = "counter", .count = 5},
      {.name = "orders{flow:buy}", .t = 0, .samples = 1, .type = "counter", .count = 1},
      {.name = "wait", .t = 0, .samples = 2, .type = "trend", .histogram = histogram_of({10, 20})},
      {.name = "depth",
       .t = 2,
       .samples = 1,
       .type = "gauge",
       .value = 4,
       .min = 4,
       .max = 4,
       .last_unix_us = 9},
      {.name = "ok", .t = 2, .samples = 1, .type = "rate", .trues = 1},
      {.name = "orders", .t = 2, .samples = 1, .type = "counter", .count = 1},
      {.name = "wait", .t = 2, .samples = 1, .type = "trend", .histogram = histogram_of({30})},
  };
  return r;
}

TEST(metric_series, round_trip_through_the_json_document_with_only_each_types_fields) {
  const run_results r = with_series();
  const json::value doc = encode(r);
  const json::array& rows = doc.at("metric_intervals").as_array();
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_EQ(rows[2].as_object(),
            (json::object{{"name", "orders"}, {"t", 0}, {"samples", 2}, {"count", 5.0}}));
  EXPECT_FALSE(rows[1].as_object().contains("count"));  // a rate: trues only
  EXPECT_TRUE(rows[4].as_object().contains("histogram"));
  const run_results back = parse_results(json::serialize(doc));
  EXPECT_EQ(back.metric_intervals, r.metric_intervals);
}

TEST(metric_series, files_without_the_series_decode_and_re_encode_without_it) {
  run_results r = with_series();
  r.metric_intervals.clear();  // as written by versions before the series (and runs without custom metrics)
  const json::value doc = encode(r);
  EXPECT_FALSE(doc.as_object().contains("metric_intervals"));
  const run_results back = parse_results(json::serialize(doc));
  EXPECT_TRUE(back.metric_intervals.empty());
  EXPECT_EQ(back.metrics, r.metrics);
  EXPECT_FALSE(encode(back).as_object().contains("metric_intervals"));
}

TEST(metric_series, a_bad_row_is_refused_naming_it) {
  struct bad {
    const char* field;
    json::value value;
    const char* message;
  };
  for (const bad& b : {bad{"name", "orderz", "metric_intervals[2].name: \"orderz\" is not in metrics"},
                       bad{"t", -1, "metric_intervals[2].t"}, bad{"samples", -3, "metric_intervals[2]"},
                       bad{"count", "many", "metric_intervals[2].count"}}) {
    json::value doc = encode(with_series());
    doc.at("metric_intervals").as_array()[2].as_object()[b.field] = b.value;
    try {
      parse_results(json::serialize(doc));
      ADD_FAILURE() << b.field << " accepted";
    } catch (const results_error& e) {
      EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << e.what();
    }
  }
}

TEST(metric_series, rows_of_one_second_merge_exactly) {
  metric_interval into{
      .name = "wait", .t = 4, .samples = 2, .type = "trend", .histogram = histogram_of({1, 2})};
  merge_metric_interval(
      into, {.name = "wait", .t = 9, .samples = 1, .type = "trend", .histogram = histogram_of({3})});
  EXPECT_EQ(into.t, 4);
  EXPECT_EQ(into.samples, 3);
  EXPECT_EQ(*hdr_histogram::decode_base64(into.histogram),
            *hdr_histogram::decode_base64(histogram_of({1, 2, 3})));

  // Gauges: the latest value by time, a tie keeps the larger one, whatever the order.
  const metric_interval a{
      .name = "g", .samples = 1, .type = "gauge", .value = 5, .min = 5, .max = 5, .last_unix_us = 7};
  const metric_interval b{
      .name = "g", .samples = 2, .type = "gauge", .value = 2, .min = 1, .max = 9, .last_unix_us = 7};
  metric_interval ab = a, ba = b;
  merge_metric_interval(ab, b);
  merge_metric_interval(ba, a);
  EXPECT_EQ(ab, ba);
  EXPECT_EQ(ab.value, 5);
  EXPECT_EQ(ab.min, 1);
  EXPECT_EQ(ab.max, 9);
  EXPECT_EQ(ab.samples, 3);

  metric_interval typed{.name = "x", .samples = 1, .type = "counter", .count = 1};
  EXPECT_THROW(merge_metric_interval(typed, {.name = "x", .samples = 1, .type = "rate", .trues = 1}),
               results_error);
}

TEST(metric_series, files_merge_on_one_timeline) {
  const run_results a = with_series();
  run_results b = with_series();
  const int64_t offsets[] = {0, 1};  // b started a second later
  const std::vector<run_results> files{a, b};
  const auto merged = merge_metric_series(files, offsets);
  // a: seconds 0 and 2, b: 1 and 3; every (second, name) once, by second then name.
  ASSERT_EQ(merged.size(), 18u);
  EXPECT_EQ(merged[0].t, 0);
  EXPECT_EQ(merged[5].t, 1);
  EXPECT_EQ(merged[5].name, "depth");
  const std::vector<run_results> same{a, a};
  const int64_t none[] = {0, 0};
  const auto doubled = merge_metric_series(same, none);
  ASSERT_EQ(doubled.size(), 9u);
  EXPECT_EQ(doubled[2].count, 10);
  EXPECT_EQ(doubled[2].samples, 4);
  EXPECT_EQ(*hdr_histogram::decode_base64(doubled[4].histogram),
            *hdr_histogram::decode_base64(histogram_of({10, 20, 10, 20})));
}

}  // namespace
}  // namespace stampede::results
