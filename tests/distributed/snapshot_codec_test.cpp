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
