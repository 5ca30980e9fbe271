// The per-second health model behind the recovery figures (internal to stampede::reports; the figures
// themselves are in recovery.h). docs/DRILLS.md explains it for users.
//
// - Planned load: every scenario's planned level (VUs, or arrivals per second) in each second, from the
//   results' scenarios[].load curves; a scenario that ends when its iterations are done (a spike) is
//   taken as running until the VU count the generator reported falls back.
// - Baseline: the most recent seconds before the first fault that are full, not a scenario's first
//   second, and at the planned load of the second before the fault (per scenario, within
//   load_change_max). Its request count median and robust spread (1.4826 x MAD), error rate, pooled p99
//   and the fraction of its requests slower than the slow bound max(ratio x p99, p99 + slack).
// - A second is judged only when it is full, present, and at the baseline's planned load. It is
//   unhealthy on a signal when the signal is worse by at least the effect-size floor AND the difference is
//   significant at `confidence` (one-sided, per second):
//     errors      error rate >= baseline + error_rate_min_increase, binomial tail vs the baseline rate;
//     latency     more requests above the slow bound than the baseline's fraction explains (binomial), and
//                 over 1% of the second's requests (its p99 is above the bound);
//     throughput  requests <= (1 - throughput_min_drop) x median, below the Poisson lower bound (or the
//                 normal one with the baseline's own spread when that is wider);
//     dropped     an open model could not start >= throughput_min_drop of the iterations it scheduled in
//                 that second, more than the baseline's dropped fraction explains (binomial).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/hdr_histogram.h"
#include "common/recovery_tolerances.h"
#include "reports/results.h"

namespace stampede::reports::recovery_model {

// P(X >= k) for X ~ Binomial(n, p).
double binomial_upper_tail(int64_t k, int64_t n, double p);
// P(X <= k) for X ~ Poisson(lambda).
double poisson_lower_tail(int64_t k, double lambda);
// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
double normal_quantile(double p);

enum signal : unsigned { sig_errors = 1, sig_latency = 2, sig_throughput = 4, sig_dropped = 8 };

struct baseline {
  bool available = false;
  std::string reason;            // why not available
  int64_t from_t = 0, to_t = 0;  // seconds used lie in [from_t, to_t)
  int64_t seconds = 0;
  int64_t requests = 0, errors = 0;
  double requests_median = 0;
  double requests_spread = 0;      // 1.4826 x MAD of the per-second counts
  double error_rate = 0;           // errors / requests
  double error_rate_smoothed = 0;  // (errors + 1) / (requests + 2): never 0, for the tests
  bool has_histograms = false;     // interval histograms were there
  std::optional<double> p99_ms;    // pooled (or the median per-second p99 without histograms)
  double slow_bound_ms = 0;        // max(ratio x p99, p99 + slack)
  double slow_fraction = 0;        // requests above it, smoothed
  double p99_spread_ms = 0;        // of the per-second p99s (used without histograms)
  double scheduled_per_s = 0;      // open-model arrivals planned per second (0: no open model)
  double dropped_fraction = 0;     // smoothed dropped / scheduled
  std::vector<double> levels;      // planned level per scenario (results order)
};

struct second {
  int64_t t = 0;
  bool present = false;  // the timeseries has this second
  bool judged = false;   // full, present, at the baseline's planned load, with a baseline
  std::string excluded;  // why not judged
  int64_t requests = 0, errors = 0, dropped = 0;
  counters error_kinds;  // request error kinds (check_failed left out)
  double p99_ms = 0;
  std::optional<int64_t> slow;  // requests above the slow bound (from interval histograms)
  double scheduled = 0;         // open-model arrivals planned in this second
  unsigned unhealthy = 0;       // signal bits; 0 = healthy (or not judged)
};

struct timeline {
  baseline base;
  std::vector<second> seconds;  // the seconds the timeseries has, ascending (a gap: a second without data)
  int64_t end_t = 0;            // one past the last full second
  int64_t rows_end = 0;         // one past the last second with data
  recovery_tolerances tolerances;
  std::map<int64_t, std::vector<size_t>> intervals;  // request steps' interval rows by second

  const second* at(int64_t t) const;                              // nullptr: no data for t
  std::span<const second> range(int64_t from, int64_t to) const;  // the seconds with from <= t < to
};

// A time in seconds as a whole second, clamped to [-1, 2e7] (results hold t <= 1e7; a hostile 1e300
// must not overflow).
int64_t second_floor(double s);
int64_t second_ceil(double s);

// Builds the timeline of a run whose first fault starts at `first_fault_s`.
timeline build_timeline(const run_results& r, double first_fault_s);

// Is `errors` of `requests` in one second a significant rise over the baseline (the errors test)?
bool errors_significant(int64_t errors, int64_t requests, const baseline& b, const recovery_tolerances& t);

// The pooled corrected-latency histogram of the request steps over the seconds in `ts`.
hdr_histogram pooled_histogram(const run_results& r, const timeline& tl, const std::vector<int64_t>& ts);

}  // namespace stampede::reports::recovery_model
