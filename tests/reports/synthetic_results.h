// Builds results documents (docs/RESULTS.md) from synthetic requests with known latency distributions,
// the way the load generator would: per-step and summary HdrHistograms, one timeseries row and one interval
// histogram per step per second. Used by the reports tests and benchmarks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace stampede::reports::testing {

struct synthetic_request {
  std::string step;
  double t_s = 0;              // offset from the run start
  int64_t latency_us = 0;      // corrected
  int64_t uncorrected_us = 0;  // service time (<= latency)
  std::string error_kind;      // empty: success
};

struct synthetic_fault {
  std::string kind, target, label;
  double start_s = 0;
  std::optional<double> end_s;
};

struct synthetic_run {
  std::string scenario = "scenarios/synthetic.lua";
  int64_t start_unix_ms = 1795330800000;
  double duration_s = 0;  // 0: derived from the last request
  int64_t vus = 10;
  std::vector<std::string> steps;        // request steps, in order
  std::vector<std::string> group_steps;  // group steps: every request also counts in each group
  std::vector<synthetic_request> requests;
  struct threshold {
    std::string metric, expression;
    std::optional<double> observed;
    bool ok = true;
  };
  std::vector<threshold> thresholds;
  std::vector<synthetic_fault> faults;
  std::optional<boost::json::value> verify;
  int64_t shard_index = 0, shard_count = 1;
  std::string run_id;  // meta.run_id when not empty (files from before run ids have none)
};

// Requests at a constant rate per step for duration_s seconds, latency lognormal with the given median (ms)
// and sigma, multiplied by `scale`; uncorrected = 80% of corrected. Deterministic for a seed.
synthetic_run lognormal_run(uint64_t seed, double duration_s, double rps_per_step, std::vector<std::string> steps,
                            double median_ms = 20, double sigma = 0.5, double scale = 1.0);

// A one-minute game day: two steps at 50 rps each, a latency fault with 5xx errors from 20 s to 30 s, slow
// recovery until 33 s, one crossed threshold and two drill invariants.
synthetic_run game_day_run(uint64_t seed = 7);

boost::json::value build_results(const synthetic_run& run);
std::string build_results_text(const synthetic_run& run);

}  // namespace stampede::reports::testing
