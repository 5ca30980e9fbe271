// The results file of `stampede run` (docs/RESULTS.md) through the results model: the typed sections from
// this run's figures, the run's own sections (scenarios, chaos, verify, history, ...) as its document.
#include <cstdio>
#include <ctime>
#include <random>

#include "common/version.h"
#include "loadgen/load_plan.h"
#include "loadgen/run_coordinator.h"

namespace stampede::loadgen::run_detail {

namespace json = boost::json;

namespace {

results::counters status_counters(const step_metrics& s) {
  results::counters out;
  static constexpr const char* names[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (size_t i = 0; i < s.status_classes.size(); ++i) {
    if (s.status_classes[i] != 0) out.emplace_back(names[i], s.status_classes[i]);
  }
  return out;
}

results::counters error_counters(const std::array<int64_t, error_kind_count>& errors) {
  results::counters out;
  for (size_t i = 1; i < errors.size(); ++i) out.emplace_back(std::string(to_string(static_cast<error_kind>(i))), errors[i]);
  return out;
}

// One step (or, with kind "summary", all requests) in the results model.
results::step_result step_model(const step_metrics& s, double duration_s) {
  results::step_result o;
  o.name = s.name;
  o.kind = s.kind == step_kind::request ? "request" : s.kind == step_kind::group ? "group" : "tagged";
  o.requests = s.requests;
  o.rps = duration_s > 0 ? static_cast<double>(s.requests) / duration_s : 0.0;
  o.errors = s.errors;
  o.error_rate = s.requests > 0 ? static_cast<double>(s.errors) / static_cast<double>(s.requests) : 0.0;
  o.latency = results::latency_stats::of(s.corrected);
  o.uncorrected = results::latency_stats::of(s.uncorrected);
  o.histogram = s.corrected.encode_compressed_base64();
  o.uncorrected_histogram = s.uncorrected.encode_compressed_base64();
  if (s.kind != step_kind::group) {
    o.status_classes = status_counters(s);
    o.errors_by_kind = error_counters(s.errors_by_kind);
    for (size_t i = 0; i < phase_count; ++i) {
      o.timings.push_back({std::string(phase_names[i]), s.phases[i].mean() / 1000.0,
                           ms(s.phases[i].value_at_percentile(99))});
    }
  }
  return o;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto ms_total = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms_total / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(ms_total % 1000));
  return text;
}

}  // namespace

// Random, never derived from --seed, so that two runs with the same seed (or the same shard of a test run
// twice) stay apart when merged.
std::string random_run_id() {
  std::random_device device;
  char text[33];
  std::snprintf(text, sizeof text, "%08x%08x%08x%08x", device(), device(), device(), device());
  return text;
}

json::array history_json(const std::vector<history_entry>& history) {
  json::array ops;
  ops.reserve(history.size());
  for (const auto& h : history) {
    const char* type = h.type == 'o' ? "ok" : h.type == 'f' ? "fail" : h.type == 'u' ? "unknown" : "invoke";
    ops.push_back(json::object{{"id", h.id}, {"process", h.process}, {"op", h.op}, {"type", type},
                               {"value", json::parse(h.value_json)}, {"t", h.t}});
  }
  return ops;
}

json::value coordinator::build_results(const std::vector<threshold_result>& verdicts) {
  results::run_results r;
  fill_meta(r);
  fill_figures(r);
  r.thresholds = verdicts;
  r.document = run_sections();
  return results::encode(r);
}

// meta: what ran, where, when, on how many threads, and why it stopped early (if it did).
void coordinator::fill_meta(results::run_results& r) const {
  r.stampede_version = stampede::version;
  r.scenario = plan_.script_path;
  r.target = plan_.options.target;
  r.started_at = iso_time(wall_start_);
  r.start_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wall_start_.time_since_epoch()).count();
  r.duration_s = final_.duration_s;
  r.threads = plan_.threads;
  r.seed = plan_.seed;
  r.run_id = run_id_;
  r.shard_index = plan_.shard.index;
  r.shard_count = plan_.shard.count;
  r.env.assign(plan_.env.begin(), plan_.env.end());
  r.p99_event_loop_lag_ms = ms(final_.event_loop_lag.value_at_percentile(99));
  r.saturated = r.p99_event_loop_lag_ms > plan_.options.saturation_lag_ms;
  r.max_event_loop_lag_ms = ms(final_.event_loop_lag.max());
  if (!abort_reason_.empty() || interrupted_) {
    results::abort_info& a = r.aborted.emplace();
    a.reason = interrupted_                                 ? "signal"
               : abort_cause_ == stop_cause::script_error   ? "script_error"
               : abort_reason_.rfind("threshold", 0) == 0   ? "threshold"
               : abort_reason_.rfind("coordinator", 0) == 0 ? "coordinator"
                                                            : "script";
    a.detail = interrupted_ ? "interrupted by a signal" : abort_reason_;
    if (!interrupted_in_.empty()) {  // before the load: nothing ran but setup() (and init)
      a.phase = interrupted_in_;
      a.detail = "interrupted by a signal during " +
                 (interrupted_in_ == "init" ? std::string("the script's top level") : interrupted_in_ + "()");
    }
  }
}

// The measured figures: summary, steps (requests, then groups), time series, interval histograms, checks,
// custom metrics.
void coordinator::fill_figures(results::run_results& r) const {
  const double duration = final_.duration_s;
  const step_metrics& all = *final_.all_requests;
  r.summary = step_model(all, duration);
  r.summary.kind = "summary";
  r.summary.timings.clear();
  auto errors = all.errors_by_kind;
  for (const auto& [key, counts] : final_.checks) errors[static_cast<size_t>(error_kind::check_failed)] += counts.fails;
  r.summary.errors_by_kind = error_counters(errors);
  r.iterations = final_.iterations();
  r.dropped_iterations = final_.dropped_iterations();
  r.vus_max = final_.vus_max;
  r.data_sent_bytes = final_.data_sent;
  r.data_received_bytes = final_.data_received;
  for (const auto& [name, step] : final_.steps) {
    if (step->kind == step_kind::request) r.steps.push_back(step_model(*step, duration));
  }
  for (const auto& [name, step] : final_.steps) {
    if (step->kind == step_kind::group) r.steps.push_back(step_model(*step, duration));
  }
  for (const auto& [name, step] : final_.steps) {  // the tag sets thresholds asked for
    if (step->kind == step_kind::tagged) r.steps.push_back(step_model(*step, duration));
  }

  for (const auto& [second, row] : rows_) {
    r.timeseries.push_back({second, row.requests, row.errors, ms(row.latency.value_at_percentile(50)),
                            ms(row.latency.value_at_percentile(90)), ms(row.latency.value_at_percentile(99)),
                            ms(row.latency.max()), row.vus, row.iterations, row.dropped_iterations,
                            error_counters(row.errors_by_kind), row.vus_max, row.max_event_loop_lag_ms});
    for (const auto& [step, interval] : row.step_intervals) {
      r.intervals.push_back(
          {step, second, 1.0, interval.requests, interval.errors, interval.corrected.encode_compressed_base64()});
    }
    r.metric_intervals.insert(r.metric_intervals.end(), row.custom.begin(), row.custom.end());
  }
  for (const auto& [key, counts] : final_.checks) r.checks.push_back({key.name, key.group, counts.passes, counts.fails});
  r.metrics = to_results(final_.custom, duration);
  for (auto& m : final_.builtin_subs.to_results(duration)) r.metrics.push_back(std::move(m));
}

// The run's own sections, in the order the file has always had them, after the typed ones.
json::object coordinator::run_sections() const {
  json::object rest;
  json::array scenarios;
  for (size_t i = 0; i < plan_.options.scenarios.size(); ++i) {
    const auto& s = plan_.options.scenarios[i];
    const scenario_counters c = i < final_.scenarios.size() ? final_.scenarios[i] : scenario_counters{};
    // end_s: when its last iteration ended (a shared-iterations scenario ends long before its
    // maxDuration); null when the run stopped before the scenario's start.
    scenarios.push_back(json::object{
        {"name", s.name},
        {"executor", std::string(to_string(s.executor))},
        {"iterations", c.iterations},
        {"dropped_iterations", c.dropped_iterations},
        {"interrupted_iterations", c.interrupted_iterations},
        {"failed_iterations", c.failed_iterations},
        {"vus_max", c.vus_max},
        {"start_s", std::chrono::duration<double>(s.start_time).count()},
        {"end_s", c.end_s >= 0 ? json::value(c.end_s) : json::value(nullptr)},
        {"load", planned_load_json(s)}});
  }
  rest["scenarios"] = std::move(scenarios);
  rest["recovery_options"] = to_json(plan_.options.recovery);
  json::array stopped;  // Lua code the guard stopped because it did not yield (lua_guard.h)
  for (const auto& w : workers_) {
    for (const auto& i : w->interruptions()) {
      stopped.push_back(json::object{{"phase", std::string(to_string(i.phase))},
                                     {"vu", i.vu},
                                     {"scenario", i.scenario},
                                     {"where", i.where},
                                     {"ran_s", i.stalled_s},
                                     {"message", i.reason}});
    }
  }
  rest["script_interruptions"] = std::move(stopped);
  rest["chaos"] = chaos_ ? chaos_->records() : json::array();
  rest["verify"] = verify_;
  rest["history"] = history_json_;
  rest["history_dropped"] = history_dropped_;
  rest["capacity"] = nullptr;
  return rest;
}

}  // namespace stampede::loadgen::run_detail
