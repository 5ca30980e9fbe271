// A per-second snapshot survives its JSON encoding exactly (histograms bucket for bucket), and bad input is
// refused naming the field.
#include "distributed/snapshot_codec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace stampede::distributed {
namespace {

using loadgen::interval_snapshot;

void expect_same(const hdr_histogram& a, const hdr_histogram& b) {
  EXPECT_EQ(a.total_count(), b.total_count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0})
    EXPECT_EQ(a.value_at_percentile(p), b.value_at_percentile(p)) << p;
}

interval_snapshot sample() {
  interval_snapshot s;
  s.second = 7;
  s.worker = 2;
  interval_snapshot::step get;
  get.name = "GET /hello";
  get.kind = loadgen::step_kind::request;
  for (int64_t v = 100; v < 50'000; v += 37) get.corrected.record(v);
  get.requests = 1348;
  get.errors = 3;
  get.declared = true;
  get.statuses = {{0, 0, 1345, 0, 0, 3}, {1, 0, 0, 0, 0, 0}};
  s.steps.push_back(std::move(get));
  interval_snapshot::step group;
  group.name = "::checkout";
  group.kind = loadgen::step_kind::group;
  group.corrected.record(123'456);
  group.requests = 1;
  s.steps.push_back(std::move(group));
  s.errors_by_kind[3] = 2;
  s.errors_by_kind[9] = 1;
  s.iterations = 400;
  s.dropped_iterations = 5;
  s.checks[{"::checkout", "status 200"}] = {399, 1};
  s.iteration_durations.emplace(1, 3'600'000'000, 3);
  s.iteration_durations->record(2'000);
  s.iteration_durations->record(9'000);
  s.vus = 12;
  s.vus_max = 20;
  s.event_loop_lag.record(42);
  return s;
}

TEST(snapshot_codec, round_trip_is_exact) {
  const interval_snapshot in = sample();
  // Through text, as on the wire.
  const interval_snapshot out =
      snapshot_from_json(boost::json::parse(boost::json::serialize(snapshot_to_json(in))));
  EXPECT_EQ(out.second, 7);
  EXPECT_EQ(out.worker, 2);
  ASSERT_EQ(out.steps.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(out.steps[i].name, in.steps[i].name);
    EXPECT_EQ(out.steps[i].kind, in.steps[i].kind);
    EXPECT_EQ(out.steps[i].requests, in.steps[i].requests);
    EXPECT_EQ(out.steps[i].errors, in.steps[i].errors);
    EXPECT_EQ(out.steps[i].declared, in.steps[i].declared);
    EXPECT_EQ(out.steps[i].statuses, in.steps[i].statuses);
    expect_same(out.steps[i].corrected, in.steps[i].corrected);
  }
  EXPECT_EQ(out.errors_by_kind, in.errors_by_kind);
  EXPECT_EQ(out.iterations, 400);
  EXPECT_EQ(out.dropped_iterations, 5);
  EXPECT_EQ(out.checks_total().passes, 399);
  EXPECT_EQ(out.checks_total().fails, 1);
  ASSERT_EQ(out.checks.size(), 1u);
  EXPECT_EQ((out.checks.at({"::checkout", "status 200"}).passes), 399);
  EXPECT_EQ((out.checks.at({"::checkout", "status 200"}).fails), 1);
  ASSERT_TRUE(out.iteration_durations);
  expect_same(*out.iteration_durations, *in.iteration_durations);
  EXPECT_EQ(out.vus, 12);
  EXPECT_EQ(out.vus_max, 20);
  expect_same(out.event_loop_lag, in.event_loop_lag);
}

TEST(snapshot_codec, custom_metrics_and_builtin_sub_metrics_round_trip_exactly) {
  using results::metric_type;
  interval_snapshot in;
  const size_t trend = in.custom.declare("basket_ms", metric_type::trend, true);
  const size_t counter = in.custom.declare("orders", metric_type::counter, false);
  const size_t rate = in.custom.declare("paid", metric_type::rate, false);
  const size_t gauge = in.custom.declare("queue", metric_type::gauge, false);
  in.custom.track(results::parse_metric_selector("orders{flow:buy}", in.custom.catalogue()));
  const std::pair<std::string_view, std::string_view> buy[] = {{"flow", "buy"}};
  for (int i = 1; i <= 50; ++i) {
    in.custom.add(trend, 0.25 * i, 1'000 + i, {});
    in.custom.add(counter, 0.1, 1'000 + i, buy);  // 0.1: not exact in binary, must survive the text
    in.custom.add(rate, i % 3 == 0 ? 1 : 0, 1'000 + i, {});
    in.custom.add(gauge, 100 - i, 1'000 + i, {});
  }
  in.builtin_subs.track(results::parse_metric_selector("iteration_duration{scenario:buy}"));
  in.builtin_subs.track(results::parse_metric_selector("checks{scenario:buy}"));
  in.builtin_subs.record_iteration(12'345, {.scenario = "buy"});
  in.builtin_subs.record_check(false, {.scenario = "buy", .check = "ok", .group = ""});
  in.builtin_subs.record_check(true, {.scenario = "buy", .check = "ok", .group = ""});

  const interval_snapshot out =
      snapshot_from_json(boost::json::parse(boost::json::serialize(snapshot_to_json(in))));
  ASSERT_EQ(out.custom.metrics().size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const loadgen::custom_metric& a = *in.custom.metrics()[i];
    const loadgen::custom_metric& b = *out.custom.metrics()[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.type, a.type);
    EXPECT_EQ(b.is_time, a.is_time);
    EXPECT_EQ(b.all.samples, a.all.samples);
    EXPECT_EQ(b.all.sum, a.all.sum);  // bit for bit
    EXPECT_EQ(b.all.trues, a.all.trues);
    EXPECT_EQ(b.all.last, a.all.last);
    EXPECT_EQ(b.all.min, a.all.min);
    EXPECT_EQ(b.all.max, a.all.max);
    EXPECT_EQ(b.all.last_unix_us, a.all.last_unix_us);
    ASSERT_EQ(static_cast<bool>(b.all.histogram), static_cast<bool>(a.all.histogram));
    if (a.all.histogram) expect_same(*b.all.histogram, *a.all.histogram);
  }
  const loadgen::custom_metric& orders = *out.custom.find("orders");
  ASSERT_EQ(orders.subs.size(), 1u);
  EXPECT_EQ(orders.subs[0].text, "orders{flow:buy}");
  EXPECT_EQ(orders.subs[0].sink.samples, 50);
  EXPECT_EQ(orders.subs[0].sink.sum, in.custom.find("orders")->subs[0].sink.sum);
  const results::aggregation count{.method = results::aggregation_method::count, .percentile = 0};
  EXPECT_EQ(
      out.custom.value(results::parse_metric_selector("orders{flow:buy}", out.custom.catalogue()), count, 1),
      in.custom.value(results::parse_metric_selector("orders{flow:buy}", in.custom.catalogue()), count, 1));
  const results::aggregation rate_of{.method = results::aggregation_method::rate, .percentile = 0};
  EXPECT_EQ(out.builtin_subs.value(results::parse_metric_selector("checks{scenario:buy}"), rate_of, 1), 0.5);
  const results::aggregation max{.method = results::aggregation_method::max, .percentile = 0};
  EXPECT_EQ(
      out.builtin_subs.value(results::parse_metric_selector("iteration_duration{scenario:buy}"), max, 1),
      in.builtin_subs.value(results::parse_metric_selector("iteration_duration{scenario:buy}"), max, 1));
}

TEST(snapshot_codec, a_bad_custom_metric_is_refused_naming_the_field) {
  interval_snapshot in;
  in.custom.add(in.custom.declare("orders", results::metric_type::counter, false), 1, 1, {});
  boost::json::value v = snapshot_to_json(in);
  v.as_object()["custom"].as_array()[0].as_object()["type"] = "histogram";
  try {
    snapshot_from_json(v);
    FAIL() << "accepted an unknown type";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "snapshot.custom[0].type: unknown metric type 'histogram'");
  }
  v = snapshot_to_json(in);
  v.as_object()["custom"].as_array()[0].as_object()["name"] = "http_reqs";
  EXPECT_THROW(snapshot_from_json(v), std::invalid_argument);  // a built-in name
  v = snapshot_to_json(in);
  v.as_object()["custom"].as_array()[0].as_object()["sink"].as_object().erase("sum");
  try {
    snapshot_from_json(v);
    FAIL() << "accepted a sink without its sum";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "snapshot.custom[0].sink.sum: missing");
  }
}

TEST(snapshot_codec, an_empty_second_round_trips_without_iteration_durations) {
  const interval_snapshot out = snapshot_from_json(snapshot_to_json(interval_snapshot{}));
  EXPECT_TRUE(out.steps.empty());
  EXPECT_FALSE(out.iteration_durations);
  EXPECT_EQ(out.event_loop_lag.total_count(), 0);
}

TEST(snapshot_codec, bad_input_names_the_field) {
  boost::json::value v = snapshot_to_json(sample());
  v.as_object()["steps"].as_array()[1].as_object()["corrected"] = "not base64 at all";
  try {
    snapshot_from_json(v);
    FAIL() << "accepted a bad histogram";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "snapshot.steps[1].corrected: not a V2 histogram");
  }
  v = snapshot_to_json(sample());
  v.as_object().erase("vus");
  EXPECT_THROW(snapshot_from_json(v), std::invalid_argument);
  EXPECT_THROW(snapshot_from_json(boost::json::value(3)), std::invalid_argument);
}

}  // namespace
}  // namespace stampede::distributed
