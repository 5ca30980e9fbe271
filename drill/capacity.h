// `stampede capacity`: the highest arrival rate a target sustains within an SLO.
// Search: exponential steps from a start rate until the SLO breaks, then a binary search between the last
// good and the first bad rate, where a rate passes only if `repeats` short stages in a row meet the SLO
// (one lucky stage must not move the knee). Each stage is a whole open-model run (constant arrival rate,
// coordinated-omission corrected latency) of the scenario's `default` function.
//
// Thread-safety: run_capacity is called once per process (it redirects stdout while stages run).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace stampede::drill {

// One SLO term: "p(99)<300" (ms), "avg<100", "max<1000", "error_rate<0.01".
struct slo_term {
  std::string metric;      // "p" (with percentile), "avg", "max", "error_rate"
  double percentile = 0;   // for "p"
  bool strict = true;      // '<' (true) or '<=' (false)
  double bound = 0;
  std::string text;
};
// Parses "p(99)<300,error_rate<0.01". Throws std::invalid_argument naming the bad term.
std::vector<slo_term> parse_slo(std::string_view text);

// What one stage measured (from its results document).
struct stage_result {
  double rate = 0;              // offered arrivals per second
  double throughput = 0;        // completed requests per second
  double iterations_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  double error_rate = 0;
  int64_t dropped_iterations = 0;
  bool saturated = false;       // the generator's event loop lagged
  bool ok = false;              // SLO met and the offered rate was delivered
  std::string failed;           // which condition failed
};
// Judges a results document against the SLO (pure; used by the search and by tests).
stage_result judge_stage(const boost::json::value& results, double rate, const std::vector<slo_term>& slo);

struct capacity_request {
  std::string scenario;
  std::optional<std::string> target;
  std::string slo_text = "p(99)<300,error_rate<0.01";
  double start_rate = 10;
  double max_rate = 100'000;
  std::chrono::milliseconds stage{5'000};
  int repeats = 2;
  double precision = 0.05;   // stop when (bad - good) / good <= precision
  int threads = 1;
  uint64_t seed = 1;
  std::map<std::string, std::string> env;
  std::optional<std::string> out_path;   // results JSON with "capacity"
  std::optional<std::string> chart_path; // SVG chart (default: next to --out)
  bool unsafe_lua = false;               // the scenario gets Lua's whole standard library
  bool quiet = false;
};

struct capacity_outcome {
  double knee_rate = 0;                  // highest rate that met the SLO (0: none did)
  std::vector<stage_result> curve;       // every stage, in the order run
  std::string limit_hint;                // what broke first above the knee
  boost::json::value results;            // results of the best passing stage, with "capacity"
};

// Runs the search. Returns the exit code: 0 a knee was found, 1 none (even the start rate failed),
// 2 bad request, 104/107 scenario errors.
int run_capacity(const capacity_request& request, capacity_outcome* outcome = nullptr);

// The throughput/latency curve as a self-contained SVG (pure).
std::string render_capacity_svg(const capacity_outcome& outcome);

}  // namespace stampede::drill
