// The planned load written into the results (scenarios[i].load): curves of every executor.
#include "loadgen/load_plan.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string points(const scenario_options& s) { return json::serialize(planned_load_json(s).at("points")); }

TEST(load_plan, closed_models_plan_vus_from_their_start) {
  scenario_options s;
  s.executor = executor_kind::constant_vus;
  s.vus = 8;
  s.duration = 30s;
  s.start_time = 2s;
  EXPECT_EQ(points(s), "[[2E0,8E0],[3.2E1,8E0]]");
  EXPECT_EQ(planned_load_json(s).at("unit"), "vus");
  EXPECT_EQ(planned_load_json(s).at("ends"), "planned");

  s.executor = executor_kind::ramping_vus;
  s.start_vus = 0;
  s.stages = {{10s, 20}, {5s, 20}, {5s, 0}};
  EXPECT_EQ(points(s), "[[2E0,0E0],[1.2E1,2E1],[1.7E1,2E1],[2.2E1,0E0]]");
}

TEST(load_plan, open_models_plan_arrivals_per_second) {
  scenario_options s;
  s.executor = executor_kind::ramping_arrival_rate;
  s.start_rate = 60;
  s.time_unit = 1min;  // 60 per minute = 1 per second
  s.stages = {{10s, 600}};
  EXPECT_EQ(points(s), "[[0E0,1E0],[1E1,1E1]]");
  EXPECT_EQ(planned_load_json(s).at("unit"), "arrivals_per_s");
}

TEST(load_plan, iteration_executors_end_when_done) {
  scenario_options s;
  s.executor = executor_kind::per_vu_iterations;
  s.vus = 200;
  s.iterations = 1;
  s.start_time = 7s;
  s.max_duration = 20s;
  EXPECT_EQ(points(s), "[[7E0,2E2],[2.7E1,2E2]]");
  EXPECT_EQ(planned_load_json(s).at("ends"), "when_done");
}

}  // namespace
}  // namespace stampede::loadgen
