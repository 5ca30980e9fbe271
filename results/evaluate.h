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

// Answers http_req_duration[{name:X}] and group_duration{group:X} with avg|min|max|med|p(N) (from the
// histograms, so percentiles are exact); http_req_failed rate; http_reqs, iterations and dropped_iterations
// count|rate (rate per second of meta.duration_s); checks rate; the custom metrics of "metrics" and their
// recorded sub-metrics (trends from their histograms). Anything else, an expression the grammar
// refuses, or a trend without a histogram: not evaluated.
threshold_evaluation evaluate_threshold(const run_results& r, std::string_view metric, std::string_view expression);

}  // namespace stampede::results
