// The coordinator's merged live view of a distributed run: every agent's per-second snapshots added up
// exactly (histograms by addition) into one loadgen::aggregate, which answers thresholds (abortOnFail on
// the merged data), and into per-second rows: `per_second()` (GET /v1/live) and `dashboard_update()` (the
// coordinator's --dashboard).
//
// Thread-safety: every member is thread-safe (one mutex); the HTTP server's threads add, the coordinator's
// thread evaluates.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "dashboard/live_view.h"
#include "loadgen/aggregate.h"
#include "loadgen/thresholds.h"

namespace stampede::distributed {

class live_view {
 public:
  // One snapshot of one worker of shard `shard`.
  void add(int shard, const loadgen::interval_snapshot& snapshot);
  // The thresholds on the merged figures so far, `elapsed_s` after the start (rates divide by it).
  std::vector<loadgen::threshold_result> evaluate(std::span<const loadgen::threshold> thresholds,
                                                  double elapsed_s);
  // The merged per-second rows, by second: {"rows": [{"second", "requests", "errors", "iterations", "vus",
  // "latency_ms": {"p50", "p95", "p99", "max"}, "shards": [indexes that reported]}], "requests", "errors"}.
  boost::json::object per_second() const;
  int64_t requests() const;
  // What the live dashboard shows (loadgen/dashboard_figures.h, as `stampede run --dashboard`): the seconds
  // added or changed since the last call that every shard has moved past (`all`: every such second, at the
  // end), and the merged figures so far with the thresholds' state `elapsed_s` after the start.
  dashboard::live_update dashboard_update(std::span<const loadgen::threshold> thresholds, double elapsed_s,
                                          bool all);
  // The script's custom metrics and the tracked built-in sub-metrics of the merged view, as the results'
  // "metrics" entries over `duration_s` (the merged file's `distributed.live_metrics`).
  std::vector<results::metric_result> metrics(double duration_s) const;

 private:
  struct row {
    int64_t requests = 0;
    int64_t errors = 0;
    int64_t iterations = 0;
    int64_t vus = 0;
    int64_t vus_max = 0;
    int64_t dropped_iterations = 0;
    std::array<int64_t, loadgen::error_kind_count> errors_by_kind{};
    hdr_histogram latency{1, 3'600'000'000, 3};
    std::map<int, int> shards;  // shard -> snapshots (one per worker)
    bool published = false;     // handed to the dashboard as it is now
  };
  mutable std::mutex mutex_;
  loadgen::aggregate merged_;
  std::map<int64_t, row> rows_;
  std::map<int, int64_t> latest_second_;           // shard -> the latest second it reported
  std::map<std::string, int64_t> errors_by_kind_;  // so far
};

}  // namespace stampede::distributed
