// The coordinator's view of a run: the workers' measurements merged by name (exact histogram
// addition), per-second time series, and the threshold verdicts computed from them.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/metrics.h"
#include "loadgen/options.h"
#include "loadgen/thresholds.h"

namespace stampede::loadgen {

struct timeseries_row {
  int64_t second = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t iterations = 0;
  int64_t dropped_iterations = 0;
  int64_t vus = 0;
  int64_t vus_max = 0;
  int workers_reported = 0;
  hdr_histogram latency{1, 3'600'000'000, 3};       // all request steps, corrected
  std::array<int64_t, error_kind_count> errors_by_kind{};
  double max_event_loop_lag_ms = 0;
  struct step_interval {
    hdr_histogram corrected{1, 3'600'000'000, 3};
    int64_t requests = 0;  // requests (or group runs) that ended in this second
    int64_t errors = 0;
  };
  std::map<std::string, step_interval> step_intervals;  // per step: intervals[] in the results, .hlog
  std::vector<results::metric_interval> custom;  // the script's metrics.* of this second (add_to_second)
};

struct aggregate {
  std::map<std::string, std::unique_ptr<step_metrics>, std::less<>> steps;
  std::unique_ptr<step_metrics> all_requests;     // every request step merged
  hdr_histogram iteration_durations;
  hdr_histogram event_loop_lag{1, 3'600'000'000, 2};
  std::map<check_key, check_counts> checks;
  std::vector<scenario_counters> scenarios;
  custom_metrics custom;  // the script's metrics.*, merged by name
  builtin_sub_metrics
      builtin_subs;  // iteration_duration, iterations, dropped_iterations and checks by tag set
  int64_t data_sent = 0;
  int64_t data_received = 0;
  int64_t vus_max = 0;
  double duration_s = 0;

  aggregate();
  void add_worker(worker_metrics& metrics);
  // Live view: steps' corrected + counters, iteration durations, checks, custom metrics and the built-in
  // sub-metrics (exact: abortOnFail thresholds on them).
  void add_interval(const interval_snapshot& snapshot);
  int64_t iterations() const;
  int64_t dropped_iterations() const;
  // The value a threshold asks for (ms for trends), nullopt when there is no sample.
  std::optional<double> value(const metric_selector& selector, const threshold_expression& expression) const;
};

// The tag set of an HTTP sub-metric a threshold asks for (http_req_*{...} with tags other than a lone `name`,
// which is a request step), sorted by key; nullopt for anything else.
std::optional<std::vector<std::pair<std::string, std::string>>> http_tag_set(const metric_selector& selector);
// The step name of such a tag set: "{status:200,scenario:spike}" (keys sorted).
std::string tag_set_name(const std::vector<std::pair<std::string, std::string>>& tags);

// Throws std::invalid_argument, naming the threshold, when it uses a tag this engine does not record on its
// metric. Custom metrics (not in the built-in catalogue) record every tag a threshold asks for; HTTP metrics
// any tag; group_duration `group`; iteration_duration, iterations and dropped_iterations `scenario` and the
// keys of options.tags and of the scenarios' tags; checks those and `check` and `group`.
void validate_threshold_tags(std::span<const threshold> thresholds, const run_options& options);

}  // namespace stampede::loadgen
