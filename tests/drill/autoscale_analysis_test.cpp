// The autoscale game day's analysis (drill/autoscale_analysis.h) on recorded event logs and per-second
// figures with known answers: fixed capacity (nothing happened), a scale-out and a scale-in, a node that
// never served, SLO seconds, the directive, the step of a planned load and the figures read from results.
#include "drill/autoscale_analysis.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/hdr_histogram.h"

namespace {

namespace json = boost::json;
using namespace stampede::drill;

constexpr double start_ms = 1'800'000'000'000.0;

// A log line at `t_s` after the run's start.
std::string line(double t_s, const std::string& rest) {
  return "{\"t_unix_ms\":" + std::to_string(static_cast<int64_t>(start_ms + t_s * 1000)) + "," + rest + "}\n";
}

// A rule autoscaler's log: 3 nodes, the step at 10 s, scale out to 5 at 12 s (node4, node5 serve at 15 s
// and 15.5 s), scale in to 4 at 40 s (node5 removed at 42 s); a sample line and a broken line.
const std::string recorded_log =
    line(-1,
         R"("event":"sample","nodes":3,"ready_nodes":3,"rate_per_s":10,"in_flight_per_node":1,"p99_ms":5)") +
    line(12, R"("event":"decision","action":"scale_out","from":3,"to":5,"reason":"in-flight 9 > 4")") +
    line(12.2, R"("event":"node_started","node":"node4","port":20001,"pid":11)") +
    line(12.3, R"("event":"node_started","node":"node5","port":20002,"pid":12)") +
    line(14, R"("event":"node_ready","node":"node4")") +
    line(14.5, R"("event":"node_ready","node":"node5")") +
    line(15, R"("event":"node_first_request","node":"node4")") +
    line(15.5, R"("event":"node_first_request","node":"node5")") + "{not json\n" +
    line(40, R"("event":"decision","action":"scale_in","from":5,"to":4,"reason":"calm")") +
    line(40, R"("event":"node_draining","node":"node5")") +
    line(42, R"("event":"node_removed","node":"node5")");

autoscale_inputs base_inputs() {
  autoscale_inputs in;
  in.mode = "rule";
  in.initial_nodes = 3;
  in.duration_s = 60;
  in.step_s = 10;
  in.lost_orders = 0;
  return in;
}

TEST(drill_autoscale, fixed_capacity_has_no_time_to_scale_and_costs_nodes_times_duration) {
  autoscale_inputs in = base_inputs();
  in.mode = "off";
  const auto a = analyse_autoscale(in);
  EXPECT_EQ(a.at("mode"), "off");
  EXPECT_TRUE(a.at("time_to_scale_s").is_null());
  EXPECT_EQ(a.at("time_to_scale_note"), "no node was added");
  EXPECT_TRUE(a.at("time_to_first_decision_s").is_null());
  EXPECT_DOUBLE_EQ(a.at("node_seconds").as_double(), 3 * 60.0);
  EXPECT_EQ(a.at("peak_nodes"), 3);
  EXPECT_EQ(a.at("decisions"), 0);
  EXPECT_EQ(a.at("nodes_added"), 0);
  EXPECT_EQ(a.at("slo_violation_s"), 0);
  EXPECT_EQ(a.at("slo_judged_s"), 0);
  EXPECT_EQ(a.at("lost_acknowledged_orders"), 0);
  EXPECT_EQ(json::serialize(a.at("nodes_over_time")), "[[0E0,3],[6E1,3]]");
}

TEST(drill_autoscale, a_recorded_scale_out_and_in_gives_time_to_scale_cost_peak_and_decisions) {
  int skipped = 0;
  autoscale_inputs in = base_inputs();
  in.events = autoscale_events_from_jsonl(recorded_log, start_ms, skipped);
  EXPECT_EQ(skipped, 1);
  ASSERT_EQ(in.events.size(), 11u);
  EXPECT_DOUBLE_EQ(in.events.front().t_s, -1);
  const auto a = analyse_autoscale(in);
  EXPECT_DOUBLE_EQ(a.at("time_to_scale_s").as_double(), 5.0);  // 15 - 10
  EXPECT_FALSE(a.contains("time_to_scale_note"));
  EXPECT_DOUBLE_EQ(a.at("time_to_first_decision_s").as_double(), 2.0);
  EXPECT_DOUBLE_EQ(a.at("time_to_ready_s").as_double(), 4.0);
  // 3 x 12.2 + 4 x 0.1 + 5 x (42 - 12.3) + 4 x (60 - 42)
  EXPECT_NEAR(a.at("node_seconds").as_double(), 36.6 + 0.4 + 148.5 + 72, 1e-6);
  EXPECT_EQ(a.at("peak_nodes"), 5);
  EXPECT_EQ(a.at("decisions"), 2);
  EXPECT_EQ(a.at("scale_outs"), 1);
  EXPECT_EQ(a.at("scale_ins"), 1);
  EXPECT_EQ(a.at("nodes_added"), 2);
  EXPECT_EQ(a.at("nodes_removed"), 1);
  EXPECT_EQ(a.at("nodes_added_before_step"), 0);
  const auto& curve = a.at("nodes_over_time").as_array();
  ASSERT_EQ(curve.size(), 5u);
  EXPECT_EQ(curve[0].as_array()[1], 3);
  EXPECT_EQ(curve[2].as_array()[1], 5);
  EXPECT_DOUBLE_EQ(curve[3].as_array()[0].as_double(), 42);
  EXPECT_EQ(curve[4].as_array()[1], 4);
}

TEST(drill_autoscale, an_added_node_that_never_served_has_no_time_to_scale_and_says_so) {
  int skipped = 0;
  autoscale_inputs in = base_inputs();
  in.events = autoscale_events_from_jsonl(
      line(11, R"("event":"decision","action":"scale_out","from":3,"to":4,"reason":"p99")") +
          line(11.5, R"("event":"node_started","node":"node4")") +
          line(13, R"("event":"node_ready","node":"node4")"),
      start_ms, skipped);
  const auto a = analyse_autoscale(in);
  EXPECT_TRUE(a.at("time_to_scale_s").is_null());
  EXPECT_EQ(a.at("time_to_scale_note"), "1 node(s) added after the step, none served a request");
  EXPECT_DOUBLE_EQ(a.at("time_to_ready_s").as_double(), 3.0);
  EXPECT_NEAR(a.at("node_seconds").as_double(), 3 * 11.5 + 4 * 48.5, 1e-9);
}

TEST(drill_autoscale, a_node_added_before_the_step_does_not_count_as_scaling_for_it) {
  int skipped = 0;
  autoscale_inputs in = base_inputs();
  in.events = autoscale_events_from_jsonl(line(2, R"("event":"node_started","node":"node4")") +
                                              line(3, R"("event":"node_first_request","node":"node4")"),
                                          start_ms, skipped);
  const auto a = analyse_autoscale(in);
  EXPECT_TRUE(a.at("time_to_scale_s").is_null());
  EXPECT_EQ(a.at("time_to_scale_note"), "1 node(s) added, none at or after the step");
  EXPECT_EQ(a.at("nodes_added_before_step"), 1);
  EXPECT_EQ(a.at("peak_nodes"), 4);
}

TEST(drill_autoscale, events_after_the_run_and_repeated_lines_do_not_change_cost) {
  int skipped = 0;
  autoscale_inputs in = base_inputs();
  in.events = autoscale_events_from_jsonl(line(-5, R"("event":"node_started","node":"node2")") +
                                              line(70, R"("event":"decision","action":"scale_in")") +
                                              line(71, R"("event":"node_removed","node":"node3")") +
                                              line(72, R"("event":"node_started","node":"node4")"),
                                          start_ms, skipped);
  const auto a = analyse_autoscale(in);
  EXPECT_DOUBLE_EQ(a.at("node_seconds").as_double(), 180.0);
  EXPECT_EQ(a.at("decisions"), 0);
  EXPECT_EQ(a.at("nodes_removed"), 0);
  EXPECT_EQ(a.at("nodes_added"), 0);
  EXPECT_EQ(a.at("time_to_scale_note"), "no node was added");
}

TEST(drill_autoscale,
     slo_violation_seconds_break_p99_error_ratio_or_drop_arrivals_and_idle_seconds_are_not_judged) {
  autoscale_inputs in = base_inputs();
  in.slo.p99_ms = 500;
  in.slo.error_ratio = 0.05;
  // { t, samples, p99_ms, requests, errors, dropped }
  in.checkout = {{0, 10, 20, 10, 0, 0},      // fine
                 {1, 10, 600, 10, 0, 0},     // p99
                 {2, 100, 30, 100, 5, 0},    // 5% errors: at the bound, not over
                 {3, 100, 30, 100, 6, 0},    // errors
                 {4, 0, 0, 0, 0, 0},         // no checkout ended: not judged
                 {5, 0, 0, 0, 0, 3},         // no checkout ended, but buyers were turned away
                 {60, 10, 900, 10, 10, 0}};  // after the run
  const auto a = analyse_autoscale(in);
  EXPECT_EQ(a.at("slo_violation_s"), 3);
  EXPECT_EQ(a.at("slo_judged_s"), 5);
  EXPECT_EQ(json::serialize(a.at("slo_violation_seconds")), "[1,3,5]");
  EXPECT_EQ(json::serialize(a.at("slo_violation_by")), R"({"p99":1,"errors":1,"dropped_arrivals":1})");
}

TEST(drill_autoscale, no_step_gives_no_time_to_scale_with_the_reason) {
  autoscale_inputs in = base_inputs();
  in.step_s.reset();
  in.step_note = "scenario 'flash''s planned load never doubles";
  const auto a = analyse_autoscale(in);
  EXPECT_TRUE(a.at("time_to_scale_s").is_null());
  EXPECT_EQ(a.at("time_to_scale_note"), "no load step: scenario 'flash''s planned load never doubles");
}

TEST(drill_autoscale, the_step_is_the_start_of_the_first_doubling) {
  EXPECT_EQ(load_step_s({{0, 5}, {10, 5}, {13, 50}, {25, 50}, {28, 5}}), 10.0);
  EXPECT_EQ(load_step_s({{0, 5}, {10, 8}, {20, 9}}), std::nullopt);
  EXPECT_EQ(load_step_s({}), std::nullopt);
  EXPECT_EQ(load_step_s({{0, 10}, {5, 15}, {8, 40}}), 5.0);  // 15 -> 40 doubles, 10 -> 15 does not
}

TEST(drill_autoscale, the_directive_reads_its_keys_and_names_a_bad_word) {
  const auto d =
      parse_autoscale_directive({"scenario=rush", "step=::checkout", "p99_ms=750", "error_ratio=0.02"});
  EXPECT_EQ(d.scenario, "rush");
  EXPECT_EQ(d.slo.checkout_step, "::checkout");
  EXPECT_EQ(parse_autoscale_directive({}).slo.checkout_step, "POST /api/orders");
  EXPECT_DOUBLE_EQ(d.slo.p99_ms, 750);
  EXPECT_DOUBLE_EQ(d.slo.error_ratio, 0.02);
  EXPECT_EQ(parse_autoscale_directive({}).scenario, "flash");
  try {
    parse_autoscale_directive({"p99_ms=fast"});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "--@autoscale p99_ms=fast: expected a positive number");
  }
  EXPECT_THROW(parse_autoscale_directive({"colour=red"}), std::invalid_argument);
  EXPECT_THROW(parse_autoscale_directive({"p99_ms"}), std::invalid_argument);
}

std::string histogram_of(std::initializer_list<int64_t> values_us) {
  stampede::hdr_histogram h;
  for (int64_t v : values_us) h.record(v);
  return h.encode_compressed_base64();
}

TEST(drill_autoscale, inputs_from_results_take_the_step_the_checkout_seconds_and_lost_orders) {
  const json::value results = json::object{
      {"meta", {{"duration_s", 30.5}, {"start_unix_ms", start_ms}}},
      {"scenarios", json::array{{{"name", "browse"}, {"load", {{"points", json::array{{0, 8}, {30, 8}}}}}},
                                {{"name", "flash"},
                                 {"load", {{"points", json::array{{0, 4}, {8, 4}, {10, 40}, {20, 40}}}}}}}},
      {"intervals",
       json::array{
           {{"step", "POST /api/orders"},
            {"t", 3},
            {"requests", 2},
            {"errors", 1},
            {"histogram", histogram_of({1000, 800'000})}},
           {{"step", "GET /api/products/{id}"},
            {"t", 3},
            {"requests", 9},
            {"errors", 9},
            {"histogram", histogram_of({5'000'000})}},
           {{"step", "POST /api/orders"}, {"t", 4}, {"histogram", histogram_of({2000})}},  // older: no counts
           {{"step", "::checkout"},
            {"t", 3},
            {"requests", 1},
            {"errors", 0},
            {"histogram", histogram_of({3'000'000})}},
       }},
      {"timeseries", json::array{{{"t", 3}, {"requests", 20}, {"errors", 3}, {"dropped_iterations", 0}},
                                 {{"t", 4}, {"requests", 5}, {"errors", 0}, {"dropped_iterations", 0}},
                                 {{"t", 5}, {"requests", 7}, {"errors", 1}, {"dropped_iterations", 2}}}},
      {"verify",
       {{"ok", false},
        {"invariants", json::array{{{"name", "acknowledged orders exist exactly once"},
                                    {"evidence", {{"lost_count", 2}}}}}}}},
  };
  const auto in = autoscale_inputs_from_results(results, autoscale_directive{});
  EXPECT_DOUBLE_EQ(in.duration_s, 30.5);
  ASSERT_TRUE(in.step_s);
  EXPECT_DOUBLE_EQ(*in.step_s, 8.0);
  ASSERT_EQ(in.checkout.size(), 3u);
  EXPECT_EQ(in.checkout[0].t, 3);
  EXPECT_EQ(in.checkout[0].samples, 2);
  EXPECT_EQ(in.checkout[0].requests, 2);
  EXPECT_EQ(in.checkout[0].errors, 1);
  EXPECT_NEAR(in.checkout[0].p99_ms, 800, 1);
  EXPECT_EQ(in.checkout[1].requests, 1);
  EXPECT_NEAR(in.checkout[1].p99_ms, 2, 0.01);
  EXPECT_EQ(in.checkout[2].t, 5);  // no checkout ended, two arrivals dropped
  EXPECT_EQ(in.checkout[2].samples, 0);
  EXPECT_EQ(in.checkout[2].dropped, 2);
  EXPECT_EQ(in.lost_orders, 2);

  // A group as the checkout: its p99, and every request of the second for the error ratio.
  autoscale_directive journey;
  journey.slo.checkout_step = "::checkout";
  const auto g = autoscale_inputs_from_results(results, journey);
  ASSERT_EQ(g.checkout.size(), 3u);
  EXPECT_EQ(g.checkout[0].samples, 1);
  EXPECT_NEAR(g.checkout[0].p99_ms, 3000, 5);
  EXPECT_EQ(g.checkout[0].requests, 20);
  EXPECT_EQ(g.checkout[0].errors, 3);
  EXPECT_EQ(g.checkout[1].samples, 0);  // t = 4: requests, no journey ended
  EXPECT_EQ(g.checkout[2].dropped, 2);

  autoscale_directive other;
  other.scenario = "missing";
  const auto none = autoscale_inputs_from_results(results, other);
  EXPECT_FALSE(none.step_s);
  EXPECT_EQ(none.step_note, "no scenario 'missing' in the results");
}

TEST(drill_autoscale, measure_without_autoscale_in_the_topology_is_fixed_capacity) {
  const json::value results = json::object{{"meta", {{"duration_s", 20.0}, {"start_unix_ms", start_ms}}}};
  const json::value topology = json::object{{"nodes", json::array{json::object{}, json::object{}}}};
  const auto a = measure_autoscale(results, topology, autoscale_directive{});
  EXPECT_TRUE(a.at("measured").as_bool());
  EXPECT_EQ(a.at("mode"), "off");
  EXPECT_DOUBLE_EQ(a.at("node_seconds").as_double(), 40.0);
  EXPECT_TRUE(a.at("lost_acknowledged_orders").is_null());  // no verify
  EXPECT_NE(autoscale_summary(json::object{{"drill", {{"autoscale", a}}}}).find("40 node-seconds"),
            std::string::npos);
}

TEST(drill_autoscale, measure_with_a_missing_log_says_so_and_counts_no_event) {
  const json::value results = json::object{{"meta", {{"duration_s", 20.0}, {"start_unix_ms", start_ms}}}};
  const json::value topology = json::object{{"nodes", json::array{json::object{}}},
                                            {"autoscale",
                                             {{"mode", "predictive"},
                                              {"log", "/nonexistent/autoscale.jsonl"},
                                              {"min_nodes", 1},
                                              {"max_nodes", 4}}}};
  const auto a = measure_autoscale(results, topology, autoscale_directive{});
  EXPECT_EQ(a.at("mode"), "predictive");
  EXPECT_EQ(a.at("max_nodes"), 4);
  EXPECT_EQ(a.at("log_note"), "no autoscale log /nonexistent/autoscale.jsonl: no event");
  EXPECT_EQ(a.at("log_events"), 0);
  EXPECT_DOUBLE_EQ(a.at("node_seconds").as_double(), 20.0);
}

}  // namespace
