// stampede merge (exactness on shards that are the halves of one run, wall-clock alignment, threshold
// re-evaluation) and stampede compare (known shifts with repeated and single runs, A/A runs, budgets).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <boost/json/serialize.hpp>

#include "common/hdr_histogram.h"
#include "reports/cli.h"
#include "reports/compare.h"
#include "reports/merge.h"
#include "reports/results.h"
#include "synthetic_results.h"

namespace stampede::reports {
namespace {

namespace fs = std::filesystem;
using testing::build_results_text;
using testing::lognormal_run;
using testing::synthetic_run;

hdr_histogram decode(const std::string& b64) {
  auto h = hdr_histogram::decode_base64(b64);
  EXPECT_TRUE(h.has_value());
  return h ? std::move(*h) : hdr_histogram();
}

int call(int (*command)(std::span<char* const>), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return command(argv);
}

synthetic_run full_run() {
  synthetic_run run = lognormal_run(21, 30, 40, {"GET /a", "POST /b"}, 15, 0.6);
  int n = 0;
  for (auto& r : run.requests) {
    if (++n % 50 == 0) r.error_kind = "status_5xx";
  }
  run.thresholds.push_back({"http_req_duration", "p(99)<40", 1.0, true});
  run.thresholds.push_back({"http_req_duration{name:POST /b}", "p(90)<1000", 1.0, true});
  run.thresholds.push_back({"http_req_failed", "rate<0.01", 0.0, true});
  run.thresholds.push_back({"my_custom_trend", "avg<5", 1.0, true});
  return run;
}

TEST(reports_merge_test, halves_of_a_run_merge_into_exactly_that_run) {
  synthetic_run full = full_run();
  synthetic_run a = full, b = full;
  a.requests.clear();
  b.requests.clear();
  for (size_t i = 0; i < full.requests.size(); ++i) (i % 2 == 0 ? a : b).requests.push_back(full.requests[i]);
  a.shard_count = b.shard_count = 2;
  b.shard_index = 1;
  a.vus = b.vus = 5;
  run_results whole = parse_results(build_results_text(full));
  std::vector<run_results> shards{parse_results(build_results_text(a)), parse_results(build_results_text(b))};
  merge_output m = merge_results(shards);
  run_results merged = parse_results(m.document);

  EXPECT_EQ(decode(merged.summary.histogram), decode(whole.summary.histogram));
  EXPECT_EQ(decode(merged.summary.uncorrected_histogram), decode(whole.summary.uncorrected_histogram));
  EXPECT_EQ(merged.summary.requests, whole.summary.requests);
  EXPECT_EQ(merged.summary.errors, whole.summary.errors);
  EXPECT_DOUBLE_EQ(merged.summary.latency.p99, whole.summary.latency.p99);
  EXPECT_DOUBLE_EQ(merged.summary.latency.max, whole.summary.latency.max);
  EXPECT_EQ(merged.vus_max, whole.vus_max);
  ASSERT_EQ(merged.steps.size(), whole.steps.size());
  for (size_t i = 0; i < whole.steps.size(); ++i) {
    EXPECT_EQ(merged.steps[i].name, whole.steps[i].name);
    EXPECT_EQ(decode(merged.steps[i].histogram), decode(whole.steps[i].histogram)) << whole.steps[i].name;
    EXPECT_EQ(merged.steps[i].errors_by_kind, whole.steps[i].errors_by_kind);
  }
  ASSERT_EQ(merged.intervals.size(), whole.intervals.size());
  for (size_t i = 0; i < whole.intervals.size(); ++i) {
    EXPECT_EQ(merged.intervals[i].step, whole.intervals[i].step);
    EXPECT_EQ(merged.intervals[i].t, whole.intervals[i].t);
    EXPECT_EQ(decode(merged.intervals[i].histogram), decode(whole.intervals[i].histogram));
    ASSERT_TRUE(merged.intervals[i].requests.has_value());
    EXPECT_EQ(merged.intervals[i].requests, whole.intervals[i].requests);
    EXPECT_EQ(merged.intervals[i].errors, whole.intervals[i].errors);
  }
  ASSERT_EQ(merged.timeseries.size(), whole.timeseries.size());
  for (size_t i = 0; i < whole.timeseries.size(); ++i) {
    EXPECT_EQ(merged.timeseries[i].requests, whole.timeseries[i].requests);
    EXPECT_DOUBLE_EQ(merged.timeseries[i].p99_ms, whole.timeseries[i].p99_ms);
    EXPECT_DOUBLE_EQ(merged.timeseries[i].max_ms, whole.timeseries[i].max_ms);
  }
  // Thresholds re-evaluated on the merged histogram, not copied from a shard.
  ASSERT_EQ(merged.thresholds.size(), 4u);
  EXPECT_DOUBLE_EQ(*merged.thresholds[0].observed, whole.summary.latency.p99);
  EXPECT_EQ(merged.thresholds[0].ok, whole.summary.latency.p99 < 40);
  EXPECT_DOUBLE_EQ(*merged.thresholds[1].observed, whole.steps[1].latency.p90);
  EXPECT_DOUBLE_EQ(*merged.thresholds[2].observed, whole.summary.error_rate);
  EXPECT_FALSE(merged.thresholds[2].ok);  // 2% errors
  EXPECT_FALSE(merged.thresholds[3].observed.has_value());
  EXPECT_TRUE(merged.thresholds[3].ok);
  EXPECT_EQ(m.warnings.size(), 1u);  // the custom metric was not re-evaluated
}

TEST(reports_merge_test, shards_started_at_different_times_align_on_wall_clock_seconds) {
  synthetic_run full = full_run();
  synthetic_run a = full, b = full;
  a.requests.clear();
  b.requests.clear();
  b.start_unix_ms = full.start_unix_ms + 10'000;  // shard b started 10 s later
  for (const auto& r : full.requests) {
    if (r.t_s < 10) {
      a.requests.push_back(r);
    } else {
      auto shifted = r;
      shifted.t_s -= 10;
      b.requests.push_back(shifted);
    }
  }
  a.duration_s = 10;
  b.duration_s = 20;
  run_results whole = parse_results(build_results_text(full));
  std::vector<run_results> shards{parse_results(build_results_text(b)), parse_results(build_results_text(a))};
  run_results merged = parse_results(merge_results(shards).document);
  EXPECT_EQ(merged.start_unix_ms, whole.start_unix_ms);
  EXPECT_DOUBLE_EQ(merged.duration_s, 30.0);
  ASSERT_EQ(merged.timeseries.size(), 30u);
  for (size_t i = 0; i < 30; ++i) {
    EXPECT_EQ(merged.timeseries[i].t, whole.timeseries[i].t);
    EXPECT_EQ(merged.timeseries[i].requests, whole.timeseries[i].requests);
    EXPECT_DOUBLE_EQ(merged.timeseries[i].p50_ms, whole.timeseries[i].p50_ms);
  }
  EXPECT_EQ(decode(merged.summary.histogram), decode(whole.summary.histogram));
}

TEST(reports_merge_test, merge_command_writes_file_and_reports_errors) {
  fs::path dir = fs::path(::testing::TempDir()) / "reports_merge_cli";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "a.json") << build_results_text(full_run());
  std::ofstream(dir / "b.json") << build_results_text(full_run());
  std::ofstream(dir / "broken.json") << "{\"schema\":\"stampede-results\",\"version\":1,\"summary\":{\"histogram\":\"HISTFAAA!!\"}}";
  EXPECT_EQ(call(merge_command, {"merge", (dir / "a.json").string(), (dir / "b.json").string(), "-o",
                                 (dir / "m.json").string(), "--report", (dir / "report").string()}),
            exit_ok);
  run_results m = load_results((dir / "m.json").string());
  EXPECT_EQ(m.summary.requests, 2 * parse_results(build_results_text(full_run())).summary.requests);
  EXPECT_TRUE(fs::exists(dir / "report" / "report.html"));
  EXPECT_EQ(call(merge_command, {"merge", (dir / "a.json").string(), (dir / "broken.json").string()}), exit_input);
  EXPECT_EQ(call(merge_command, {"merge"}), exit_usage);
  EXPECT_EQ(call(merge_command, {"merge", "--what"}), exit_usage);
}

// ------------------------------------------------------------------------------------------------ compare

std::vector<run_results> runs(uint64_t first_seed, int n, double scale) {
  std::vector<run_results> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(parse_results(build_results_text(
        lognormal_run(first_seed + static_cast<uint64_t>(i), 30, 100, {"GET /a", "POST /b"}, 20, 0.5, scale))));
  }
  return out;
}

const metric_comparison& row(const comparison& c, std::string_view step, std::string_view metric) {
  for (const auto& r : c.rows) {
    if (r.step == step && r.metric == metric) return r;
  }
  throw std::runtime_error("no row");
}

TEST(reports_compare_test, repeated_runs_flag_a_20_percent_p99_regression) {
  auto c = compare_runs(runs(100, 5, 1.0), runs(200, 5, 1.2), parse_budget(default_budget));
  EXPECT_TRUE(c.repeated);
  EXPECT_TRUE(c.regression());
  const auto& p99 = row(c, "all requests", "p99");
  EXPECT_EQ(p99.verdict, comparison_verdict::regression);
  EXPECT_NEAR(p99.change, 20.0, 4.0);
  EXPECT_GT(p99.ci_low, 10.0 - 5.0);
  EXPECT_EQ(row(c, "GET /a", "p99").verdict, comparison_verdict::regression);
  // Same arrival rate: throughput did not move.
  EXPECT_EQ(row(c, "all requests", "rps").verdict, comparison_verdict::no_change);
}

TEST(reports_compare_test, repeated_a_a_runs_are_not_flagged) {
  for (uint64_t base : {300u, 400u, 500u}) {
    auto c = compare_runs(runs(base, 5, 1.0), runs(base + 50, 5, 1.0), parse_budget(default_budget));
    EXPECT_FALSE(c.regression()) << render_comparison_markdown(c);
    for (const auto& r : c.rows) {
      EXPECT_NE(r.verdict, comparison_verdict::regression) << r.step << " " << r.metric;
      EXPECT_NE(r.verdict, comparison_verdict::improvement) << r.step << " " << r.metric;
    }
  }
}

TEST(reports_compare_test, improvement_is_reported_as_such) {
  auto c = compare_runs(runs(600, 4, 1.0), runs(700, 4, 0.7), parse_budget(default_budget));
  EXPECT_FALSE(c.regression());
  EXPECT_EQ(row(c, "all requests", "p99").verdict, comparison_verdict::improvement);
}

TEST(reports_compare_test, single_runs_say_how_much_noise_they_cannot_rule_out) {
  auto regressed = compare_runs(runs(800, 1, 1.0), runs(900, 1, 1.2), parse_budget(default_budget));
  EXPECT_FALSE(regressed.repeated);
  EXPECT_NE(regressed.method.find("run-to-run noise is not measured"), std::string::npos);
  const auto& p99 = row(regressed, "all requests", "p99");
  EXPECT_EQ(p99.verdict, comparison_verdict::regression);
  EXPECT_LT(p99.ci_low, p99.change);  // a real interval from the bootstrap
  EXPECT_GT(p99.ci_high, p99.change);
  std::string md = render_comparison_markdown(regressed);
  EXPECT_NE(md.find("Single runs cannot separate"), std::string::npos);

  auto same = compare_runs(runs(1000, 1, 1.0), runs(1100, 1, 1.0), parse_budget(default_budget));
  EXPECT_FALSE(same.regression()) << render_comparison_markdown(same);
}

TEST(reports_compare_test, budget_parsing) {
  auto b = parse_budget("p99:+10%,rps:-5%,error_rate:+0.5pp,p50:+3ms");
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0].metric, "p99");
  EXPECT_EQ(b[0].amount, 10);
  EXPECT_EQ(b[1].amount, -5);
  EXPECT_EQ(b[2].unit, budget_unit::points);
  EXPECT_EQ(b[3].unit, budget_unit::ms);
  EXPECT_THROW(parse_budget("p99:-10%"), std::invalid_argument);  // would gate on improvements
  EXPECT_THROW(parse_budget("rps:+5%"), std::invalid_argument);
  EXPECT_THROW(parse_budget("p98:+1%"), std::invalid_argument);
  EXPECT_THROW(parse_budget("p99:10"), std::invalid_argument);
  EXPECT_THROW(parse_budget("rps:-5pp"), std::invalid_argument);
  EXPECT_THROW(parse_budget(""), std::invalid_argument);
  EXPECT_DOUBLE_EQ(t_critical_95(4), 2.776);
  EXPECT_NEAR(t_critical_95(1000), 1.962, 0.001);
}

TEST(reports_compare_test, compare_command_exit_codes_and_outputs) {
  fs::path dir = fs::path(::testing::TempDir()) / "reports_compare_cli";
  fs::remove_all(dir);
  for (const char* side : {"base", "same", "slow"}) fs::create_directories(dir / side);
  for (int i = 0; i < 3; ++i) {
    auto seed = static_cast<uint64_t>(i);
    std::ofstream(dir / "base" / ("run" + std::to_string(i) + ".json"))
        << build_results_text(lognormal_run(1200 + seed, 20, 100, {"GET /a"}));
    std::ofstream(dir / "same" / ("run" + std::to_string(i) + ".json"))
        << build_results_text(lognormal_run(1300 + seed, 20, 100, {"GET /a"}));
    std::ofstream(dir / "slow" / ("run" + std::to_string(i) + ".json"))
        << build_results_text(lognormal_run(1400 + seed, 20, 100, {"GET /a"}, 20, 0.5, 1.25));
  }
  std::string base = (dir / "base").string(), same = (dir / "same").string(), slow = (dir / "slow").string();
  EXPECT_EQ(call(compare_command, {"compare", base, same, "-o", (dir / "aa.md").string()}), exit_ok);
  EXPECT_EQ(call(compare_command, {"compare", base, slow, "-o", (dir / "ab.md").string(), "--junit",
                                   (dir / "ab.xml").string()}),
            exit_regression);
  std::ifstream md(dir / "ab.md");
  std::string first_line;
  std::getline(md, first_line);
  EXPECT_EQ(first_line.rfind("## ❌ Regression", 0), 0u) << first_line;
  std::ifstream xml(dir / "ab.xml");
  std::string x((std::istreambuf_iterator<char>(xml)), std::istreambuf_iterator<char>());
  EXPECT_NE(x.find("<failure type=\"regression\""), std::string::npos);
  EXPECT_EQ(call(compare_command, {"compare", base, slow, "--budget", "p99:+40%"}), exit_ok);
  EXPECT_EQ(call(compare_command, {"compare", base}), exit_usage);
  EXPECT_EQ(call(compare_command, {"compare", base, same, "--budget", "p99:-1%"}), exit_usage);
  EXPECT_EQ(call(compare_command, {"compare", base, (dir / "nothing").string()}), exit_input);
  fs::create_directories(dir / "empty");
  EXPECT_EQ(call(compare_command, {"compare", base, (dir / "empty").string()}), exit_input);
}

}  // namespace
}  // namespace stampede::reports
