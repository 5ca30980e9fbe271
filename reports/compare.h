// Baseline comparison (`stampede compare`): per step and per metric, is CURRENT worse than BASELINE by more
// than the budget, and is the difference larger than the noise?
//
// Method (docs/REPORTS.md explains it for users):
// - Each side is one or more runs of one configuration. A metric's value per run is read from the results
//   file (p50/p90/p95/p99/p999/max/mean in ms, rps, error_rate as a fraction).
// - Two or more runs on both sides: Welch's t-test on the per-run values (run-to-run noise is what
//   decides), 95% two-sided confidence interval of the difference of means.
// - Two or more runs on one side only: that side's run-to-run standard deviation is used for both.
// - A single run on both sides: run-to-run noise cannot be measured. The interval then covers only the
//   sampling noise inside the runs: a block bootstrap over blocks of seconds (per-second interval
//   histograms for latency, per-second counts for throughput with Poisson's noise as a floor, per-second
//   errors or binomial for error rates; the block length follows the per-second series' autocorrelation);
//   the report says so.
// - Latency and throughput are positive: their change is a ratio, and its interval is computed on the log
//   scale (delta method for means of runs, the bootstrap's spread of ln(statistic) for single runs), so it
//   can never go below -100%. The error rate's change is a difference in points, its interval clamped to
//   the rates that can exist.
// - Verdict per metric: regression = worse by more than the budget and the interval excludes zero;
//   within_budget = significantly worse but within the budget; improvement = significantly better by more
//   than the budget's magnitude; no_change otherwise. A change below the resolution (0.1%, 0.005 pp, or
//   0.1% of the baseline in ms) is never worse or better.
// - Custom metrics ("metrics" of the results, including the built-in sub-metrics kept there) get rows of
// their
//   own (compare_metrics.cpp): trends by the budget's latency statistics, higher is worse; counters by their
//   rate per second, rates by their ratio, gauges by their value, worse in the direction a threshold on the
//   metric in CURRENT says (`<` or `<=`: higher is worse, `>` or `>=`: lower is worse), else reported as
//   "changed" or "no significant change" without a verdict. A metric in one side only is listed as missing.
// - A step served by the baseline but not by the current side has "missing" rows; with fail_on_missing the
//   comparison fails (a removed or renamed step must not pass the gate unnoticed).
//
// Thread-safety: pure functions (the bootstrap uses a fixed seed, so results are reproducible).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reports/results.h"

namespace stampede::reports {

enum class metric_direction { higher_is_worse, lower_is_worse };
enum class budget_unit { percent, points, ms };  // relative %, absolute percentage points, absolute ms

struct budget_item {
  std::string metric;  // p50 p90 p95 p99 p999 max mean rps error_rate
  double amount = 0;   // signed as written: "+10%" -> 10, "-5%" -> -5
  budget_unit unit = budget_unit::percent;
};

inline constexpr std::string_view default_budget = "p50:+10%,p99:+10%,rps:-5%,error_rate:+0.5pp";

// Parses "p99:+10%,rps:-5%,error_rate:+0.5pp,p50:+3ms". Throws std::invalid_argument with a message for
// unknown metrics, a sign pointing the wrong way (p99:-10% would gate on improvements) or bad numbers.
std::vector<budget_item> parse_budget(std::string_view text);

// changed: a custom metric's row with no known worse direction (see compare_custom_metrics) changed.
enum class comparison_verdict { regression, within_budget, no_change, improvement, missing, changed };
std::string_view verdict_name(comparison_verdict v);

struct metric_comparison {
  std::string step;  // "all requests" for the summary
  std::string metric;
  budget_item budget;
  double baseline = 0, current = 0;            // means over runs
  double baseline_sd = 0, current_sd = 0;      // between runs (0 with a single run)
  double change = 0;                           // current - baseline, in the budget's unit (%, pp or ms)
  double ci_low = 0, ci_high = 0;              // 95% interval of change, same unit
  bool significant = false;
  bool noise_known = true;  // false: no noise estimate (the budget alone decided; the interval is not one)
  comparison_verdict verdict = comparison_verdict::no_change;
  std::string note;
  // A custom metric's row: kind "trend" | "counter" | "rate" | "gauge" (empty for the built-in rows), `step`
  // the metric or sub-metric ("login_time{flow:buy}"), `metric` the statistic (p99 ..., "rate/s", "rate",
  // "value"). `worse` is the direction that is worse (unset: none known, the row is never a regression) and
  // `worse_because` says where it comes from.
  std::string kind;
  bool is_time = false;
  std::optional<metric_direction> worse;
  std::string worse_because;
};

struct compare_options {
  bool fail_on_missing = false;  // a step served by the baseline but not by the current side fails the gate
};

struct comparison {
  size_t baseline_runs = 0, current_runs = 0;
  bool repeated = false;  // both sides have >= 2 runs
  bool fail_on_missing = false;
  std::vector<std::string> disappeared_steps;  // served by the baseline, not by the current side
  std::string method;     // one sentence
  std::vector<budget_item> budget;
  std::vector<metric_comparison> rows;
  std::vector<std::string> warnings;
  bool regression() const noexcept;
  bool failed() const noexcept;  // a regression, or a step disappeared with fail_on_missing
};

// Throws results_error when a side is empty.
comparison compare_runs(std::span<const run_results> baseline, std::span<const run_results> current,
                        const std::vector<budget_item>& budget, const compare_options& options = {});

std::string render_comparison_markdown(const comparison& c);
std::string render_comparison_junit(const comparison& c);

// Two-sided 95% critical value of Student's t with df degrees of freedom (df >= 1; fractional allowed).
double t_critical_95(double df);

}  // namespace stampede::reports
