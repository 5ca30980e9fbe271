// The autoscaler's decision engine on recorded series with known answers: flat load never decides, a 10x
// step scales out at its first tick, predictive scales a ramp before rule does, load oscillating inside the
// band never flaps, min/max clamp, cooldowns and the stabilisation window hold. Holt's forecaster alone.
#include "reference_shop/autoscaler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

namespace stampede::shop::autoscale {
namespace {

using namespace std::chrono_literals;

policy base(mode m = mode::rule) {
  policy p;
  p.kind = m;
  p.min_nodes = 2;
  p.max_nodes = 10;
  p.target_in_flight = 8;
  p.p99_threshold_ms = 500;
  p.tick = 1s;
  p.scale_out_cooldown = 5s;
  p.scale_in_cooldown = 30s;
  p.stabilisation = 30s;
  p.startup_estimate = 2s;
  return p;
}

// A steady series: `nodes` ready nodes, `rate` req/s with 100 ms in the system (in flight = rate x 0.1).
sample at(int second, int nodes, double rate, std::optional<double> p99 = 20.0) {
  return sample{std::chrono::seconds{second}, nodes, nodes, rate, rate * 0.1 / nodes, p99};
}

struct timed_decision {
  int second;
  decision d;
};

// Feeds seconds 0..n-1 of `series`; the decisions with their seconds.
std::vector<timed_decision> run(engine& e, int n, const std::function<sample(int)>& series) {
  std::vector<timed_decision> out;
  for (int t = 0; t < n; ++t) {
    if (auto d = e.observe(series(t))) out.push_back({t, *d});
  }
  return out;
}

TEST(autoscaler, flat_load_never_decides_in_either_mode) {
  for (mode m : {mode::rule, mode::predictive}) {
    engine e{base(m)};
    // 3 nodes, 5 in flight each: inside the band (4.8..8) for ten minutes.
    const auto decisions = run(e, 600, [](int t) { return at(t, 3, 150); });
    EXPECT_TRUE(decisions.empty()) << mode_name(m) << ": " << decisions.front().d.reason;
  }
}

TEST(autoscaler, idle_shop_at_min_nodes_never_decides) {
  engine e{base()};
  const auto decisions = run(e, 300, [](int t) { return at(t, 2, 0, std::nullopt); });
  EXPECT_TRUE(decisions.empty());
}

TEST(autoscaler, ten_x_step_scales_out_at_the_first_tick_of_the_step) {
  engine e{base()};
  // 2 nodes at 60 req/s (3 in flight each), then 600 req/s from second 20: 60 in flight, 8 nodes.
  const auto decisions = run(e, 25, [](int t) { return at(t, 2, t < 20 ? 60 : 600); });
  ASSERT_FALSE(decisions.empty());
  EXPECT_EQ(decisions[0].second, 20);
  EXPECT_EQ(decisions[0].d.what, action::scale_out);
  EXPECT_EQ(decisions[0].d.from, 2);
  EXPECT_EQ(decisions[0].d.to, 8);  // ceil(60 / 8)
  EXPECT_EQ(decisions.size(), 1u) << "the series keeps 2 nodes, the cooldown holds the next one";
}

TEST(autoscaler, predictive_scales_a_ramp_before_rule_does) {
  // 2 nodes; the rate climbs 10 req/s every second from 20. Rule needs > 16 in flight, i.e. > 160 req/s
  // (second 15); predictive sees it ~3 s (start-up + tick) ahead.
  auto ramp = [](int t) { return at(t, 2, 20 + 10.0 * t); };
  engine rule{base(mode::rule)}, predictive{base(mode::predictive)};
  const auto by_rule = run(rule, 40, ramp);
  const auto by_forecast = run(predictive, 40, ramp);
  ASSERT_FALSE(by_rule.empty());
  ASSERT_FALSE(by_forecast.empty());
  EXPECT_EQ(by_rule[0].second, 15);
  EXPECT_LT(by_forecast[0].second, by_rule[0].second);
  EXPECT_GE(by_forecast[0].second, 11);  // not out of nothing: the forecast is ~30 req/s ahead
  EXPECT_NE(by_forecast[0].d.reason.find("forecast"), std::string::npos) << by_forecast[0].d.reason;
  ASSERT_TRUE(predictive.last_forecast().has_value());
  EXPECT_NEAR(*predictive.last_forecast(), 20 + 10.0 * 39 + 30, 5);  // trend 10/s, 3 s ahead
}

TEST(autoscaler, load_oscillating_inside_and_across_the_band_does_not_flap) {
  for (mode m : {mode::rule, mode::predictive}) {
    engine e{base(m)};
    // 3 nodes; per node 7.9 and 3.0 in flight every other second: never above target, below the band
    // only half the time, so the stabilisation window never holds only low samples.
    const auto decisions = run(e, 600, [](int t) { return at(t, 3, t % 2 == 0 ? 237 : 90); });
    EXPECT_TRUE(decisions.empty()) << mode_name(m) << " at " << decisions.front().second << ": "
                                   << decisions.front().d.reason;
  }
}

TEST(autoscaler, scales_in_after_the_stabilisation_window_to_its_largest_recommendation) {
  engine e{base()};
  // 6 nodes; from second 0, 12 in flight in all (2 per node, below 4.8): 2 nodes are enough.
  const auto decisions = run(e, 60, [](int t) { return at(t, 6, 120); });
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].second, 30);  // the window is full at 30 s
  EXPECT_EQ(decisions[0].d.what, action::scale_in);
  EXPECT_EQ(decisions[0].d.from, 6);
  EXPECT_EQ(decisions[0].d.to, 2);  // ceil(12 / 8), and --min-nodes
}

TEST(autoscaler, scale_in_takes_the_largest_recommendation_of_the_window) {
  engine e{base()};
  // 8 nodes: 30 in flight (4 nodes' worth) for 10 s, then 8 (1 node's worth): the window still holds
  // the 4-node recommendations until 30 s after them.
  const auto decisions = run(e, 40, [](int t) { return at(t, 8, t < 10 ? 300 : 80); });
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].second, 30);
  EXPECT_EQ(decisions[0].d.to, 4);
}

TEST(autoscaler, no_scale_in_while_a_node_is_starting) {
  engine e{base()};
  const auto decisions = run(e, 60, [](int t) {
    sample s = at(t, 4, 40);
    s.ready_nodes = 3;  // one never comes up in this series
    s.in_flight_per_node = 4.0 / 3;
    return s;
  });
  EXPECT_TRUE(decisions.empty());
}

TEST(autoscaler, clamps_to_max_and_to_min) {
  engine e{base()};
  // 1000 in flight wants 125 nodes: 10 at most.
  auto d = e.observe(at(0, 2, 10'000));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->to, 10);
  // At the maximum, more load decides nothing.
  engine full{base()};
  EXPECT_FALSE(full.observe(at(0, 10, 10'000)).has_value());
  // Below --min-nodes (a node died, no respawn): back to 2 whatever the load.
  engine low{base()};
  d = low.observe(at(0, 1, 0, std::nullopt));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->what, action::scale_out);
  EXPECT_EQ(d->to, 2);
  EXPECT_EQ(d->reason, "below --min-nodes");
  // Never below the minimum on scale-in.
  engine idle{base()};
  const auto decisions = run(idle, 40, [](int t) { return at(t, 3, 0, std::nullopt); });
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].d.to, 2);
}

TEST(autoscaler, scale_out_cooldown_is_respected) {
  engine e{base()};
  // 2 nodes at 20 in flight in all (3 nodes' worth) from second 0; the series never shows the new node,
  // and the load keeps climbing: one decision per cooldown (5 s), not one per tick.
  const auto decisions = run(e, 16, [](int t) { return at(t, 2, 200 + 100.0 * t); });
  ASSERT_EQ(decisions.size(), 4u);
  EXPECT_EQ(decisions[0].second, 0);
  EXPECT_EQ(decisions[1].second, 5);
  EXPECT_EQ(decisions[2].second, 10);
  EXPECT_EQ(decisions[3].second, 15);
}

TEST(autoscaler, scale_in_cooldown_follows_any_scaling) {
  engine e{base()};
  // Second 0: a burst scales 2 -> 3 nodes; then 3 nodes idle. The window fills at 30 s, but the scale-in
  // cooldown (30 s after the scale-out) too: the first scale-in at 30, never before.
  std::vector<timed_decision> decisions =
      run(e, 45, [](int t) { return t == 0 ? at(0, 2, 200) : at(t, 3, 0); });
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[0].d.what, action::scale_out);
  EXPECT_EQ(decisions[1].d.what, action::scale_in);
  EXPECT_EQ(decisions[1].second, 30);
  // A longer cooldown moves it.
  policy slow = base();
  slow.scale_in_cooldown = 40s;
  engine e2{slow};
  decisions = run(e2, 45, [](int t) { return t == 0 ? at(0, 2, 200) : at(t, 3, 0); });
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[1].second, 40);
}

TEST(autoscaler, p99_above_threshold_adds_a_node_and_blocks_scale_in) {
  engine e{base()};
  // Little load but a slow p99 (a slow database, say): one node more.
  auto d = e.observe(at(0, 3, 30, 900.0));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->to, 4);
  EXPECT_NE(d->reason.find("p99"), std::string::npos);
  // A breach inside the window keeps every node.
  engine held{base()};
  const auto decisions = run(held, 60, [](int t) { return at(t, 4, 30, t % 20 == 0 ? 600.0 : 20.0); });
  for (const auto& x : decisions) EXPECT_EQ(x.d.what, action::scale_out) << x.second;
}

TEST(holt_forecaster, follows_a_line_and_stays_flat_on_a_constant) {
  holt_forecaster line{0.5, 0.3};
  EXPECT_FALSE(line.forecast(1s).has_value());
  for (int t = 0; t < 60; ++t) line.observe(std::chrono::seconds{t}, 100 + 5.0 * t);
  EXPECT_NEAR(*line.forecast(4s), 100 + 5.0 * 63, 1);
  holt_forecaster flat{0.5, 0.3};
  for (int t = 0; t < 60; ++t) flat.observe(std::chrono::milliseconds{t * 500}, 42);
  EXPECT_DOUBLE_EQ(*flat.forecast(10s), 42);
  holt_forecaster falling{0.5, 0.3};
  for (int t = 0; t < 30; ++t) falling.observe(std::chrono::seconds{t}, std::max(0.0, 100 - 10.0 * t));
  EXPECT_GE(*falling.forecast(60s), 0);  // never negative
}

TEST(autoscaler, modes_parse_by_name) {
  EXPECT_EQ(parse_mode("rule"), mode::rule);
  EXPECT_EQ(parse_mode("predictive"), mode::predictive);
  EXPECT_EQ(parse_mode("off"), mode::off);
  EXPECT_FALSE(parse_mode("Rule").has_value());
  EXPECT_EQ(mode_name(mode::predictive), "predictive");
}

}  // namespace
}  // namespace stampede::shop::autoscale
