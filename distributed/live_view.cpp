#include "distributed/live_view.h"

#include <algorithm>
#include <boost/json.hpp>

#include "loadgen/dashboard_figures.h"

namespace stampede::distributed {

namespace json = boost::json;

void live_view::add(int shard, const loadgen::interval_snapshot& snapshot) {
  std::lock_guard lock(mutex_);
  merged_.add_interval(snapshot);
  row& r = rows_[snapshot.second];
  for (const auto& step : snapshot.steps) {
    if (step.kind != loadgen::step_kind::request) continue;
    r.latency.add(step.corrected);
    r.requests += step.requests;
    r.errors += step.errors;
  }
  r.iterations += snapshot.iterations;
  r.vus += snapshot.vus;
  r.vus_max += snapshot.vus_max;
  r.dropped_iterations += snapshot.dropped_iterations;
  for (size_t k = 1; k < loadgen::error_kind_count; ++k) {
    r.errors_by_kind[k] += snapshot.errors_by_kind[k];
    if (snapshot.errors_by_kind[k] > 0)
      errors_by_kind_[std::string(loadgen::to_string(static_cast<loadgen::error_kind>(k)))] +=
          snapshot.errors_by_kind[k];
  }
  ++r.shards[shard];
  r.published = false;
  auto [latest, added] = latest_second_.try_emplace(shard, snapshot.second);
  if (!added) latest->second = std::max(latest->second, snapshot.second);
}

dashboard::live_update live_view::dashboard_update(std::span<const loadgen::threshold> thresholds,
                                                   double elapsed_s, bool all) {
  std::lock_guard lock(mutex_);
  dashboard::live_update u;
  // A second is complete once every shard that reports has moved past it (a worker's late snapshot of it
  // changes it again: it is then handed over again, whole).
  int64_t complete_before = INT64_MAX;
  for (const auto& [shard, second] : latest_second_) complete_before = std::min(complete_before, second);
  for (auto& [second, r] : rows_) {
    if (!all && second >= complete_before) break;
    if (r.published) continue;
    r.published = true;
    dashboard::second_view s{.second = second,
                             .requests = r.requests,
                             .errors = r.errors,
                             .dropped_iterations = r.dropped_iterations,
                             .vus = r.vus,
                             .latency = loadgen::latency_of(r.latency),
                             .errors_by_kind = {}};
    for (size_t k = 1; k < loadgen::error_kind_count; ++k) {
      if (r.errors_by_kind[k] > 0)
        s.errors_by_kind[std::string(loadgen::to_string(static_cast<loadgen::error_kind>(k)))] =
            r.errors_by_kind[k];
    }
    u.seconds.push_back(std::move(s));
  }
  for (const auto& [second, r] : rows_) {
    if (!all && second >= complete_before) break;
    u.vus = r.vus;  // the latest complete second's
    u.vus_max = std::max(u.vus_max, r.vus_max);
  }
  u.elapsed_s = elapsed_s;
  u.errors_by_kind = errors_by_kind_;
  loadgen::fill_live_figures(merged_, thresholds, elapsed_s, u);
  return u;
}

std::vector<loadgen::threshold_result> live_view::evaluate(std::span<const loadgen::threshold> thresholds,
                                                           double elapsed_s) {
  std::lock_guard lock(mutex_);
  merged_.duration_s = elapsed_s;
  return loadgen::evaluate_thresholds(thresholds, [&](const auto& selector, const auto& expression) {
    return merged_.value(selector, expression);
  });
}

json::object live_view::per_second() const {
  std::lock_guard lock(mutex_);
  json::array rows;
  int64_t requests = 0, errors = 0;
  for (const auto& row : rows_) {
    const auto& second = row.first;
    const auto& r = row.second;  // named, not a structured binding: the lambda below uses it (clang 14)
    const auto ms = [&](double p) { return static_cast<double>(r.latency.value_at_percentile(p)) / 1000.0; };
    json::array shards;
    for (const auto& [shard, count] : r.shards) shards.emplace_back(shard);
    json::object latency;
    if (r.latency.total_count() > 0) {
      latency = {{"p50", ms(50)},
                 {"p95", ms(95)},
                 {"p99", ms(99)},
                 {"max", static_cast<double>(r.latency.max()) / 1000.0}};
    }
    rows.emplace_back(json::object{{"second", second},
                                   {"requests", r.requests},
                                   {"errors", r.errors},
                                   {"iterations", r.iterations},
                                   {"vus", r.vus},
                                   {"latency_ms", std::move(latency)},
                                   {"shards", std::move(shards)}});
    requests += r.requests;
    errors += r.errors;
  }
  return json::object{{"rows", std::move(rows)}, {"requests", requests}, {"errors", errors}};
}

std::vector<results::metric_result> live_view::metrics(double duration_s) const {
  std::lock_guard lock(mutex_);
  std::vector<results::metric_result> out = loadgen::to_results(merged_.custom, duration_s);
  for (auto& m : merged_.builtin_subs.to_results(duration_s)) out.push_back(std::move(m));
  return out;
}

int64_t live_view::requests() const {
  std::lock_guard lock(mutex_);
  int64_t total = 0;
  for (const auto& [second, r] : rows_) total += r.requests;
  return total;
}

}  // namespace stampede::distributed
