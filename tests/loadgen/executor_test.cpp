// The executors' arithmetic (loadgen/executor.h): pure functions, checked against closed forms.
#include "loadgen/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace stampede::loadgen {
namespace {

using namespace std::chrono_literals;

scenario_options constant_rate(double rate, nanos duration, nanos time_unit = 1s) {
  scenario_options s;
  s.executor = executor_kind::constant_arrival_rate;
  s.rate = rate;
  s.duration = duration;
  s.time_unit = time_unit;
  s.pre_allocated_vus = 1;
  return s;
}

scenario_options ramping_rate(double start_rate, std::vector<stage> stages, nanos time_unit = 1s) {
  scenario_options s;
  s.executor = executor_kind::ramping_arrival_rate;
  s.start_rate = start_rate;
  s.stages = std::move(stages);
  s.time_unit = time_unit;
  s.pre_allocated_vus = 1;
  return s;
}

// Every arrival time of a schedule, in order.
std::vector<double> all_arrivals(const arrival_schedule& schedule) {
  std::vector<double> out;
  for (int64_t k = 0;; ++k) {
    auto t = schedule.time_of(k);
    if (!t) break;
    out.push_back(*t);
    if (out.size() > 1'000'000) break;  // guard against a runaway schedule
  }
  return out;
}

// ---- share_of ----

TEST(share_of, slots_add_up_exactly_and_differ_by_at_most_one) {
  for (int64_t total = 0; total <= 60; ++total) {
    for (int64_t count = 1; count <= 7; ++count) {
      int64_t sum = 0;
      for (int64_t index = 0; index < count; ++index) {
        const int64_t share = share_of(total, {index, count});
        EXPECT_GE(share, total / count);
        EXPECT_LE(share, total / count + 1);
        // The remainder goes to the first slots.
        EXPECT_EQ(share, total / count + (index < total % count ? 1 : 0))
            << total << " " << index << "/" << count;
        sum += share;
      }
      EXPECT_EQ(sum, total) << total << " over " << count;
    }
  }
}

TEST(share_of, degenerate_inputs_give_zero) {
  EXPECT_EQ(share_of(10, {0, 0}), 0);
  EXPECT_EQ(share_of(10, {0, -1}), 0);
  EXPECT_EQ(share_of(0, {0, 3}), 0);
  EXPECT_EQ(share_of(-5, {0, 1}), 0);
  EXPECT_EQ(share_of(1, {1, 2}), 0);
  EXPECT_EQ(share_of(1, {0, 2}), 1);
}

// ---- shared_iterations_share ----

TEST(shared_iterations_share, slots_run_exactly_the_iterations_and_only_slots_with_a_vu_get_any) {
  for (int64_t iterations = 0; iterations <= 40; ++iterations) {
    for (int64_t vus = 1; vus <= 9; ++vus) {
      for (int64_t count = 1; count <= 12; ++count) {  // workers x shards, more or fewer than the VUs
        int64_t sum = 0;
        for (int64_t index = 0; index < count; ++index) {
          const slot s{index, count};
          const int64_t share = shared_iterations_share(iterations, vus, s);
          if (share_of(vus, s) == 0) {
            EXPECT_EQ(share, 0) << iterations << "/" << vus << " slot " << index << "/" << count;
          }
          // Each VU of the slot has iterations / vus or one more.
          EXPECT_GE(share, share_of(vus, s) * (iterations / vus));
          EXPECT_LE(share, share_of(vus, s) * (iterations / vus + 1));
          sum += share;
        }
        EXPECT_EQ(sum, iterations) << iterations << " iterations, " << vus << " VUs, " << count << " slots";
      }
    }
  }
}

TEST(shared_iterations_share, the_reported_cases) {
  // 1 VU x 5 iterations on 2 and 4 threads, 3 VUs x 10 on 4 threads: all on the slots that hold VUs.
  EXPECT_EQ(shared_iterations_share(5, 1, {0, 2}), 5);
  EXPECT_EQ(shared_iterations_share(5, 1, {1, 2}), 0);
  EXPECT_EQ(shared_iterations_share(10, 3, {0, 4}), 4);
  EXPECT_EQ(shared_iterations_share(10, 3, {1, 4}), 3);
  EXPECT_EQ(shared_iterations_share(10, 3, {2, 4}), 3);
  EXPECT_EQ(shared_iterations_share(10, 3, {3, 4}), 0);
  EXPECT_EQ(shared_iterations_share(10, 0, {0, 1}), 0);
  EXPECT_EQ(shared_iterations_share(-1, 2, {0, 1}), 0);
}

// ---- arrival_schedule: constant rate ----

TEST(arrival_schedule, constant_rate_puts_arrival_k_at_k_over_rate) {
  const arrival_schedule schedule(constant_rate(10, 2s));
  EXPECT_DOUBLE_EQ(schedule.duration(), 2.0);
  for (int64_t k = 0; k < 20; ++k) {
    auto t = schedule.time_of(k);
    ASSERT_TRUE(t.has_value()) << k;
    EXPECT_NEAR(*t, static_cast<double>(k) / 10.0, 1e-12) << k;
  }
  // Arrival 20 would fall exactly at the end: not part of the test.
  EXPECT_FALSE(schedule.time_of(20).has_value());
  EXPECT_FALSE(schedule.time_of(1000).has_value());
  EXPECT_FALSE(schedule.time_of(-1).has_value());
  EXPECT_EQ(all_arrivals(schedule).size(), 20u);
}

TEST(arrival_schedule, constant_rate_cumulative_is_the_integral) {
  const arrival_schedule schedule(constant_rate(10, 2s));
  EXPECT_DOUBLE_EQ(schedule.cumulative(-1), 0);
  EXPECT_DOUBLE_EQ(schedule.cumulative(0), 0);
  EXPECT_NEAR(schedule.cumulative(0.35), 3.5, 1e-12);
  EXPECT_NEAR(schedule.cumulative(1.0), 10, 1e-12);
  EXPECT_NEAR(schedule.cumulative(2.0), 20, 1e-12);
  EXPECT_NEAR(schedule.cumulative(5.0), 20, 1e-12);  // nothing after the end
  EXPECT_DOUBLE_EQ(schedule.rate_at(0.5), 10);
  EXPECT_DOUBLE_EQ(schedule.rate_at(2.5), 0);
}

TEST(arrival_schedule, time_unit_scales_the_rate) {
  // 90 per minute = 1.5 per second.
  const arrival_schedule schedule(constant_rate(90, 4s, 1min));
  EXPECT_NEAR(schedule.rate_at(1), 1.5, 1e-12);
  EXPECT_NEAR(schedule.cumulative(4), 6, 1e-12);
  const auto arrivals = all_arrivals(schedule);
  ASSERT_EQ(arrivals.size(), 6u);
  for (size_t k = 0; k < arrivals.size(); ++k) EXPECT_NEAR(arrivals[k], static_cast<double>(k) / 1.5, 1e-12);
}

TEST(arrival_schedule, fractional_total_keeps_only_arrivals_inside) {
  // 2.5 arrivals expected in 1 s: arrivals at 0, 0.4, 0.8 and none at 1.2.
  const arrival_schedule schedule(constant_rate(2.5, 1s));
  const auto arrivals = all_arrivals(schedule);
  ASSERT_EQ(arrivals.size(), 3u);
  EXPECT_NEAR(arrivals[1], 0.4, 1e-12);
  EXPECT_NEAR(arrivals[2], 0.8, 1e-12);
}

TEST(arrival_schedule, zero_rate_has_no_arrivals) {
  const arrival_schedule schedule(constant_rate(0, 3s));
  EXPECT_FALSE(schedule.time_of(0).has_value());
  EXPECT_DOUBLE_EQ(schedule.cumulative(10), 0);
}

// ---- arrival_schedule: ramping rate ----

TEST(arrival_schedule, ramp_from_zero_follows_the_closed_form) {
  // rate(t) = 5 t for t in [0, 2]: cumulative 2.5 t^2, arrival k at sqrt(k / 2.5), 10 arrivals.
  const arrival_schedule schedule(ramping_rate(0, {{2s, 10}}));
  EXPECT_DOUBLE_EQ(schedule.duration(), 2.0);
  for (double t : {0.0, 0.3, 1.0, 1.7, 2.0}) EXPECT_NEAR(schedule.cumulative(t), 2.5 * t * t, 1e-9) << t;
  EXPECT_NEAR(schedule.rate_at(1.2), 6.0, 1e-12);
  const auto arrivals = all_arrivals(schedule);
  ASSERT_EQ(arrivals.size(), 10u);
  for (size_t k = 0; k < arrivals.size(); ++k) {
    EXPECT_NEAR(arrivals[k], std::sqrt(static_cast<double>(k) / 2.5), 1e-9) << k;
  }
}

TEST(arrival_schedule, ramp_down_and_zero_rate_stage_and_ramp_up) {
  // 10/s for 1 s (10 arrivals), 10 -> 0 over 1 s (5), 0 for 1 s (none), 0 -> 20 over 1 s (10).
  const arrival_schedule schedule(ramping_rate(10, {{1s, 10}, {1s, 0}, {1s, 0}, {1s, 20}}));
  EXPECT_DOUBLE_EQ(schedule.duration(), 4.0);
  EXPECT_NEAR(schedule.cumulative(1), 10, 1e-9);
  EXPECT_NEAR(schedule.cumulative(1.5), 10 + 10 * 0.5 - 5 * 0.25, 1e-9);  // 10 + (10 tau - 5 tau^2)
  EXPECT_NEAR(schedule.cumulative(2), 15, 1e-9);
  EXPECT_NEAR(schedule.cumulative(2.7), 15, 1e-9);
  EXPECT_NEAR(schedule.cumulative(3.5), 15 + 10 * 0.25, 1e-9);  // 15 + 10 tau^2
  EXPECT_NEAR(schedule.cumulative(4), 25, 1e-9);
  EXPECT_DOUBLE_EQ(schedule.rate_at(2.5), 0);

  const auto arrivals = all_arrivals(schedule);
  ASSERT_EQ(arrivals.size(), 25u);
  int in_first = 0, in_down = 0, in_zero = 0, in_up = 0;
  for (size_t k = 0; k < arrivals.size(); ++k) {
    const double t = arrivals[k];
    if (k > 0) {
      EXPECT_GT(t, arrivals[k - 1]) << k;
    }
    // Each arrival sits where the integral reaches k.
    EXPECT_NEAR(schedule.cumulative(t), static_cast<double>(k), 1e-6) << k;
    if (t < 1) {
      ++in_first;
    } else if (t < 2) {
      ++in_down;
    } else if (t < 3) {
      in_zero += t > 2 ? 1 : 0;
    } else {
      ++in_up;
    }
  }
  EXPECT_EQ(in_first, 10);
  EXPECT_EQ(in_down, 5);
  EXPECT_EQ(in_zero, 0);  // a zero-rate stage schedules nothing
  EXPECT_EQ(in_up, 10);
  EXPECT_FALSE(schedule.time_of(25).has_value());
}

TEST(arrival_schedule, zero_length_stage_jumps_the_rate) {
  // A 0 s stage to 20 acts as a step: afterwards 20/s from 20.
  const arrival_schedule schedule(ramping_rate(0, {{0s, 20}, {1s, 20}}));
  const auto arrivals = all_arrivals(schedule);
  ASSERT_EQ(arrivals.size(), 20u);
  EXPECT_NEAR(arrivals[1], 0.05, 1e-12);
}

// ---- slot_arrivals ----

TEST(slot_arrivals, slots_together_reproduce_the_global_schedule_exactly) {
  const std::vector<scenario_options> scenarios = {constant_rate(37, 3s), constant_rate(2.5, 1s),
                                                   ramping_rate(0, {{2s, 50}, {1s, 50}, {1s, 5}}),
                                                   ramping_rate(10, {{1s, 10}, {1s, 0}, {1s, 0}, {1s, 20}})};
  for (const auto& scenario : scenarios) {
    const arrival_schedule schedule(scenario);
    const auto global = all_arrivals(schedule);
    for (int64_t count = 1; count <= 5; ++count) {
      std::vector<double> merged;
      for (int64_t index = 0; index < count; ++index) {
        slot_arrivals it(schedule, {index, count});
        int64_t mine = 0;
        double previous = -1;
        while (auto t = it.next()) {
          EXPECT_GE(*t, previous);  // each slot's own arrivals are in order
          previous = *t;
          merged.push_back(*t);
          ++mine;
        }
        EXPECT_EQ(mine, share_of(static_cast<int64_t>(global.size()), {index, count}));
        EXPECT_FALSE(it.next().has_value());  // stays at the end
      }
      std::sort(merged.begin(), merged.end());
      EXPECT_EQ(merged, global) << "slots: " << count;  // bit-identical, not merely close
    }
  }
}

// ---- ramping_vus_target ----

TEST(ramping_vus_target, interpolates_linearly_between_stages) {
  scenario_options s;
  s.executor = executor_kind::ramping_vus;
  s.start_vus = 0;
  s.stages = {{1s, 10}, {1s, 10}, {2s, 0}};
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 0), 0);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 0.5), 5);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 1.0), 10);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 1.5), 10);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 3.0), 5);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 4.0), 0);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 100), 0);  // after the last stage: its target
  EXPECT_EQ(s.max_vus_needed(), 10);
  EXPECT_EQ(s.planned_duration(), 4s);
}

TEST(ramping_vus_target, starts_from_start_vus_and_skips_zero_length_stages) {
  scenario_options s;
  s.executor = executor_kind::ramping_vus;
  s.start_vus = 3;
  s.stages = {{1s, 7}};
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 0), 3);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 0.25), 4);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 2), 7);

  s.start_vus = 1;
  s.stages = {{0s, 5}, {1s, 5}};
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 0), 5);
  EXPECT_DOUBLE_EQ(ramping_vus_target(s, 0.5), 5);
}

TEST(scenario_options, planned_duration_and_max_vus_per_executor) {
  scenario_options s = constant_rate(10, 3s);
  s.pre_allocated_vus = 4;
  s.max_vus = 9;
  EXPECT_EQ(s.planned_duration(), 3s);
  EXPECT_EQ(s.max_vus_needed(), 9);
  s = ramping_rate(0, {{1s, 5}, {2s, 5}});
  EXPECT_EQ(s.planned_duration(), 3s);
  s.executor = executor_kind::per_vu_iterations;
  s.vus = 6;
  s.max_duration = 42s;
  EXPECT_EQ(s.planned_duration(), 42s);
  EXPECT_EQ(s.max_vus_needed(), 6);
}

}  // namespace
}  // namespace stampede::loadgen
