// Custom metrics of a script (docs/SCENARIOS.md, "Custom metrics"): metrics.trend/counter/rate/gauge declared
// at the top level, fed by metric:add(value[, tags]) in VU code. Like every other measurement they are per
// worker (shared-nothing: each worker's Lua state declares its own and records into its own worker_metrics)
// and merged exactly by name (every second for the live view, and at the end): trends are HdrHistograms
// (added), counters sum, rates add their true and total counts, gauges keep the value with the latest
// wall-clock time (ties: the larger value) and the min and max of every value.
//
// Sub-metrics: a threshold on "my_trend{flow:buy}" makes the coordinator call track() before the load; only
// such tracked tag sets get a sink of their own, so memory stays bounded by the thresholds, whatever tags the
// script passes. Samples of a metric without tracked sub-metrics never look at their tags.
//
// Live figures: every sample is also recorded into an interval sink (per metric and tracked sub-metric) that
// roll_interval() hands over once a second with the worker's other per-second figures (worker_outbox). The
// coordinator merges those with the same exact merge: its live view answers abortOnFail thresholds during the
// load, and the per-second rows are the results' "metric_intervals". A gauge's samples get strictly
// increasing times within a worker (a clock that stepped back, or two samples in one microsecond, move on by
// 1 us), so merging a worker's seconds picks the same last value as its whole-run sink.
//
// Thread-safety: none; one instance per worker (the coordinator gets what roll_interval() returns through the
// outbox, and reads the worker's own instance only after the load).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/hdr_histogram.h"
#include "results/model.h"
#include "results/thresholds.h"

namespace stampede::loadgen {

// Trend samples are recorded as value x 1000 (microseconds for time trends, whose values are milliseconds),
// so three decimals of any trend are kept; up to 10^12 (larger values are clamped and counted).
inline constexpr int64_t trend_scale = 1000;
inline constexpr int64_t trend_highest = 1'000'000'000'000'000;

// The samples of one custom metric (or one of its sub-metrics).
struct custom_sink {
  std::unique_ptr<hdr_histogram> histogram;  // trends only
  int64_t samples = 0;                       // every type: how many add() calls
  double sum = 0;                            // counter: the sum of the values
  int64_t trues = 0;                         // rate: the samples that were true (non-zero)
  double last = 0, min = 0, max = 0;         // gauge
  int64_t last_unix_us = 0;                  // gauge: when `last` was added (wall clock)

  custom_sink() = default;  // an interval sink: a trend's histogram comes with its first sample
  explicit custom_sink(results::metric_type type);  // a trend's histogram now
  // value is finite (and >= 0 for a trend: the caller checked).
  void add(results::metric_type type, double value, int64_t unix_us);
  void merge(results::metric_type type, const custom_sink& other);
  // The aggregate a threshold asks for (trends in the metric's unit), nullopt with no sample.
  std::optional<double> value(results::metric_type type, const results::aggregation& agg,
                              double duration_s) const;
};

struct custom_metric {
  struct sub_metric {
    std::vector<results::tag_filter> tags;  // sorted by key (the selector's)
    std::string text;                       // "my_trend{flow:buy}"
    custom_sink sink;
    custom_sink interval{};  // the samples since the last roll_interval()
  };
  custom_metric(std::string metric_name, results::metric_type metric_type, bool time);
  custom_metric(std::string metric_name, results::metric_type metric_type, bool time, custom_sink samples);

  std::string name;
  results::metric_type type;
  bool is_time = false;
  custom_sink all;
  custom_sink interval;          // the samples since the last roll_interval()
  std::vector<sub_metric> subs;  // only the tag sets thresholds ask for
};

using sample_tags = std::span<const std::pair<std::string_view, std::string_view>>;

class custom_metrics {
 public:
  custom_metrics() = default;

  // Declares a metric and returns its index; declaring the same name again with the same type (and isTime)
  // returns the same index. Throws std::invalid_argument for a name that is not [A-Za-z_][A-Za-z0-9_]* (at
  // most 128 characters), the name of a built-in metric, or a name declared before with another type.
  size_t declare(std::string_view name, results::metric_type type, bool is_time);
  // Records one sample. `tags` are only read when the metric has tracked sub-metrics (has_subs()).
  void add(size_t index, double value, int64_t unix_us, sample_tags tags);
  bool has_subs(size_t index) const noexcept { return !metrics_[index]->subs.empty(); }
  // Gives the sub-metric `selector` (a custom metric declared here, with tags) a sink of its own. Idempotent;
  // a selector of a metric this worker did not declare is ignored.
  void track(const results::metric_selector& selector);

  const custom_metric* find(std::string_view name) const noexcept;
  // The metric declare() returned `index` for, to fill in samples decoded from another process (a distributed
  // run's per-second snapshot: distributed/snapshot_codec.h).
  custom_metric& at(size_t index) { return *metrics_[index]; }
  const std::vector<std::unique_ptr<custom_metric>>& metrics() const noexcept { return metrics_; }
  // The built-in metrics plus every metric declared here: what thresholds may name.
  const results::metric_catalogue& catalogue() const noexcept { return catalogue_; }

  // The samples since the last call, as a registry of their own (only metrics and sub-metrics with samples;
  // empty when nothing was added), and starts the next interval. Merging every interval of a worker gives its
  // whole-run figures (exactly; counters up to floating-point rounding of non-integer values).
  custom_metrics roll_interval();
  bool empty() const noexcept { return metrics_.empty(); }

  // Adds `other`'s samples by metric name (and sub-metric text); metrics only `other` has are added.
  void merge(const custom_metrics& other);
  // The threshold aggregate of `selector` (the metric or one of its tracked sub-metrics), nullopt when it
  // has no sample (or is not tracked).
  std::optional<double> value(const results::metric_selector& selector, const results::aggregation& agg,
                              double duration_s) const;

 private:
  results::metric_catalogue catalogue_;
  std::vector<std::unique_ptr<custom_metric>> metrics_;  // stable addresses: Lua holds indices
};

// One "metrics" entry: `sink`'s figures as a metric_result named `name` (the metric or a sub-metric's text).
results::metric_result sink_result(std::string_view metric, results::metric_type type, bool is_time,
                                   const custom_sink& sink, std::string name, double duration_s);

// The results file's "metrics" section: every metric in declaration order, each followed by its sub-metrics.
std::vector<results::metric_result> to_results(const custom_metrics& metrics, double duration_s);

// One second's registry (roll_interval()) as the results' "metric_intervals" rows of second `t`: every
// metric and sub-metric with samples, by name.
std::vector<results::metric_interval> to_intervals(const custom_metrics& second, int64_t t);
// One second's samples of `name` (a metric or sub-metric of type `type`) as a "metric_intervals" row.
results::metric_interval sink_interval(results::metric_type type, const custom_sink& sink, std::string name,
                                       int64_t t);
// Adds rows of one second (any order) into `rows` (kept sorted by name; results::merge_metric_interval).
void add_to_second(std::vector<results::metric_interval>& rows, std::vector<results::metric_interval> second);
// Adds one worker's second into the rows of second `t` (by name, kept sorted; results::merge_metric_interval,
// exact). The coordinator keeps its per-second rows this way: a trend's second is a few hundred bytes
// encoded, where its histogram would hold 330 kB for the length of the run.
void add_to_second(std::vector<results::metric_interval>& rows, const custom_metrics& second, int64_t t);

}  // namespace stampede::loadgen
