// The per-second series of custom metrics ("metric_intervals" in docs/RESULTS.md) across results files: the
// exact merge `stampede merge` applies to shards' series on their common timeline.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "results/model.h"

namespace stampede::results {

// Adds `from` into `into` (one second of one metric, same name and type): samples, counts and trues sum,
// trend histograms add (exact), a gauge keeps the value with the latest last_unix_us (a tie: the larger
// value) and the min of mins and max of maxes, as merge_metrics() does for the whole run. Throws
// results_error for an invalid histogram.
void merge_metric_interval(metric_interval& into, const metric_interval& from);

// The series of every file on one timeline: file i's second t becomes t + offsets[i] (offsets.size() ==
// files.size()), rows of the same second and name merge exactly. By t, then name.
std::vector<metric_interval> merge_metric_series(std::span<const run_results> files,
                                                 std::span<const int64_t> offsets);

}  // namespace stampede::results
