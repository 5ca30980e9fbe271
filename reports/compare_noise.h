// Within-run sampling noise for `stampede compare` with one run per side (internal to stampede::reports).
//
// The run's seconds are the samples: each second of a step carries its latency histogram (intervals[]),
// its request count and its errors. A block bootstrap resamples whole blocks of consecutive seconds, with
// the block length chosen from the autocorrelation of the per-second series (load and latency drift and
// queue, so neighbouring seconds are not independent: resampling single seconds would understate the
// noise), and recomputes each statistic from the resampled histogram. Positive quantities (latency, rps)
// get the standard error of their logarithm, so that intervals become ratio intervals (never below -100%);
// the error rate gets an absolute standard error.
//
// Thread-safety: pure functions (a fixed seed, so results are reproducible).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reports/results.h"

namespace stampede::reports::detail {

inline constexpr std::string_view all_requests = "all requests";

struct within_run_noise {
  std::map<std::string, double> log_se;  // latency metrics (p50 ... mean) and "rps": standard error of ln(value)
  std::optional<double> error_rate_se;   // absolute (a fraction), from the seconds' errors and requests
  size_t seconds = 0;                    // seconds with data
  size_t block_s = 0;                    // block length used
};

// Noise of `metrics` (budget metric names) for one step ("all requests" for the summary) of one run. A metric
// is absent when the run has too few seconds with data for it (fewer than 5 blocks).
within_run_noise estimate_within_run_noise(const run_results& r, std::string_view step,
                                           const std::vector<std::string>& metrics);

// The same block bootstrap for a custom trend (or built-in trend sub-metric) `name` of "metrics", over its
// per-second histograms (metric_intervals): log_se of the latency statistics in `metrics` (p50 ... mean).
within_run_noise estimate_trend_noise(const run_results& r, std::string_view name,
                                      const std::vector<std::string>& metrics);

// A gauge's value is one reading (the last), not a mean over the run: its noise is the spread (standard
// deviation) of its per-second readings in metric_intervals, of their logarithm when log_scale (nullopt then
// if a reading is <= 0), nullopt with fewer than 5 seconds.
std::optional<double> gauge_reading_sd(const run_results& r, std::string_view name, bool log_scale);

// Block length for a block bootstrap of `series` (one value per second): twice the first lag whose
// autocorrelation is not significant (|r_k| < 2/sqrt(n)), between 1 and n/5.
size_t block_length(std::span<const double> series);

}  // namespace stampede::reports::detail
