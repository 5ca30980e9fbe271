// live_state: the seconds so far and the latest figures, and the page's event (JSON) drawn from them.
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "dashboard/live_view.h"
#include "reports/svg_chart.h"

namespace stampede::dashboard {

namespace json = boost::json;

namespace {

json::object latency_json(const latency_ms& l) {
  return {{"p50", l.p50}, {"p90", l.p90}, {"p95", l.p95}, {"p99", l.p99}, {"max", l.max}};
}

const char* state_name(threshold_row::state s) {
  switch (s) {
    case threshold_row::state::pass:
      return "pass";
    case threshold_row::state::fail:
      return "fail";
    case threshold_row::state::pending:
      break;
  }
  return "pending";
}

// The seconds as the report's time rows, in buckets of k seconds past max_points (rates: per-second
// means, latencies: the bucket's maximum, as reports/html.cpp's bucketize). Seconds without data in
// between count as zero.
std::vector<reports::time_row> time_rows(const std::map<int64_t, second_view>& seconds, size_t max_points) {
  std::vector<reports::time_row> out;
  if (seconds.empty()) return out;
  const int64_t first = seconds.begin()->first, last = seconds.rbegin()->first;
  const auto span = static_cast<size_t>(last - first + 1);
  const auto k = static_cast<int64_t>(std::max<size_t>(1, (span + max_points - 1) / max_points));
  for (int64_t from = first; from <= last; from += k) {
    reports::time_row b{static_cast<double>(from), 0, 0, 0, 0, 0, 0, 0, 0, {}};
    for (auto it = seconds.lower_bound(from); it != seconds.end() && it->first < from + k; ++it) {
      const second_view& s = it->second;
      b.requests += static_cast<double>(s.requests);
      b.errors += static_cast<double>(s.errors);
      b.dropped += static_cast<double>(s.dropped_iterations);
      b.vus = std::max(b.vus, static_cast<double>(s.vus));
      b.p50 = std::max(b.p50, s.latency.p50);
      b.p90 = std::max(b.p90, s.latency.p90);
      b.p99 = std::max(b.p99, s.latency.p99);
      b.max = std::max(b.max, s.latency.max);
      for (const auto& [kind, n] : s.errors_by_kind) b.errors_by_kind[kind] += static_cast<double>(n);
    }
    const auto n = static_cast<double>(k);
    b.requests /= n;
    b.errors /= n;
    b.dropped /= n;
    for (auto& [kind, v] : b.errors_by_kind) v /= n;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace

void live_state::update(live_update update) {
  for (auto& s : update.seconds) seconds_[s.second] = std::move(s);
  update.seconds.clear();
  now_ = std::move(update);
  ++version_;
}

void live_state::end(run_end end) {
  end_ = std::move(end);
  ++version_;
}

std::string live_state::event_json() const {
  json::object e;
  e["version"] = version_;
  e["title"] = info_.title;
  e["run_id"] = info_.run_id;
  e["planned_duration_s"] = now_.planned_duration_s;
  e["elapsed_s"] = now_.elapsed_s;
  e["second"] = seconds_.empty() ? -1 : seconds_.rbegin()->first;

  json::object totals;
  totals["requests"] = now_.requests;
  totals["errors"] = now_.errors;
  totals["error_rate"] =
      now_.requests > 0 ? static_cast<double>(now_.errors) / static_cast<double>(now_.requests) : 0.0;
  totals["vus"] = now_.vus;
  totals["vus_max"] = now_.vus_max;
  totals["latency_ms"] = latency_json(now_.latency);
  e["totals"] = std::move(totals);

  // The last complete second: what "now" looks like.
  json::value last = nullptr;
  if (!seconds_.empty()) {
    const second_view& s = seconds_.rbegin()->second;
    last = json::object{{"second", s.second},
                        {"requests", s.requests},
                        {"errors", s.errors},
                        {"vus", s.vus},
                        {"latency_ms", latency_json(s.latency)}};
  }
  e["last_second"] = std::move(last);

  json::object kinds;
  for (const auto& [kind, n] : now_.errors_by_kind) {
    if (n > 0) kinds[kind] = n;
  }
  e["errors_by_kind"] = std::move(kinds);

  json::array thresholds;
  for (const auto& t : now_.thresholds) {
    thresholds.push_back(
        json::object{{"metric", t.metric},
                     {"expression", t.expression},
                     {"state", state_name(t.now)},
                     {"observed", t.observed ? json::value(*t.observed) : json::value(nullptr)},
                     {"abort_on_fail", t.abort_on_fail}});
  }
  e["thresholds"] = std::move(thresholds);

  json::array steps;
  const double elapsed = std::max(now_.elapsed_s, 1e-9);
  for (const auto& s : now_.steps) {
    steps.push_back(json::object{{"name", s.name},
                                 {"requests", s.requests},
                                 {"rps", static_cast<double>(s.requests) / elapsed},
                                 {"errors", s.errors},
                                 {"latency_ms", latency_json(s.latency)}});
  }
  e["steps"] = std::move(steps);

  json::array faults;
  std::vector<reports::band> bands;
  const double x_min = seconds_.empty() ? 0.0 : static_cast<double>(seconds_.begin()->first);
  const double x_max = seconds_.empty() ? 1.0 : static_cast<double>(seconds_.rbegin()->first + 1);
  for (const auto& f : now_.faults) {
    faults.push_back(json::object{{"label", f.label},
                                  {"start_s", f.start_s},
                                  {"end_s", f.end_s ? json::value(*f.end_s) : json::value(nullptr)}});
    bands.push_back({f.start_s, f.end_s.value_or(std::max(x_max, now_.elapsed_s)), f.label});
  }
  e["faults"] = std::move(faults);

  json::array shards;
  for (const auto& s : now_.shards) {
    shards.push_back(
        json::object{{"shard", s.shard}, {"agent", s.agent}, {"state", s.state}, {"detail", s.detail}});
  }
  e["shards"] = std::move(shards);

  reports::over_time_input charts{.rows = time_rows(seconds_, max_chart_points),
                                  .x_min = x_min,
                                  .x_max = x_max,
                                  .bands = std::move(bands),
                                  .alerts = {},
                                  .show_dropped = false};
  for (const auto& r : charts.rows) charts.show_dropped = charts.show_dropped || r.dropped > 0;
  e["charts"] = reports::render_over_time_charts(charts);

  if (end_) {
    e["ended"] = json::object{
        {"outcome", end_->outcome},
        {"ok", end_->ok},
        {"report", end_->report_path ? json::value(*end_->report_path) : json::value(nullptr)},
        {"results", end_->results_path ? json::value(*end_->results_path) : json::value(nullptr)}};
  } else {
    e["ended"] = nullptr;
  }
  return json::serialize(e);
}

}  // namespace stampede::dashboard
