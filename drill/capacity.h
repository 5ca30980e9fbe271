// `stampede capacity`: the highest arrival rate a target sustains within an SLO, and a rate to plan with.
// Search: exponential steps from a start rate until the SLO breaks, then a binary search between the last
// good and the first bad rate, where a rate passes only if `repeats` short stages in a row meet the SLO
// (one lucky stage must not move the knee). Each stage is a whole open-model run (constant arrival rate,
// coordinated-omission corrected latency) of the scenario's `default` function, with a short graceful stop
// so that a collapsing stage ends soon after --stage.
//
// Thread-safety: run_capacity is called once per process (it redirects stdout while stages run).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "results/thresholds.h"

namespace stampede::drill {

inline constexpr int capacity_exit_output = 4;  // the results or chart file cannot be written (as report/merge)

// One SLO term: "p(99)<300" (ms), "avg<100", "max<1000", "error_rate<0.01": k6 threshold expressions
// (results/thresholds.h) limited to ceilings (< or <=) on the latency and on the failed-request rate.
struct slo_term {
  results::threshold_expression expression;  // what judge_stage checks
  std::string metric;      // "p" (with percentile), "avg", "max", "error_rate"
  double percentile = 0;   // for "p"
  bool strict = true;      // '<' (true) or '<=' (false)
  double bound = 0;
  std::string text;
};
// Parses "p(99)<300,error_rate<0.01" with the k6 threshold grammar. Throws std::invalid_argument naming the bad term.
std::vector<slo_term> parse_slo(std::string_view text);

// Why a stage failed, most fundamental first: a stage that failed on a saturated generator, or dropped
// arrivals, says nothing reliable about the target's latency, so that cause wins over the SLO terms.
// (Saturation alone does not fail a stage: a pass measured by a lagging generator stands; nor is it blamed
// for a failure when the lag is under a tenth of the stage's p99 and iteration time.)
enum class stage_cause { none, generator_saturated, dropped_iterations, errors, latency, throughput };
std::string_view to_string(stage_cause c) noexcept;

// How a stage was run (what judge_stage needs besides the results document).
struct stage_plan {
  double stage_s = 0;            // planned length (0: take the results' duration)
  double graceful_stop_s = 0;    // requests still running this long after the end were interrupted
  int64_t vus_cap = 0;           // the stage's maxVUs (0: unknown)
  bool vus_cap_fd_limited = false;  // vus_cap was lowered to fit RLIMIT_NOFILE
};

// What one stage measured (from its results document).
struct stage_result {
  double rate = 0;              // offered arrivals per second
  double stage_s = 0;           // planned length
  double duration_s = 0;        // actual, graceful stop included
  double throughput = 0;        // completed requests per second (over duration_s)
  double iterations_per_s = 0;
  double delivered = 0;         // completed iterations / offered arrivals (rate x stage_s)
  int64_t requests = 0, errors = 0, iterations = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
  double service_p50_ms = 0;    // uncorrected: the target's own time
  double error_rate = 0;
  int64_t dropped_iterations = 0;
  int64_t interrupted_iterations = 0;  // still running graceful_stop_s after the end
  double graceful_stop_s = 0;
  int64_t vus_max = 0;          // VUs the stage created
  int64_t vus_cap = 0;          // VUs it was allowed
  bool vus_cap_fd_limited = false;
  double busy_vus = 0;          // mean VUs inside an iteration (per-second samples)
  double iteration_s = 0;       // mean iteration time by Little's law (busy_vus / iterations_per_s)
  double lag_p99_ms = 0;        // generator event-loop lag
  bool saturated = false;       // the generator's event loop lagged
  std::vector<std::pair<std::string, int64_t>> errors_by_kind;  // non-zero kinds
  boost::json::array timeseries;  // per second: t, requests, errors, p99_ms, vus, dropped_iterations
  std::string histogram;        // corrected latency, base64 (to recompute any percentile)
  bool ok = false;              // SLO met and the offered rate was delivered
  stage_cause cause = stage_cause::none;
  std::string failed;           // every condition that failed, primary first
};
// Judges a results document against the SLO (pure; used by the search and by tests). The document is read
// through the results model (results/model.h): results::results_error, naming the field, if it is not one.
stage_result judge_stage(const boost::json::value& results, double rate, const std::vector<slo_term>& slo,
                         const stage_plan& plan = {});

// What limits the rate, from the lowest failing stage and a low-load reference stage.
struct limit_diagnosis {
  std::string limited_by;  // "target", "generator", or "" (nothing failed)
  std::string hint;        // one sentence with the figures that show it
};
limit_diagnosis diagnose_limit(const stage_result& failed, const stage_result* low_load);

// The rate to plan with: the lower of (1 - headroom) x the sustainable rate and the highest passing rate
// whose p99 stayed within capacity_latency_growth x the lowest passing stage's p99 (+1 ms of timer
// jitter), walking up the measured rates until the first one above that (where queueing starts to show).
// Only measured rates or a fraction of the sustainable one are recommended.
struct recommendation {
  double rate = 0;
  double headroom_rate = 0;   // (1 - headroom) x sustainable
  double flat_rate = 0;       // highest passing rate on the flat part of the latency curve
  double low_load_p99_ms = 0;
  std::string rule;           // the rule, with the figures
};
inline constexpr double capacity_latency_growth = 2.0;
recommendation recommend_rate(const std::vector<stage_result>& curve, double sustainable, double headroom);

struct capacity_request {
  std::string scenario;
  std::optional<std::string> target;
  std::string slo_text = "p(99)<300,error_rate<0.01";
  double start_rate = 10;
  double max_rate = 100'000;
  std::chrono::milliseconds stage{5'000};
  int repeats = 2;
  double precision = 0.05;   // stop when (bad - good) / good <= precision
  double headroom = 0.2;     // the recommended rate is at most (1 - headroom) x the sustainable one
  int threads = 1;
  uint64_t seed = 1;
  std::map<std::string, std::string> env;
  std::optional<std::string> out_path;   // results JSON with "capacity"
  std::optional<std::string> chart_path; // SVG chart (default: next to --out)
  bool unsafe_lua = false;               // the scenario gets Lua's whole standard library
  bool quiet = false;
};

struct capacity_outcome {
  double knee_rate = 0;                  // sustainable: highest rate that met the SLO (0: none did)
  bool lower_bound = false;              // the knee is "at least": --max or the generator stopped the search
  std::string limited_by;                // "target", "generator", "max_rate" or "" (start rate failed)
  recommendation recommended;
  std::string slo_text;
  std::vector<stage_result> curve;       // every stage, in the order run
  std::string limit_hint;                // what broke first above the knee
  boost::json::value results;            // results of the best passing stage, with "capacity"
};

// Runs the search. Returns the exit code: 0 a knee was found (also when the generator's limit stopped the
// search: the knee is then a lower bound), 1 none (even the start rate failed), 2 bad request,
// 4 the results or chart file cannot be written (checked before the search), 104/107 scenario errors.
int run_capacity(const capacity_request& request, capacity_outcome* outcome = nullptr);

// The throughput and latency curves against the offered rate as a self-contained SVG (pure).
std::string render_capacity_svg(const capacity_outcome& outcome);
// The same as a terminal table with bars (pure).
std::string render_capacity_text(const capacity_outcome& outcome);

}  // namespace stampede::drill
