// Thresholds evaluated on a results file (what `stampede merge` does with the merged shards): the k6 grammar of
// results/thresholds.h, applied to the figures a results file holds.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

#include "results/model.h"

namespace stampede::results {

// evaluated=false: the metric or expression is not one a results file can answer (`observed` unset).
struct threshold_evaluation {
  bool evaluated = false;
  bool ok = true;
  std::optional<double> observed;
};

// Answers http_req_duration and http_req_duration_uncorrected (whole run, {name:X} or a recorded tag set) and
// group_duration{group:X} with avg|min|max|med|p(N) (from the histograms, so percentiles are exact); the
// phases (http_req_waiting, ...) with avg only (the steps' timings_ms mean); http_req_failed rate and
// http_reqs count|rate, also by name or recorded tag set; iterations and dropped_iterations count|rate (rate
// per second of meta.duration_s); checks rate, also {check:X} and {group:X}; the custom metrics of "metrics"
// and their recorded sub-metrics, and the sub-metrics of iteration_duration, iterations and checks kept there
// (trends from their histograms). Anything else, an expression the grammar refuses, or a trend without a
// histogram: not evaluated.
threshold_evaluation evaluate_threshold(const run_results& r, std::string_view metric, std::string_view expression);

}  // namespace stampede::results
