// The coordinator's merged live view of a distributed run: every agent's per-second snapshots added up
// exactly (histograms by addition) into one loadgen::aggregate, which answers thresholds (abortOnFail on
// the merged data), and into per-second rows. A live dashboard can be served from `per_second()`.
//
// Thread-safety: every member is thread-safe (one mutex); the HTTP server's threads add, the coordinator's
// thread evaluates.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <vector>

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

 private:
  struct row {
    int64_t requests = 0;
    int64_t errors = 0;
    int64_t iterations = 0;
    int64_t vus = 0;
    hdr_histogram latency{1, 3'600'000'000, 3};
    std::map<int, int> shards;  // shard -> snapshots (one per worker)
  };
  mutable std::mutex mutex_;
  loadgen::aggregate merged_;
  std::map<int64_t, row> rows_;
};

}  // namespace stampede::distributed
