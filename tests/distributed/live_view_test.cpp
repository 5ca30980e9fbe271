// The coordinator's live view: snapshots of several shards added up exactly, per second and for thresholds.
#include "distributed/live_view.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "loadgen/options.h"

namespace stampede::distributed {
namespace {

using loadgen::interval_snapshot;

interval_snapshot second_of(int64_t second, int64_t requests, int64_t latency_us) {
  interval_snapshot s;
  s.second = second;
  interval_snapshot::step step;
  step.name = "GET /hello";
  step.kind = loadgen::step_kind::request;
  for (int64_t i = 0; i < requests; ++i) step.corrected.record(latency_us);
  step.requests = requests;
  step.statuses = {{0, 0, requests, 0, 0, 0}};
  s.steps.push_back(std::move(step));
  s.iterations = requests;
  s.vus = 2;
  return s;
}

std::vector<loadgen::threshold> thresholds(std::vector<loadgen::threshold_input> input) {
  return loadgen::build_thresholds_from_options(input);
}

TEST(live_view, shards_add_up_per_second_and_exactly) {
  live_view view;
  view.add(0, second_of(0, 90, 1'000));   // shard 0: fast
  view.add(1, second_of(0, 10, 50'000));  // shard 1: slow
  view.add(1, second_of(1, 5, 2'000));
  const boost::json::object v = view.per_second();
  EXPECT_EQ(v.at("requests").as_int64(), 105);
  const auto& rows = v.at("rows").as_array();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("requests").as_int64(), 100);
  EXPECT_EQ(rows[0].at("vus").as_int64(), 4);
  EXPECT_EQ(rows[0].at("shards").as_array().size(), 2u);
  // p50 from the fast shard, p95 from the slow one: only an exact merge gives both.
  EXPECT_NEAR(rows[0].at("latency_ms").at("p50").as_double(), 1.0, 0.001);
  EXPECT_NEAR(rows[0].at("latency_ms").at("p95").as_double(), 50.0, 0.05);
  EXPECT_EQ(view.requests(), 105);
}

TEST(live_view, thresholds_judge_the_merged_figures) {
  live_view view;
  view.add(0, second_of(0, 90, 1'000));
  view.add(1, second_of(0, 10, 50'000));
  // Shard 0 alone holds p(95)<10; merged, 10% of requests take 50 ms and it is crossed.
  const auto ts =
      thresholds({{"http_req_duration", "p(95)<10", true, {}}, {"http_reqs", "count>=100", false, {}}});
  const auto verdicts = view.evaluate(ts, 1.0);
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_FALSE(verdicts[0].ok);
  EXPECT_NEAR(*verdicts[0].observed, 50.0, 0.05);
  EXPECT_TRUE(verdicts[1].ok);
  EXPECT_EQ(*verdicts[1].observed, 100.0);
}

TEST(live_view, the_dashboard_gets_a_second_once_every_shard_moved_past_it_and_again_when_it_changes) {
  live_view view;
  const auto seconds = [](const dashboard::live_update& u) {
    std::vector<int64_t> out;
    for (const auto& s : u.seconds) out.push_back(s.second);
    return out;
  };
  view.add(0, second_of(0, 90, 1'000));
  view.add(0, second_of(1, 80, 1'000));
  view.add(1, second_of(0, 10, 50'000));
  // Shard 1 has not moved past second 0 (another of its workers may still hand it over).
  dashboard::live_update u = view.dashboard_update({}, 1.5, false);
  EXPECT_TRUE(seconds(u).empty());
  EXPECT_EQ(u.requests, 180);  // the figures so far include everything
  ASSERT_EQ(u.steps.size(), 1u);
  EXPECT_EQ(u.steps[0].requests, 180);
  view.add(1, second_of(1, 20, 2'000));
  u = view.dashboard_update({}, 2.0, false);
  ASSERT_EQ(seconds(u), std::vector<int64_t>{0});
  EXPECT_EQ(u.seconds[0].requests, 100);
  EXPECT_NEAR(u.seconds[0].latency.max, 50.0, 0.1);  // ms: the slow shard's (3 significant digits)
  EXPECT_TRUE(seconds(view.dashboard_update({}, 2.1, false)).empty());  // nothing new
  view.add(0, second_of(2, 5, 2'000));
  view.add(1, second_of(2, 5, 2'000));
  view.add(0, second_of(0, 1, 1'000));  // a worker's late snapshot of second 0: drawn again, whole
  u = view.dashboard_update({}, 2.5, false);
  EXPECT_EQ(seconds(u), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(u.seconds[0].requests, 101);
  EXPECT_EQ(u.seconds[1].requests, 100);
  EXPECT_EQ(seconds(view.dashboard_update({}, 3.0, true)), std::vector<int64_t>{2});  // the end: every second
}

}  // namespace
}  // namespace stampede::distributed
