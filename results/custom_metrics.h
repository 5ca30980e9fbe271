// Custom metrics (metric_result, "metrics" in docs/RESULTS.md) across results files: the exact merge that
// `stampede merge` applies to shards, and the threshold values a results file answers for them.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "results/model.h"
#include "results/thresholds.h"

namespace stampede::results {

// Adds every entry of `from` into `into` by name (a metric and each of its sub-metrics separately): trend
// histograms are added (exact) and their stats recomputed, counters and samples sum, rates add their trues,
// gauges keep the value with the latest last_unix_us (a tie: the larger value) and the min of mins and max of
// maxes. Counter rates are recomputed over `duration_s`. Throws results_error when one name has two types.
void merge_metrics(std::vector<metric_result>& into, std::span<const metric_result> from, double duration_s);

// Whether a run records `selector` in "metrics" beside the custom metrics: a sub-metric of a built-in metric
// by tag set that only runs whose thresholds name it track (docs/RESULTS.md): iteration_duration{...},
// iterations{...} and dropped_iterations{...} with any tags, checks{...} with a tag other than check and
// group (those two alone are answered by "checks").
bool recorded_in_metrics(const metric_selector& selector);

// The built-in catalogue plus the custom metrics of `metrics` (for parsing thresholds on them).
metric_catalogue catalogue_with(std::span<const metric_result> metrics);

// A threshold aggregate of a custom metric or sub-metric, nullopt when `selector` names none of `metrics` (or
// it has no sample). Trends answer from the histogram, counters count|rate (rate over `duration_s`).
std::optional<double> custom_metric_value(std::span<const metric_result> metrics, const metric_selector& selector,
                                          const aggregation& agg, double duration_s);

}  // namespace stampede::results
