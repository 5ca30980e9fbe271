// Exact merge of the results of shards of one test (`stampede merge`); thresholds are re-evaluated on the
// merged data with the one k6 grammar (results/evaluate.h).
//
// Exact: histograms are added (HdrHistogram add is lossless for same-configuration histograms), counters are
// summed, per-second rows and interval histograms are aligned on wall-clock seconds (each shard's t is
// shifted by its start time relative to the earliest shard, rounded to the second). Percentiles are
// recomputed from the merged histograms, never averaged. Not exact, and documented in docs/REPORTS.md:
// per-step timings_ms p99 (upper bound: the largest shard value) and per-second percentiles when a file has
// no interval histograms (upper bound again). Every time of a shard (scenarios' start/end and planned load,
// faults' start/end/back) moves with its rows; each fault's recovery figures are recomputed on the merge.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "reports/results.h"

namespace stampede::reports {

struct merge_output {
  boost::json::value document;        // a results document (schema version 1)
  std::vector<std::string> warnings;  // what could not be merged exactly
};

struct merge_options {
  bool force = false;              // merge inputs that are not the disjoint shards of one test (with warnings)
  std::vector<std::string> names;  // input names for messages (default: "input 1", "input 2", ...)
};

// Throws results_error when shards cannot be merged (none given, undecodable histogram) and, unless
// options.force, when the inputs are not the disjoint parts of one test: a shard index outside
// 0..count-1, different shard counts, the same shard index twice, or the same run twice (the same run id,
// a run already inside a merged input, or for files without run ids the same scenario, start time and
// shard). Shards of one test are separate processes with their own run ids (docs/RESULTS.md). The merged
// document's meta.merged_from lists every run id it adds up, and its run_id is derived from them.
merge_output merge_results(std::span<const run_results> shards, const merge_options& options = {});

// Thresholds are re-evaluated with results::evaluate_threshold (results/evaluate.h).

}  // namespace stampede::reports
