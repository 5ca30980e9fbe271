// stampede merge (exactness on shards that are the halves of one run, wall-clock alignment, threshold
// re-evaluation) and stampede compare (known shifts with repeated and single runs, A/A runs, budgets).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <boost/json/serialize.hpp>

#include "common/hdr_histogram.h"
#include "reports/cli.h"
#include "reports/compare.h"
#include "reports/compare_noise.h"
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
  synthetic_run a = full_run(), b = full_run();
  a.run_id = "run-a";  // two full runs of the same test, e.g. from two machines without --shard
  b.run_id = "run-b";
  std::ofstream(dir / "a.json") << build_results_text(a);
  std::ofstream(dir / "b.json") << build_results_text(b);
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

// `merge a.json a.json` doubled every count silently, and shard 5 of 2 was accepted.
TEST(reports_merge_test, duplicate_runs_and_impossible_shards_are_refused_unless_forced) {
  fs::path dir = fs::path(::testing::TempDir()) / "reports_merge_refuse";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto shard = [](int64_t index, int64_t count, std::string run_id) {
    synthetic_run r = lognormal_run(1900 + static_cast<uint64_t>(index), 10, 20, {"GET /a"});
    r.shard_index = index;
    r.shard_count = count;
    r.run_id = std::move(run_id);
    return r;
  };
  auto write = [&](const std::string& name, const synthetic_run& r) {
    std::ofstream(dir / name) << build_results_text(r);
    return (dir / name).string();
  };
  const std::string s0 = write("s0.json", shard(0, 2, "r0")), s1 = write("s1.json", shard(1, 2, "r1"));
  const std::string s1_again = write("s1b.json", shard(1, 2, "r1-rerun")), s5 = write("s5.json", shard(5, 2, "r5"));
  const std::string s0_of_3 = write("s0of3.json", shard(0, 3, "r03"));
  const std::string legacy = write("legacy.json", shard(0, 1, ""));
  const std::string m = (dir / "m.json").string();

  EXPECT_EQ(call(merge_command, {"merge", s0, s1, "-o", m}), exit_ok);
  run_results merged = load_results(m);
  EXPECT_EQ(merged.merged_from, (std::vector<std::string>{"r0", "r1"}));
  EXPECT_FALSE(merged.run_id.empty());
  for (const auto& refused : std::vector<std::vector<std::string>>{
           {s0, s0},         // the same file twice
           {s0, s1, s1_again},  // shard 1 of 2 twice (a re-run shard)
           {s0, s5},         // shard 5 of 2
           {s0, s0_of_3},    // different splits
           {m, s1},          // a merge and one of its own shards
           {legacy, legacy}}) {  // no run ids: known by scenario, start time and shard
    std::vector<std::string> args{"merge"};
    args.insert(args.end(), refused.begin(), refused.end());
    args.insert(args.end(), {"-o", (dir / "refused.json").string()});
    EXPECT_EQ(call(merge_command, args), exit_input) << refused.front() << " + " << refused.back();
    EXPECT_FALSE(fs::exists(dir / "refused.json"));
  }
  // --force merges anyway, and says what it merged.
  EXPECT_EQ(call(merge_command, {"merge", s0, s0, "--force", "-o", (dir / "forced.json").string()}), exit_ok);
  const run_results one = load_results(s0);
  EXPECT_EQ(load_results((dir / "forced.json").string()).summary.requests, 2 * one.summary.requests);
  std::vector<run_results> twice{one, one};
  const merge_output forced = merge_results(twice, merge_options{.force = true, .names = {}});
  ASSERT_FALSE(forced.warnings.empty());
  EXPECT_NE(forced.warnings.front().find("the same slice of the load twice"), std::string::npos) << forced.warnings.front();
  EXPECT_THROW(merge_results(twice), results_error);
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

// A constant arrival rate gives identical per-second counts; a 0.03% difference in the run's length then
// moved the throughput by 0.03% "with zero noise" and was called "worse, within budget". A change that
// prints as 0 is never worse, and counting noise is at least Poisson's.
TEST(reports_compare_test, single_runs_never_call_a_change_that_rounds_to_zero_worse) {
  run_results base = parse_results(build_results_text(lognormal_run(1500, 30, 100, {"GET /a", "POST /b"})));
  run_results cur = base;
  cur.summary.rps *= 1 - 0.0003;  // the same requests over 30.01 s instead of 30 s
  for (auto& s : cur.steps) s.rps *= 1 - 0.0003;
  auto c = compare_runs(std::vector{base}, std::vector{cur}, parse_budget(default_budget));
  for (const auto& r : c.rows) {
    EXPECT_EQ(r.verdict, comparison_verdict::no_change) << r.step << " " << r.metric << " " << r.change;
    EXPECT_FALSE(r.significant) << r.step << " " << r.metric;
  }
  EXPECT_LT(row(c, "all requests", "rps").ci_low, -0.1);  // Poisson: 6,000 requests move by ~1.3%
  EXPECT_GT(row(c, "all requests", "rps").ci_high, 0.1);
}

// Heavy tails and few requests make the within-run noise of p99 and max larger than the values: the
// interval of a positive quantity's change is a ratio interval and never goes below -100% (-baseline ms).
TEST(reports_compare_test, intervals_of_positive_quantities_never_go_below_minus_100_percent) {
  auto budget = parse_budget("p99:+10%,max:+10%,p999:+10%,mean:+10%,p50:+3ms,rps:-5%");
  for (uint64_t seed : {1600u, 1610u, 1620u}) {
    std::vector<run_results> b{parse_results(build_results_text(lognormal_run(seed, 20, 5, {"GET /a"}, 20, 2.0)))};
    std::vector<run_results> c{parse_results(build_results_text(lognormal_run(seed + 1, 20, 5, {"GET /a"}, 20, 2.0)))};
    auto cmp = compare_runs(b, c, budget);
    for (const auto& r : cmp.rows) {
      if (r.verdict == comparison_verdict::missing) continue;
      EXPECT_LE(r.ci_low, r.change) << r.step << " " << r.metric;
      EXPECT_GE(r.ci_high, r.change) << r.step << " " << r.metric;
      if (r.budget.unit == budget_unit::percent) {
        EXPECT_GT(r.ci_low, -100.0) << r.step << " " << r.metric;
      } else if (r.budget.unit == budget_unit::ms) {
        EXPECT_GT(r.ci_low, -r.baseline) << r.step << " " << r.metric;
      }
    }
    const std::string md = render_comparison_markdown(cmp);
    for (size_t at = md.find("% …"); at != std::string::npos; at = md.find("% …", at + 1)) {
      const size_t start = md.rfind("| ", at) + 2;
      EXPECT_GT(std::stod(md.substr(start, at - start)), -100.0) << md;
    }
  }
}

// A run whose latency drifts slowly (an AR(1) multiplier per second, as load and caches wander): A/A pairs
// of single runs must not be called significantly different much more often than 5% of the time. Resampling
// single seconds, as if they were independent, made the interval far too narrow.
TEST(reports_compare_test, single_runs_account_for_autocorrelated_seconds) {
  auto drifting = [](uint64_t seed) {
    synthetic_run run = lognormal_run(seed, 120, 40, {"GET /a"}, 20, 0.3);
    std::mt19937_64 rng(seed * 7919);
    std::normal_distribution<double> innovation(0, 0.1);
    std::vector<double> factor(121);
    double a = 0;
    for (auto& f : factor) {
      a = 0.8 * a + innovation(rng);
      f = std::exp(a);
    }
    for (auto& r : run.requests) {
      const double f = factor[static_cast<size_t>(r.t_s)];
      r.latency_us = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(r.latency_us) * f));
      r.uncorrected_us = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(r.uncorrected_us) * f));
    }
    return parse_results(build_results_text(run));
  };
  int significant = 0, pairs = 0;
  for (uint64_t seed = 1700; seed < 1740; seed += 2) {
    auto c = compare_runs(std::vector{drifting(seed)}, std::vector{drifting(seed + 1)}, parse_budget("p50:+10%,p99:+10%,mean:+10%"));
    for (const auto& r : c.rows) {
      if (r.step != "all requests") continue;  // the step's rows are the same data
      significant += r.significant;
      ++pairs;
    }
  }
  // Resampling single seconds called 39 of these 60 significant.
  EXPECT_LE(significant, pairs / 4) << significant << " of " << pairs << " A/A comparisons called significant";
}

// Repeated runs where a step ran in one run per side only: one value per side, and no within-run noise
// was estimated for it (that is done for single runs only). It must be judged on the budget alone.
TEST(reports_compare_test, a_step_in_one_run_per_side_of_repeated_runs_has_no_noise_estimate) {
  std::vector<run_results> base = runs(1950, 3, 1.0), cur = runs(1960, 3, 1.3);
  base[0] = parse_results(build_results_text(lognormal_run(1970, 30, 100, {"GET /a", "POST /b", "GET /rare"})));
  cur[0] = parse_results(build_results_text(lognormal_run(1971, 30, 100, {"GET /a", "POST /b", "GET /rare"}, 20, 0.5, 1.3)));
  auto c = compare_runs(base, cur, parse_budget(default_budget));
  const auto& rare = row(c, "GET /rare", "p99");
  EXPECT_NE(rare.note.find("noise unknown"), std::string::npos) << rare.note;
  EXPECT_EQ(rare.verdict, comparison_verdict::regression);  // +30% against a +10% budget
  EXPECT_NE(row(c, "GET /rare", "error_rate").note.find("noise unknown"), std::string::npos);
}

TEST(reports_compare_test, block_length_follows_the_autocorrelation) {
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0, 1);
  std::vector<double> white(300), ar(300);
  double a = 0;
  for (size_t i = 0; i < 300; ++i) {
    white[i] = noise(rng);
    a = 0.9 * a + noise(rng);
    ar[i] = a;
  }
  EXPECT_LE(detail::block_length(white), 2u);
  EXPECT_GE(detail::block_length(ar), 10u);
  EXPECT_LE(detail::block_length(ar), 60u);  // at most n/5
  EXPECT_EQ(detail::block_length(std::vector<double>(50, 3.0)), 1u);  // constant: nothing to resample
}

TEST(reports_compare_test, fail_on_missing_fails_the_gate_when_a_step_disappears) {
  fs::path dir = fs::path(::testing::TempDir()) / "reports_compare_missing";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "base.json") << build_results_text(lognormal_run(1800, 20, 50, {"GET /a", "POST /checkout"}));
  std::ofstream(dir / "cur.json") << build_results_text(lognormal_run(1801, 20, 50, {"GET /a"}));
  const std::string base = (dir / "base.json").string(), cur = (dir / "cur.json").string();
  // The summary's throughput halves with the step: this budget looks at latency only.
  EXPECT_EQ(call(compare_command, {"compare", base, cur, "--budget", "p99:+50%", "-o", (dir / "plain.md").string()}), exit_ok);
  EXPECT_EQ(call(compare_command, {"compare", base, cur, "--budget", "p99:+50%", "--fail-on-missing", "-o", (dir / "gate.md").string(), "--junit",
                                   (dir / "gate.xml").string()}),
            exit_regression);
  std::ifstream md(dir / "gate.md");
  std::string first_line;
  std::getline(md, first_line);
  EXPECT_EQ(first_line.rfind("## ❌ Missing", 0), 0u) << first_line;
  std::ifstream xml(dir / "gate.xml");
  std::string x((std::istreambuf_iterator<char>(xml)), std::istreambuf_iterator<char>());
  EXPECT_NE(x.find("<failure type=\"missing\""), std::string::npos) << x;
  // A step that appears in the current runs only is not a disappearance.
  EXPECT_EQ(call(compare_command, {"compare", cur, base, "--budget", "p99:+50%", "--fail-on-missing", "-o",
                                   (dir / "new.md").string()}),
            exit_ok);
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
