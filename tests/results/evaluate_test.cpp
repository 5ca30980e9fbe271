// Thresholds evaluated on a results file (results/evaluate.h, what `stampede merge` re-evaluates): known
// answers from histograms and counts, and what is left to the shards' verdicts.
#include "results/evaluate.h"

#include <gtest/gtest.h>

#include "common/hdr_histogram.h"

namespace stampede::results {
namespace {

std::string histogram_of(int64_t from_us, int64_t to_us, int64_t step_us) {
  hdr_histogram h;
  for (int64_t us = from_us; us <= to_us; us += step_us) h.record(us);
  return h.encode_compressed_base64();
}

// 10 s, 1000 requests (1..100 ms, ten of each), 10 errors, 400 iterations, 4 dropped, checks 90% passing.
run_results known_run() {
  run_results r;
  r.duration_s = 10;
  r.summary.requests = 1000;
  r.summary.errors = 10;
  r.summary.histogram = histogram_of(1000, 100'000, 1000);
  r.iterations = 400;
  r.dropped_iterations = 4;
  step_result cart;
  cart.name = "GET /cart";
  cart.histogram = histogram_of(10'000, 10'000, 1);
  step_result checkout;
  checkout.name = "::checkout";
  checkout.kind = "group";
  checkout.histogram = histogram_of(200'000, 200'000, 1);
  r.steps = {cart, checkout};
  r.checks = {{"status 200", "", 9, 1}};
  return r;
}

TEST(evaluate_threshold, trends_come_from_the_histograms) {
  const run_results r = known_run();
  auto e = evaluate_threshold(r, "http_req_duration", "p(99) < 300");
  ASSERT_TRUE(e.evaluated);
  EXPECT_NEAR(*e.observed, 99, 0.1);
  EXPECT_TRUE(e.ok);
  e = evaluate_threshold(r, "http_req_duration", "avg<50");
  EXPECT_NEAR(*e.observed, 50.5, 0.1);
  EXPECT_FALSE(e.ok);
  EXPECT_NEAR(*evaluate_threshold(r, "http_req_duration", "med<=50").observed, 50, 0.1);
  EXPECT_NEAR(*evaluate_threshold(r, "http_req_duration", "min>0").observed, 1, 0.01);
  EXPECT_NEAR(*evaluate_threshold(r, "http_req_duration", "max<100").observed, 100, 0.1);
}

TEST(evaluate_threshold, sub_metrics_select_a_request_or_a_group) {
  const run_results r = known_run();
  EXPECT_NEAR(*evaluate_threshold(r, "http_req_duration{name:GET /cart}", "p(95)<20").observed, 10, 0.01);
  // Quoted values as the grammar reads them (loadgen accepts the same key).
  const auto quoted = evaluate_threshold(r, "http_req_duration{name:\"GET /cart\"}", "p(95)<20");
  ASSERT_TRUE(quoted.evaluated);
  EXPECT_NEAR(*quoted.observed, 10, 0.01);
  EXPECT_NEAR(*evaluate_threshold(r, "group_duration{group:::checkout}", "avg<300").observed, 200, 0.2);
  EXPECT_NEAR(*evaluate_threshold(r, "group_duration{group:checkout}", "avg<300").observed, 200, 0.2);
  EXPECT_FALSE(evaluate_threshold(r, "http_req_duration{name:GET /missing}", "p(95)<20").evaluated);
  EXPECT_FALSE(evaluate_threshold(r, "http_req_duration{group:::checkout}", "p(95)<20").evaluated);
  EXPECT_FALSE(evaluate_threshold(r, "http_req_duration{name:GET /cart,method:GET}", "p(95)<20").evaluated);
}

TEST(evaluate_threshold, rates_and_counts) {
  const run_results r = known_run();
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_req_failed", "rate<0.05").observed, 0.01);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_reqs", "count>0").observed, 1000);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_reqs", "rate>=100").observed, 100);
  EXPECT_TRUE(evaluate_threshold(r, "http_reqs", "rate>=100").ok);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "iterations", "rate>1").observed, 40);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "dropped_iterations", "count==0").observed, 4);
  EXPECT_FALSE(evaluate_threshold(r, "dropped_iterations", "count==0").ok);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "checks", "rate>0.95").observed, 0.9);
  EXPECT_FALSE(evaluate_threshold(r, "checks", "rate>0.95").ok);
}

TEST(evaluate_threshold, counters_rates_and_checks_by_tag_set_come_from_their_steps_checks_and_metrics) {
  run_results r = known_run();
  r.steps[0].requests = 300;
  r.steps[0].errors = 3;
  step_result ok;
  ok.name = "{status:200}";
  ok.kind = "tagged";
  ok.requests = 600;
  r.steps.push_back(ok);
  r.checks.push_back({"cart ok", "::checkout", 1, 3});
  metric_result browse_time;
  browse_time.name = "iteration_duration{scenario:browse}";
  browse_time.metric = "iteration_duration";
  browse_time.type = "trend";
  browse_time.is_time = true;
  browse_time.samples = 3;
  browse_time.histogram = histogram_of(100'000, 300'000, 100'000);
  metric_result browse_iterations;
  browse_iterations.name = "iterations{scenario:browse}";
  browse_iterations.metric = "iterations";
  browse_iterations.type = "counter";
  browse_iterations.samples = 3;
  browse_iterations.count = 3;
  metric_result browse_checks;
  browse_checks.name = "checks{scenario:browse}";
  browse_checks.metric = "checks";
  browse_checks.type = "rate";
  browse_checks.samples = 4;
  browse_checks.trues = 1;
  r.metrics = {browse_time, browse_iterations, browse_checks};

  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_reqs{status:200}", "count==600").observed, 600);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_reqs{status:200}", "rate>50").observed, 60);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_reqs{name:GET /cart}", "count>0").observed, 300);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_req_failed{name:GET /cart}", "rate<0.05").observed, 0.01);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_req_failed{status:200}", "rate<0.05").observed, 0);
  EXPECT_FALSE(evaluate_threshold(r, "http_reqs{status:500}", "count==0").evaluated);  // not recorded
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "checks{check:status 200}", "rate>0.5").observed, 0.9);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "checks{group:::checkout}", "rate>0.5").observed, 0.25);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "checks{check:cart ok,group:::checkout}", "rate>0.5").observed,
                   0.25);
  EXPECT_FALSE(evaluate_threshold(r, "checks{check:cart ok,group:}", "rate>0.5").evaluated);
  EXPECT_NEAR(*evaluate_threshold(r, "iteration_duration{scenario:browse}", "max<500").observed, 300, 0.3);
  EXPECT_NEAR(*evaluate_threshold(r, "iteration_duration{scenario:browse}", "med<500").observed, 200, 0.2);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "iterations{scenario:browse}", "count==3").observed, 3);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "iterations{scenario:browse}", "rate<1").observed, 0.3);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "checks{scenario:browse}", "rate>0.9").observed, 0.25);
  EXPECT_FALSE(evaluate_threshold(r, "checks{scenario:browse}", "rate>0.9").ok);
  EXPECT_FALSE(evaluate_threshold(r, "iterations{scenario:calm}", "count>0").evaluated);  // not recorded
}

TEST(evaluate_threshold, uncorrected_latency_from_its_histogram_and_phases_by_their_mean) {
  run_results r = known_run();
  step_result ok;
  ok.name = "{status:200}";
  ok.kind = "tagged";
  ok.requests = 10;
  ok.histogram = histogram_of(50'000, 50'000, 1);
  ok.uncorrected_histogram = histogram_of(20'000, 20'000, 1);
  ok.timings = {
      {"blocked", 0.5, 1}, {"connect", 2, 4}, {"send", 0.1, 0.2}, {"wait", 12.5, 30}, {"receive", 1, 2}};
  r.steps.push_back(ok);
  r.summary.uncorrected_histogram = histogram_of(1000, 2000, 1000);
  r.summary.requests = 1000;
  r.summary.timings = {{"wait", 7.25, 9}};
  EXPECT_NEAR(*evaluate_threshold(r, "http_req_duration_uncorrected", "max<5").observed, 2, 0.01);
  EXPECT_NEAR(*evaluate_threshold(r, "http_req_duration_uncorrected{status:200}", "p(99)<50").observed, 20,
              0.02);
  EXPECT_NEAR(*evaluate_threshold(r, "http_req_duration{status:200}", "p(99)<50").observed, 50, 0.05);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_req_waiting{status:200}", "avg<20").observed, 12.5);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_req_tls_handshaking{status:200}", "avg<20").observed, 2);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(r, "http_req_waiting", "avg<20").observed, 7.25);
  // A phase's p99 in the file is not exact after a merge (the largest shard's): not answered.
  EXPECT_FALSE(evaluate_threshold(r, "http_req_waiting{status:200}", "p(99)<20").evaluated);
  EXPECT_FALSE(evaluate_threshold(r, "http_req_waiting{name:GET /cart}", "avg<20").evaluated);  // no requests
}

TEST(evaluate_threshold, what_a_results_file_cannot_answer_is_not_evaluated) {
  run_results r = known_run();
  EXPECT_FALSE(evaluate_threshold(r, "orders_placed", "count>0").evaluated);   // a custom metric
  EXPECT_FALSE(evaluate_threshold(r, "http_req_failed", "count<1").evaluated);  // not a rate's aggregation
  EXPECT_FALSE(evaluate_threshold(r, "http_req_duration", "p(99)<fast").evaluated);
  EXPECT_FALSE(evaluate_threshold(r, "vus", "value<10").evaluated);                // a gauge: not in the file
  EXPECT_FALSE(evaluate_threshold(r, "http_reqs{name:GET /cart}", "count>0").evaluated);
  r.summary.histogram.clear();
  EXPECT_FALSE(evaluate_threshold(r, "http_req_duration", "p(99)<300").evaluated);
  // Nothing measured: rates read 0, as a run with no requests writes them.
  run_results empty;
  EXPECT_DOUBLE_EQ(*evaluate_threshold(empty, "http_req_failed", "rate<0.01").observed, 0);
  EXPECT_DOUBLE_EQ(*evaluate_threshold(empty, "checks", "rate>0.9").observed, 0);
}

}  // namespace
}  // namespace stampede::results
