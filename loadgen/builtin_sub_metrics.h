// Sub-metrics of the built-in iteration metrics by tag set (docs/SCENARIOS.md, "Tags"): a threshold on
// "iteration_duration{scenario:browse}", "iterations{...}", "dropped_iterations{...}" or "checks{...}" makes
// the coordinator track() that tag set before the load; only tracked sets get a sink (bounded by the
// thresholds), and a run with none never builds an iteration's or a check's tags. They are recorded with the
// custom metrics' sinks (iteration_duration a time trend, iterations and dropped_iterations counters, checks
// a rate), merged exactly by selector and written to the results' "metrics" section
// (results::recorded_in_metrics), where `stampede merge` re-evaluates their thresholds.
//
// Live figures: as for custom metrics, every sample also goes into an interval sink that roll_interval()
// hands over once a second (interval_snapshot::builtin_subs); the coordinator merges those into its live
// view, so thresholds on these sub-metrics are evaluated during the load (abortOnFail, delayAbortEval), and
// into the results' "metric_intervals" rows.
//
// Thread-safety: none; one instance per worker (the coordinator gets what roll_interval() returns through the
// outbox, and merges the worker's own instance only after the load).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/custom_metrics.h"

namespace stampede::loadgen {

// The tags of an iteration or a check, looked up in k6's order: the system tags (scenario; for a check, check
// and group), then the scenario's tags, then options.tags.
struct builtin_sample_tags {
  std::string_view scenario;
  const std::map<std::string, std::string>* scenario_tags = nullptr;
  const std::map<std::string, std::string>* run_tags = nullptr;
  // Initialised so that designated initialisers may leave them out (-Wmissing-field-initializers).
  std::optional<std::string_view> check = std::nullopt;  // checks only
  std::optional<std::string_view> group = std::nullopt;  // checks only ("" outside any group)
  std::optional<std::string_view> tag(std::string_view key) const;
};

class builtin_sub_metrics {
 public:
  // Gives `selector` (results::recorded_in_metrics is true for it) a sink. Idempotent.
  void track(const results::metric_selector& selector);
  bool empty() const noexcept { return subs_.empty(); }
  void record_iteration(int64_t duration_us, const builtin_sample_tags& tags);
  void record_dropped(const builtin_sample_tags& tags);  // an arrival that found no free VU
  void record_check(bool ok, const builtin_sample_tags& tags);
  void merge(const builtin_sub_metrics& other);
  // The samples since the last call, as an instance of their own (only tag sets with samples; empty when
  // nothing was recorded), and starts the next interval. Merging every interval of a worker gives its
  // whole-run figures exactly.
  builtin_sub_metrics roll_interval();
  // The "metric_intervals" rows of second `t` (an instance from roll_interval()): every tag set with samples.
  std::vector<results::metric_interval> to_intervals(int64_t t) const;
  // The threshold aggregate of a tracked selector, nullopt without samples or when it is not tracked.
  std::optional<double> value(const results::metric_selector& selector, const results::aggregation& agg,
                              double duration_s) const;
  // Each tracked tag set's selector, type and samples (of an instance from roll_interval(): the second's), in
  // the order tracked: what a distributed run's snapshot carries (distributed/snapshot_codec.h).
  template <class Visit>
  void for_each(Visit visit) const {
    for (const auto& s : subs_) visit(s.selector, s.type, s.sink);
  }
  // Adds `samples` of `selector` (tracked on the way): a second decoded from another process.
  void add_samples(const results::metric_selector& selector, const custom_sink& samples);
  // The "metrics" entries, in the order the selectors were tracked.
  std::vector<results::metric_result> to_results(double duration_s) const;

 private:
  struct sub {
    results::metric_selector selector;
    results::metric_type type;
    custom_sink sink;
    custom_sink interval{};  // the samples since the last roll_interval()
    void add(double value);
  };
  std::vector<sub> subs_;
};

}  // namespace stampede::loadgen
