#include "drill/recovery.h"

#include <cmath>
#include <map>

#include <boost/json.hpp>

#include "reports/analysis.h"
#include "reports/results.h"

namespace stampede::drill {

namespace json = boost::json;

namespace {

json::value optional_number(const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); }

// Operations whose outcome is unknown in [from, to): unknown completions, and invokes never completed.
int64_t unknown_operations(const json::value& results, double from, double to) {
  const json::value* history = results.as_object().if_contains("history");
  if (history == nullptr || !history->is_array()) return 0;
  std::map<int64_t, double> open;  // invoke id -> t
  int64_t count = 0;
  for (const auto& h : history->as_array()) {
    const auto* o = h.if_object();
    if (o == nullptr || !o->contains("type") || !o->contains("id") || !o->contains("t")) continue;
    const auto& type = o->at("type");
    const int64_t id = o->at("id").to_number<int64_t>();
    const double t = o->at("t").to_number<double>();
    if (type == "invoke") {
      open[id] = t;
    } else {
      open.erase(id);
      if (type == "unknown" && t >= from && t < to) ++count;
    }
  }
  for (const auto& [id, t] : open) {
    if (t >= from && t < to) ++count;
  }
  return count;
}

}  // namespace

void add_recovery(json::value& results) {
  auto* root = results.if_object();
  if (root == nullptr) return;
  auto* chaos = root->if_contains("chaos");
  if (chaos == nullptr || !chaos->is_array() || chaos->as_array().empty()) return;
  try {
    const reports::run_results parsed = reports::parse_results(results);
    const auto figures = reports::compute_recovery(parsed);
    const double run_end = parsed.timeseries.empty() ? parsed.duration_s : static_cast<double>(parsed.timeseries.back().t + 1);
    auto& faults = chaos->as_array();
    for (size_t i = 0; i < faults.size() && i < figures.size(); ++i) {
      const auto& f = figures[i];
      // The window the figures describe: fault start until recovery (or the end of the run).
      const double window_end = f.end_s && f.time_to_recover_s ? *f.end_s + *f.time_to_recover_s : run_end;
      json::object r{
          {"baseline_available", f.baseline_available},
          {"time_to_detect_s", optional_number(f.time_to_detect_s)},
          {"time_to_recover_s", optional_number(f.time_to_recover_s)},
          {"time_to_first_success_s", optional_number(f.time_to_first_success_s)},
          {"recovered", f.time_to_recover_s.has_value()},
          {"degraded_s", f.degraded_seconds},
          {"errors_during", f.errors_during},
          {"unknown_operations_during", unknown_operations(results, f.start_s, window_end)},
          {"p99_baseline_ms", f.p99_baseline_ms},
          {"p99_during_ms", f.p99_during_ms},
          {"p99_after_ms", f.p99_after_ms},
          {"consecutive_healthy_s", reports::recovery_consecutive_seconds},
          {"tolerance", json::object{{"throughput_min_ratio", 0.9},
                                     {"success_rate_drop_max_pp", 1.0},
                                     {"p99_max_ratio", 1.5},
                                     {"p99_min_slack_ms", 1.0}}},
      };
      if (auto* fo = faults[i].if_object()) (*fo)["recovery"] = std::move(r);
    }
  } catch (const std::exception& e) {
    for (auto& f : chaos->as_array()) {
      if (auto* fo = f.if_object()) (*fo)["recovery"] = json::object{{"error", e.what()}};
    }
  }
}

}  // namespace stampede::drill
