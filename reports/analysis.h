// Figures derived from a results file that several formats show: merged interval histograms, the recovery
// figures of each injected fault, the run verdict.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/hdr_histogram.h"
#include "reports/results.h"

namespace stampede::reports {

// Sum of the interval histograms with from_t <= t < to_t whose step passes the filter: `step` empty means
// every request-kind step (the "all requests" series); otherwise that step only. Undecodable intervals are
// skipped and counted in *skipped when given.
hdr_histogram merge_intervals(const run_results& r, std::string_view step, int64_t from_t, int64_t to_t,
                              int* skipped = nullptr);

// Decodes a base64 histogram or throws results_error naming `what`.
hdr_histogram decode_histogram(std::string_view base64, std::string_view what);

// Recovery as seen by the clients (research: chaos-anchors section 6), computed from the per-second
// timeseries. Baseline: the seconds before the first fault (at most 60). A second is "healthy" when its
// throughput >= (1 - 10%) of baseline, its success rate >= baseline - 1 percentage point and its p99 <=
// 1.5 x baseline p99 (and at least 1 ms above it, so a sub-millisecond baseline does not flap).
struct recovery_figures {
  std::string label;
  double start_s = 0;
  std::optional<double> end_s;
  std::optional<double> time_to_detect_s;         // fault start -> first unhealthy second
  std::optional<double> time_to_recover_s;        // fault end -> start of 5 consecutive healthy seconds
  std::optional<double> time_to_first_success_s;  // fault end -> first second with a successful request
  int64_t degraded_seconds = 0;                   // unhealthy seconds from fault start to recovery/end
  int64_t errors_during = 0;                      // errors from fault start to recovery/end
  double p99_baseline_ms = 0, p99_during_ms = 0, p99_after_ms = 0;  // from the interval histograms
  bool baseline_available = false;
};

inline constexpr int recovery_consecutive_seconds = 5;

std::vector<recovery_figures> compute_recovery(const run_results& r);

enum class verdict { pass, fail };
verdict run_verdict(const run_results& r);

// Short text shared by the formats: "PASS", "FAIL: 1 of 3 thresholds crossed, 1 invariant violated".
std::string verdict_text(const run_results& r);

}  // namespace stampede::reports
