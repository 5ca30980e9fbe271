#include "distributed/live_view.h"

#include <boost/json.hpp>

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
  ++r.shards[shard];
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

int64_t live_view::requests() const {
  std::lock_guard lock(mutex_);
  int64_t total = 0;
  for (const auto& [second, r] : rows_) total += r.requests;
  return total;
}

}  // namespace stampede::distributed
