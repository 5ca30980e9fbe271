// The recovery figures (reports/recovery.h) on recorded-style time series with known answers: nothing
// happened, a fault that touches nothing, a +300 ms fault at 40 requests/s, low-rate noise, a node kill
// with no effect, a spike scenario during a fault, errors of a second fault, the trailing partial second,
// a run too short to judge recovery, the statistics underneath, and drills recorded with the real shop.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>

#include "recovery_series.h"
#include "reports/formats.h"
#include "reports/recovery.h"
#include "reports/results.h"

namespace stampede::reports {
namespace {

namespace json = boost::json;
using testing::build_series_results;
using testing::series_builder;
using testing::series_fault;
using testing::series_run;

recovery_analysis analyse(const series_run& run) {
  return analyse_recovery(parse_results(build_series_results(run)));
}

series_fault fault(std::string type, std::string target, double start, std::optional<double> end) {
  series_fault f;
  f.fault = std::move(type);
  f.target = std::move(target);
  f.start_s = start;
  f.end_s = end;
  return f;
}

std::string describe(const recovery_figures& f) {
  return f.label + ": " + std::string(to_string(f.status)) + " (" + f.reason + "), degraded " +
         std::to_string(f.degraded_seconds) + " of " + std::to_string(f.judged_seconds) + ", detect " +
         (f.time_to_detect_s ? std::to_string(*f.time_to_detect_s) : "-");
}

// ---------------------------------------------------------------------------------------------- statistics

TEST(recovery_stats, binomial_and_poisson_tails_match_exact_sums) {
  using namespace recovery_model;
  // Exact values (summed in long double by hand-checked scripts).
  EXPECT_NEAR(binomial_upper_tail(1, 35, 0.01), 1 - std::pow(0.99, 35), 1e-12);
  EXPECT_NEAR(binomial_upper_tail(2, 10, 0.5), 1 - (1.0 + 10.0) / 1024.0, 1e-12);
  EXPECT_NEAR(binomial_upper_tail(9, 10, 0.5), 11.0 / 1024.0, 1e-12);
  EXPECT_EQ(binomial_upper_tail(0, 10, 0.3), 1.0);
  EXPECT_EQ(binomial_upper_tail(11, 10, 0.3), 0.0);
  EXPECT_NEAR(poisson_lower_tail(0, 5), std::exp(-5.0), 1e-12);
  EXPECT_NEAR(poisson_lower_tail(2, 1), std::exp(-1.0) * 2.5, 1e-12);
  double sum = 0;  // P(X <= 17 | 35) by direct summation
  for (int i = 0; i <= 17; ++i) sum += std::exp(-35.0 + i * std::log(35.0) - std::lgamma(i + 1.0));
  EXPECT_NEAR(poisson_lower_tail(17, 35), sum, 1e-12);
  EXPECT_NEAR(normal_quantile(0.975), 1.959964, 1e-6);
  EXPECT_NEAR(normal_quantile(0.999), 3.090232, 1e-6);
  EXPECT_NEAR(normal_quantile(0.01), -2.326348, 1e-6);
}

// ---------------------------------------------------------------------------------------------- no effect

// 35 requests/s, nothing happens; a fault record on the clients' link from 8 s to 16 s.
series_run quiet_run(uint64_t seed) {
  series_builder b(seed, 30.0);
  b.traffic(0, 30, 35, 2.0);
  auto& run = b.run();
  run.scenarios.push_back(testing::closed_scenario("browse", 0, 30, 8));
  run.faults.push_back(fault("latency", "target", 8.01, 16.01));
  return run;
}

TEST(recovery, nothing_happened_is_not_detected) {
  const auto a = analyse(quiet_run(1));
  ASSERT_TRUE(a.baseline.available) << a.baseline.reason;
  ASSERT_EQ(a.faults.size(), 1u);
  const auto& f = a.faults[0];
  EXPECT_EQ(f.detected, std::optional<bool>(false)) << describe(f);
  EXPECT_EQ(f.status, recovery_status::unaffected) << describe(f);
  EXPECT_FALSE(f.time_to_recover_s) << "no recovery is claimed from noise";
  EXPECT_EQ(f.degraded_seconds, 0);
  EXPECT_GE(f.judged_seconds, 8);
}

TEST(recovery, false_alarms_are_rare_across_seeds) {
  // Each judged second is a test per signal at 99.9% confidence with effect-size floors: over 40 runs
  // of ~13 judged seconds, a false detection should be the exception.
  int detected = 0;
  for (uint64_t seed = 100; seed < 140; ++seed) {
    const auto a = analyse(quiet_run(seed));
    detected += a.faults[0].detected.value_or(false) ? 1 : 0;
  }
  EXPECT_LE(detected, 1);
}

TEST(recovery, low_rate_latency_noise_is_not_a_fault) {
  // The shipped slow-payment game day: ~35 requests/s, p99 5.5 ms before the fault and 1.8 ms during it.
  series_builder b(7, 20.0);
  b.traffic(0, 8, 35, 2.5).traffic(8, 20, 35, 0.9);
  auto& run = b.run();
  run.scenarios.push_back(testing::closed_scenario("browse", 0, 20, 8));
  run.faults.push_back(fault("latency", "payment", 8.0, 14.0));
  const auto a = analyse(run);
  const auto& f = a.faults[0];
  EXPECT_EQ(f.detected, std::optional<bool>(false)) << describe(f);
  EXPECT_EQ(f.status, recovery_status::unaffected) << describe(f);
  ASSERT_TRUE(f.p99_baseline_ms);
  EXPECT_GT(*f.p99_baseline_ms, 1.0) << "p99 before is the baseline's, never 0";
}

TEST(recovery, a_fault_that_touches_nothing_is_not_detected_even_beside_a_real_one) {
  series_builder b(3, 24.0);
  b.traffic(0, 8, 40, 2.0, 0, true).traffic(8, 12, 40, 2.0, 300, true).traffic(12, 24, 40, 2.0, 0, true);
  auto& run = b.run();
  run.scenarios.push_back(testing::open_scenario("load", 0, 24, 40));
  run.faults.push_back(fault("latency", "target", 8.0, 12.0));
  series_fault spare = fault("latency", "spare", 8.0, 12.0);
  spare.id = 2;
  spare.injections = 0;
  run.faults.push_back(spare);
  const auto a = analyse(run);
  ASSERT_EQ(a.faults.size(), 2u);
  EXPECT_EQ(a.faults[0].detected, std::optional<bool>(true)) << describe(a.faults[0]);
  EXPECT_EQ(a.faults[1].detected, std::optional<bool>(false)) << describe(a.faults[1]);
  EXPECT_EQ(a.faults[1].status, recovery_status::unaffected);
  EXPECT_NE(a.faults[1].reason.find("0 injections"), std::string::npos) << a.faults[1].reason;
  EXPECT_EQ(a.faults[1].errors_during + a.faults[1].errors_shared, 0);
}

TEST(recovery, a_fault_that_did_nothing_does_not_hold_back_the_recovery_of_a_real_one) {
  // A +300 ms fault from 8 s to 12 s beside a longer one on a link nobody uses (to 20 s) and one whose
  // injection failed: the real fault recovers at once after its heal; the failed one says it failed.
  series_builder b(37, 30.0);
  b.traffic(0, 8, 40, 2.0, 0, true).traffic(8, 12, 40, 2.0, 300, true).traffic(12, 30, 40, 2.0, 0, true);
  auto& run = b.run();
  run.scenarios.push_back(testing::open_scenario("load", 0, 30, 40));
  run.faults.push_back(fault("latency", "target", 8.0, 12.0));
  series_fault spare = fault("latency", "spare", 8.0, 20.0);
  spare.id = 2;
  spare.injections = 0;
  run.faults.push_back(spare);
  series_fault failed = fault("kill", "node9", 8.0, 8.0);
  failed.id = 3;
  failed.kind = "node";
  failed.error = "node fault target 'node9' is unknown";
  run.faults.push_back(failed);
  const auto a = analyse(run);
  EXPECT_EQ(a.faults[0].status, recovery_status::recovered) << describe(a.faults[0]);
  ASSERT_TRUE(a.faults[0].time_to_recover_s);
  EXPECT_LE(*a.faults[0].time_to_recover_s, 1.0);
  EXPECT_EQ(a.faults[2].status, recovery_status::insufficient_data) << describe(a.faults[2]);
  EXPECT_NE(a.faults[2].reason.find("not injected: node fault target 'node9'"), std::string::npos);
  EXPECT_FALSE(a.faults[2].detected);
}

// ---------------------------------------------------------------------------------------------- real effects

TEST(recovery, plus_300_ms_at_40_requests_per_second_is_detected_and_recovers) {
  series_builder b(11, 24.0);
  b.traffic(0, 8, 40, 2.0, 0, true).traffic(8, 12, 40, 2.0, 300, true).traffic(12, 24, 40, 2.0, 0, true);
  auto& run = b.run();
  run.scenarios.push_back(testing::open_scenario("load", 0, 24, 40));
  run.faults.push_back(fault("latency", "target", 8.0, 12.0));
  const auto a = analyse(run);
  const auto& f = a.faults[0];
  EXPECT_EQ(f.detected, std::optional<bool>(true)) << describe(f);
  ASSERT_TRUE(f.time_to_detect_s);
  EXPECT_LE(*f.time_to_detect_s, 1.0);
  EXPECT_EQ(f.status, recovery_status::recovered) << describe(f);
  ASSERT_TRUE(f.time_to_recover_s);
  EXPECT_LE(*f.time_to_recover_s, 1.0);
  EXPECT_GE(f.degraded_by[1], 3) << "latency was the signal";
  ASSERT_TRUE(f.p99_during_ms && f.p99_baseline_ms);
  EXPECT_GT(*f.p99_during_ms, 250.0);
  EXPECT_LT(*f.p99_baseline_ms, 20.0);
}

TEST(recovery, a_stall_shows_as_lost_throughput_and_recovery_is_timed_from_the_heal) {
  // A closed model whose requests hang during 10..14 s (a paused node) and recover 2 s after the heal.
  series_builder b(5, 30.0);
  b.traffic(0, 10, 35, 2.0).traffic(10, 14, 3, 2.0).traffic(14, 16, 20, 2.0).traffic(16, 30, 35, 2.0);
  auto& run = b.run();
  run.scenarios.push_back(testing::closed_scenario("browse", 0, 30, 8));
  series_fault pause = fault("pause", "node2", 10.0, 14.0);
  pause.kind = "node";
  run.faults.push_back(pause);
  const auto a = analyse(run);
  const auto& f = a.faults[0];
  EXPECT_EQ(f.status, recovery_status::recovered) << describe(f);
  EXPECT_GE(f.degraded_by[2], 4) << "throughput was the signal";
  ASSERT_TRUE(f.time_to_recover_s);
  EXPECT_NEAR(*f.time_to_recover_s, 2.0, 1.0);
}

TEST(recovery, dropped_iterations_of_an_open_model_are_judged_against_its_schedule) {
  series_builder b(9, 24.0);
  b.traffic(0, 24, 40, 2.0, 0, true).dropped(8, 11, 12);
  auto& run = b.run();
  run.scenarios.push_back(testing::open_scenario("orders", 0, 24, 40));
  run.faults.push_back(fault("bandwidth", "target", 8.0, 11.0));
  const auto a = analyse(run);
  EXPECT_GT(a.baseline.scheduled_per_s, 39.0);
  EXPECT_EQ(a.faults[0].degraded_by[3], 3) << describe(a.faults[0]);
}

// ---------------------------------------------------------------------------------------------- kills

TEST(recovery, a_node_kill_with_no_effect_claims_no_recovery) {
  auto run = quiet_run(21);
  run.faults[0] = fault("kill", "node2", 8.0, 12.0);
  run.faults[0].kind = "node";
  run.faults[0].back_tracked = true;  // watched, never back (no respawn)
  auto a = analyse(run);
  EXPECT_EQ(a.faults[0].status, recovery_status::not_healed) << describe(a.faults[0]);
  EXPECT_NE(a.faults[0].reason.find("node2 was not back"), std::string::npos) << a.faults[0].reason;
  EXPECT_EQ(a.faults[0].detected, std::optional<bool>(false));
  EXPECT_FALSE(a.faults[0].time_to_recover_s);

  run.faults[0].back_s = 9.4;  // respawned: the heal is when it was back, not the planned end
  a = analyse(run);
  EXPECT_EQ(a.faults[0].status, recovery_status::unaffected) << describe(a.faults[0]);
  ASSERT_TRUE(a.faults[0].heal_s);
  EXPECT_DOUBLE_EQ(*a.faults[0].heal_s, 9.4);
  EXPECT_EQ(a.faults[0].heal_basis, "process back");
  EXPECT_FALSE(a.faults[0].time_to_recover_s);
}

TEST(recovery, a_spike_scenario_starting_during_a_fault_is_not_blamed_on_it) {
  // The main job: node2 killed at 6 s, a flash-sale spike of 200 buyers from 7 s to ~10 s (p99 145 ms,
  // more requests), the kill itself without effect.
  series_builder b(13, 20.0);
  b.traffic(0, 7, 35, 2.0).traffic(7, 10, 120, 145.0).traffic(10, 20, 35, 2.0).vus(7, 10, 210);
  auto& run = b.run();
  run.scenarios.push_back(testing::closed_scenario("browse", 0, 20, 10));
  run.scenarios.push_back(testing::spike_scenario("spike", 7, 20, 200));
  series_fault kill = fault("kill", "node2", 6.0, 10.0);
  kill.kind = "node";
  run.faults.push_back(kill);
  const auto a = analyse(run);
  const auto& f = a.faults[0];
  EXPECT_NE(f.detected, std::optional<bool>(true)) << describe(f);
  EXPECT_EQ(f.degraded_seconds, 0);
  bool spike_excluded = false;
  for (const auto& span : f.excluded) spike_excluded |= span.reason.find("'spike'") != std::string::npos;
  EXPECT_TRUE(spike_excluded) << describe(f);
  ASSERT_TRUE(f.p99_during_ms);
  EXPECT_LT(*f.p99_during_ms, 50.0) << "p99 during is the judged seconds', not the spike's";
}

// ---------------------------------------------------------------------------------------------- errors

TEST(recovery, errors_of_a_later_http_abort_are_not_pinned_on_a_latency_fault) {
  series_builder b(17, 30.0);
  b.traffic(0, 30, 35, 1.5);
  for (int64_t t = 12; t < 16; ++t) b.errors(t, "status_5xx", 8);
  auto& run = b.run();
  run.scenarios.push_back(testing::closed_scenario("browse", 0, 30, 8));
  run.faults.push_back(fault("latency", "target", 8.0, 14.0));
  series_fault abort = fault("http_abort", "target", 12.0, 16.0);
  abort.id = 2;
  abort.http_status = 503;
  run.faults.push_back(abort);
  const auto a = analyse(run);
  ASSERT_EQ(a.faults.size(), 2u);
  EXPECT_EQ(a.faults[0].errors_during, 0) << describe(a.faults[0]);
  EXPECT_EQ(a.faults[0].errors_shared, 0);
  EXPECT_EQ(a.faults[1].errors_during, 32) << describe(a.faults[1]);
  EXPECT_EQ(a.faults[1].status, recovery_status::recovered) << describe(a.faults[1]);
  EXPECT_NE(a.faults[0].detected, std::optional<bool>(true)) << describe(a.faults[0]);
  ASSERT_FALSE(a.faults[1].shared_with.empty());
  EXPECT_EQ(a.faults[1].shared_with[0].id, 1);
  ASSERT_TRUE(a.faults[0].p99_baseline_ms);
  EXPECT_GT(*a.faults[0].p99_baseline_ms, 1.0) << "p99 before must not be 0";
}

TEST(recovery, errors_two_faults_could_both_cause_are_shared_and_say_so) {
  series_builder b(19, 30.0);
  b.traffic(0, 30, 35, 1.5);
  for (int64_t t = 10; t < 13; ++t) b.errors(t, "reset", 6);
  auto& run = b.run();
  run.scenarios.push_back(testing::closed_scenario("browse", 0, 30, 8));
  run.faults.push_back(fault("reset_peer", "target", 10.0, 13.0));
  series_fault second = fault("limit_data", "target", 10.0, 13.0);
  second.id = 2;
  run.faults.push_back(second);
  const auto a = analyse(run);
  EXPECT_EQ(a.faults[0].errors_shared, 18) << describe(a.faults[0]);
  EXPECT_EQ(a.faults[1].errors_shared, 18);
  EXPECT_EQ(a.faults[0].errors_during, 0);
  ASSERT_EQ(a.faults[0].shared_with.size(), 1u);
  EXPECT_EQ(a.faults[0].shared_with[0].label, "limit_data target");
}

// ---------------------------------------------------------------------------------------------- edges

TEST(recovery, the_trailing_partial_second_is_not_judged) {
  // The load ends at 20.3 s: second 20 holds 0 requests and must not count as degraded.
  series_builder b(23, 21.0);
  b.traffic(0, 20, 35, 2.0);
  auto& run = b.run();
  run.duration_s = 20.3;
  run.scenarios.push_back(testing::closed_scenario("browse", 0, 20.3, 8));
  run.faults.push_back(fault("latency", "target", 15.0, std::nullopt));
  const auto a = analyse(run);
  const auto& f = a.faults[0];
  EXPECT_EQ(f.degraded_seconds, 0) << describe(f);
  EXPECT_FALSE(f.time_to_detect_s);
  EXPECT_EQ(f.status, recovery_status::not_healed);
  ASSERT_FALSE(f.excluded.empty());
  EXPECT_NE(f.excluded.back().reason.find("partial second"), std::string::npos) << f.excluded.back().reason;
}

TEST(recovery, a_run_too_short_to_judge_recovery_says_so_instead_of_never) {
  // The documented short form: fault at 4 s for 2 s with a real effect, run ends at 9 s; 5 healthy
  // seconds after the heal cannot fit.
  series_builder b(29, 9.0);
  b.traffic(0, 4, 40, 2.0, 0, true).traffic(4, 6, 40, 2.0, 300, true).traffic(6, 9, 40, 2.0, 0, true);
  auto& run = b.run();
  run.duration_s = 9.0;
  run.scenarios.push_back(testing::open_scenario("load", 0, 9, 40));
  run.faults.push_back(fault("latency", "target", 4.0, 6.0));
  auto a = analyse(run);
  EXPECT_EQ(a.faults[0].detected, std::optional<bool>(true)) << describe(a.faults[0]);
  EXPECT_EQ(a.faults[0].status, recovery_status::insufficient_data) << describe(a.faults[0]);
  EXPECT_NE(a.faults[0].reason.find("(5 needed)"), std::string::npos) << a.faults[0].reason;
  EXPECT_EQ(recovery_verdict_text(a.faults[0]), "insufficient data");

  // options.recovery.consecutive_healthy_s = 2 fits.
  run.recovery_options = json::object{{"consecutive_healthy_s", 2}};
  a = analyse(run);
  EXPECT_EQ(a.faults[0].status, recovery_status::recovered) << describe(a.faults[0]);
  EXPECT_EQ(a.tolerances.consecutive_healthy_s, 2);
}

TEST(recovery, no_baseline_is_insufficient_data_with_the_reason) {
  series_builder b(31, 9.0);
  b.traffic(0, 9, 40, 2.0, 0, true);
  auto& run = b.run();
  run.scenarios.push_back(testing::open_scenario("load", 0, 9, 40));
  run.faults.push_back(fault("latency", "target", 3.0, 6.0));  // seconds 1, 2 only (0 is warm-up)
  const auto a = analyse(run);
  EXPECT_FALSE(a.baseline.available);
  EXPECT_EQ(a.faults[0].status, recovery_status::insufficient_data);
  EXPECT_NE(a.faults[0].reason.find("only 2 comparable seconds"), std::string::npos) << a.faults[0].reason;
  EXPECT_FALSE(a.faults[0].detected);

  // A process that never came back is "not healed" whatever the data can tell.
  run.faults[0] = fault("kill", "node2", 3.0, 6.0);
  run.faults[0].kind = "node";
  run.faults[0].back_tracked = true;
  const auto killed = analyse(run);
  EXPECT_EQ(killed.faults[0].status, recovery_status::not_healed) << describe(killed.faults[0]);
  EXPECT_NE(killed.faults[0].reason.find("no baseline"), std::string::npos) << killed.faults[0].reason;
}

TEST(recovery, bad_recovery_options_in_a_results_file_name_the_key) {
  auto run = quiet_run(1);
  run.recovery_options = json::object{{"confidence", 1.5}};
  try {
    (void)parse_results(build_series_results(run));
    FAIL() << "accepted confidence 1.5";
  } catch (const results_error& e) {
    EXPECT_NE(std::string(e.what()).find("recovery_options.confidence: must be between 0.5 and 1"),
              std::string::npos)
        << e.what();
  }
}

// ---------------------------------------------------------------------------------------------- recorded
// drills

// Results recorded with `stampede drill` (defaults, --seed 1, 3 nodes; history, step histograms and the
// recovery objects stripped): the shipped game days, whose hypotheses are the known answers.
recovery_analysis recorded(const std::string& name) {
  return analyse_recovery(load_results(std::string(STAMPEDE_RECORDED_DIR) + "/" + name + ".json"));
}

TEST(recovery_recorded, main_job_kill_during_the_flash_sale_is_not_blamed_for_the_spike) {
  const auto a = recorded("flash_sale_drill");
  const auto& f = a.faults.at(0);
  EXPECT_EQ(f.degraded_seconds, 0) << describe(f);
  EXPECT_EQ(f.status, recovery_status::not_healed) << describe(f);  // no --respawn-ms: node2 stays down
  bool spike_excluded = false;
  for (const auto& span : f.excluded) spike_excluded |= span.reason.find("'spike'") != std::string::npos;
  EXPECT_TRUE(spike_excluded) << describe(f);
  ASSERT_TRUE(f.p99_during_ms);
  EXPECT_LT(*f.p99_during_ms, 100.0) << "the spike's 387 ms p99 is not the kill's";
}

TEST(recovery_recorded, faults_customers_cannot_see_are_not_detected) {
  for (const char* name : {"gameday_slow_payment", "gameday_payment_down", "gameday_node_kill"}) {
    const auto a = recorded(name);
    const auto& f = a.faults.at(0);
    EXPECT_EQ(f.degraded_seconds, 0) << name << ": " << describe(f);
    EXPECT_FALSE(f.time_to_recover_s) << name << ": no recovery claimed from noise";
    EXPECT_GE(f.judged_seconds, 8) << name;
  }
}

TEST(recovery_recorded, a_pause_and_an_edge_squeeze_are_detected_and_recover) {
  auto a = recorded("gameday_node_pause");
  EXPECT_EQ(a.faults.at(0).status, recovery_status::recovered) << describe(a.faults[0]);
  EXPECT_LE(a.faults[0].time_to_detect_s.value_or(99), 1.0);
  EXPECT_LE(a.faults[0].time_to_recover_s.value_or(99), 1.0);
  EXPECT_GE(a.faults[0].degraded_by[2], 5) << "a stall shows as lost throughput";

  a = recorded("gameday_edge_squeeze");
  ASSERT_EQ(a.faults.size(), 2u);
  for (const auto& f : a.faults) {
    EXPECT_EQ(f.status, recovery_status::recovered) << describe(f);
    EXPECT_LE(f.time_to_recover_s.value_or(99), 1.0);
    ASSERT_EQ(f.shared_with.size(), 1u) << "same window: the figures say the seconds are shared";
  }
}

TEST(recovery, hostile_files_stay_bounded) {
  // One row at the last second a results file may hold, a fault starting at 1e300, and 1500 faults: no
  // allocation per second up to 10^7, no overflow converting seconds, figures for the first 1000 only.
  auto run = quiet_run(1);
  json::value doc = build_series_results(run);
  auto& root = doc.as_object();
  json::object far = root["timeseries"].as_array().back().as_object();
  far["t"] = 9'999'999;
  root["timeseries"].as_array().push_back(far);
  json::array chaos;
  for (int i = 0; i < 1500; ++i) {
    chaos.push_back(json::object{{"kind", "network"},
                                 {"fault", "latency"},
                                 {"target", "target"},
                                 {"start_s", i == 0 ? 1e300 : 8.0 + i * 0.001},
                                 {"end_s", nullptr}});
  }
  root["chaos"] = std::move(chaos);
  const auto a = analyse_recovery(parse_results(doc));
  ASSERT_EQ(a.faults.size(), 1500u);
  EXPECT_EQ(a.faults[0].status, recovery_status::not_healed);
  EXPECT_LE(a.faults[1].shared_with.size(), 20u);
  EXPECT_NE(a.faults[1200].reason.find("not analysed: more than 1000 faults"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------- output

TEST(recovery, add_recovery_writes_status_reason_and_tolerances) {
  json::value doc = build_series_results(quiet_run(1));
  add_recovery(doc);
  const auto& rec = doc.at("chaos").at(0).at("recovery").as_object();
  EXPECT_EQ(rec.at("status"), "unaffected");
  EXPECT_EQ(rec.at("detected"), false);
  EXPECT_TRUE(rec.at("time_to_recover_s").is_null());
  EXPECT_EQ(rec.at("consecutive_healthy_s"), 5);
  EXPECT_DOUBLE_EQ(rec.at("tolerance").at("confidence").to_number<double>(), 0.999);
  EXPECT_TRUE(rec.at("baseline").at("available").as_bool());
  const std::string line = recovery_line(rec);
  EXPECT_EQ(line.rfind("unaffected (degraded 0 of ", 0), 0u) << line;
  EXPECT_EQ(line.find("never"), std::string::npos) << line;
}

TEST(recovery, fault_labels_with_the_same_window_do_not_overlap_in_the_html_chart) {
  auto run = quiet_run(1);
  series_fault second = fault("bandwidth", "target", 8.01, 16.01);
  second.id = 2;
  run.faults.push_back(second);
  const std::string html = render_html(parse_results(build_series_results(run)));
  const std::string first_label = "<text x=\"";
  // Each chart carries both bands; within one chart their labels sit on different lines.
  const size_t a = html.find("<g class=\"fault\">");
  const size_t b = html.find("<g class=\"fault\">", a + 1);
  ASSERT_NE(b, std::string::npos);
  auto label_y = [&](size_t from) {
    const size_t text = html.find("<text x=\"", from);
    const size_t y = html.find("y=\"", text + 8);
    return std::stod(html.substr(y + 3, 6));
  };
  EXPECT_NE(label_y(a), label_y(b));
  EXPECT_NE(html.find("id=\"recovery\""), std::string::npos);
}

}  // namespace
}  // namespace stampede::reports
