// encode(): the typed model back to a results document (docs/RESULTS.md). Key names and order are the ones
// `stampede run` has always written, so files stay byte-compatible for readers that diff them.
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "common/hdr_histogram.h"
#include "results/model.h"

namespace stampede::results {

namespace json = boost::json;

namespace {

double ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

json::object counters_json(const counters& c) {
  json::object o;
  for (const auto& [k, v] : c) o[k] = v;
  return o;
}

// The members a step and the summary share: counts, then (after the summary's own) latency and the rest.
void step_counts(json::object& o, const step_result& s) {
  o["requests"] = s.requests;
  o["rps"] = s.rps;
  o["errors"] = s.errors;
  o["error_rate"] = s.error_rate;
}

void step_fields(json::object& o, const step_result& s) {
  if (!s.histogram.empty() || s.latency != latency_stats{}) o["latency_ms"] = to_json(s.latency);
  if (!s.uncorrected_histogram.empty() || s.uncorrected != latency_stats{}) {
    o["uncorrected_latency_ms"] = to_json(s.uncorrected);
  }
  if (!s.histogram.empty()) o["histogram"] = s.histogram;
  if (!s.uncorrected_histogram.empty()) o["uncorrected_histogram"] = s.uncorrected_histogram;
  // Groups have no responses of their own: no status classes or error kinds unless a writer gave some.
  if (s.kind != "group" || !s.status_classes.empty()) o["status_classes"] = counters_json(s.status_classes);
  if (s.kind != "group" || !s.errors_by_kind.empty()) o["errors_by_kind"] = counters_json(s.errors_by_kind);
  if (!s.timings.empty()) {
    json::object timings;
    for (const auto& t : s.timings) timings[t.phase] = json::object{{"mean", t.mean}, {"p99", t.p99}};
    o["timings_ms"] = std::move(timings);
  }
}

json::object step_json(const step_result& s) {
  json::object o;
  o["name"] = s.name;
  o["kind"] = s.kind;
  step_counts(o, s);
  step_fields(o, s);
  return o;
}

json::object summary_json(const run_results& r) {
  json::object o;
  step_counts(o, r.summary);
  o["iterations"] = r.iterations;
  o["dropped_iterations"] = r.dropped_iterations;
  o["vus_max"] = r.vus_max;
  o["data_sent_bytes"] = r.data_sent_bytes;
  o["data_received_bytes"] = r.data_received_bytes;
  step_fields(o, r.summary);
  return o;
}

// meta: the document's own meta first (keys the model does not know keep their place), typed keys over it.
json::object meta_json(const run_results& r) {
  json::object o;
  if (const json::object* doc = r.document.if_object()) {
    if (const json::value* m = doc->if_contains("meta"); m != nullptr && m->is_object()) o = m->get_object();
  }
  o["stampede_version"] = r.stampede_version;
  o["scenario"] = r.scenario;
  o["target"] = r.target;
  o["started_at"] = r.started_at;
  o["start_unix_ms"] = r.start_unix_ms;
  o["duration_s"] = r.duration_s;
  o["threads"] = r.threads;
  if (r.seed) o["seed"] = *r.seed;
  o["run_id"] = r.run_id;
  o["shard"] = json::object{{"index", r.shard_index}, {"count", r.shard_count}};
  json::object env;
  for (const auto& [k, v] : r.env) env[k] = v;
  o["env"] = std::move(env);
  o["generator"] = json::object{{"saturated", r.saturated},
                                {"max_event_loop_lag_ms", r.max_event_loop_lag_ms},
                                {"p99_event_loop_lag_ms", r.p99_event_loop_lag_ms}};
  if (r.aborted) {
    json::object a{{"reason", r.aborted->reason}, {"detail", r.aborted->detail}};
    if (!r.aborted->phase.empty()) a["phase"] = r.aborted->phase;
    o["aborted"] = std::move(a);
  } else {
    o["aborted"] = nullptr;
  }
  if (r.merged_shards) o["merged_shards"] = *r.merged_shards;
  if (!r.merged_from.empty()) {
    json::array from;
    for (const auto& id : r.merged_from) from.emplace_back(id);
    o["merged_from"] = std::move(from);
  }
  return o;
}

json::object timeseries_json(const timeseries_row& row) {
  json::object o{{"t", row.t},           {"requests", row.requests}, {"errors", row.errors},
                 {"p50_ms", row.p50_ms}, {"p90_ms", row.p90_ms},     {"p99_ms", row.p99_ms},
                 {"max_ms", row.max_ms}, {"vus", row.vus}};
  if (row.vus_max) o["vus_max"] = *row.vus_max;
  o["iterations"] = row.iterations;
  o["dropped_iterations"] = row.dropped_iterations;
  o["errors_by_kind"] = counters_json(row.errors_by_kind);
  if (row.max_event_loop_lag_ms) o["max_event_loop_lag_ms"] = *row.max_event_loop_lag_ms;
  return o;
}

json::object interval_json(const interval_row& row) {
  json::object o{{"step", row.step}, {"t", row.t}, {"interval_s", row.interval_s}};
  if (row.requests) o["requests"] = *row.requests;
  if (row.errors) o["errors"] = *row.errors;
  o["histogram"] = row.histogram;
  return o;
}

template <class T, class F>
json::array array_of(const std::vector<T>& items, F&& to) {
  json::array a;
  a.reserve(items.size());
  for (const auto& item : items) a.push_back(to(item));
  return a;
}

}  // namespace

latency_stats latency_stats::of(const hdr_histogram& h) {
  return {ms(h.min()),
          h.mean() / 1000.0,
          ms(h.value_at_percentile(50)),
          ms(h.value_at_percentile(90)),
          ms(h.value_at_percentile(95)),
          ms(h.value_at_percentile(99)),
          ms(h.value_at_percentile(99.9)),
          ms(h.max())};
}

json::object to_json(const latency_stats& s) {
  return json::object{{"min", s.min}, {"mean", s.mean}, {"p50", s.p50},   {"p90", s.p90},
                      {"p95", s.p95}, {"p99", s.p99},   {"p999", s.p999}, {"max", s.max}};
}

json::object to_json(const threshold_result& t) {
  json::object o{{"metric", t.metric},
                 {"expression", t.expression},
                 {"observed", t.observed ? json::value(*t.observed) : json::value(nullptr)},
                 {"ok", t.ok},
                 {"abort_on_fail", t.abort_on_fail},
                 {"no_data", t.no_data}};
  if (t.re_evaluated) o["re_evaluated"] = *t.re_evaluated;
  return o;
}

json::object to_json(const check_result& c) {
  return json::object{{"name", c.name}, {"group", c.group}, {"passes", c.passes}, {"fails", c.fails}};
}

json::object to_json(const metric_result& m) {
  json::object o{{"name", m.name}, {"metric", m.metric}, {"type", m.type}, {"samples", m.samples}};
  if (m.type == "trend") {
    o["is_time"] = m.is_time;
    o["stats"] = to_json(m.stats);
    o["histogram"] = m.histogram;
  } else if (m.type == "counter") {
    o["count"] = m.count;
    o["rate"] = m.rate;
  } else if (m.type == "rate") {
    o["trues"] = m.trues;
    o["rate"] = m.rate;
  } else {
    o["value"] = m.value;
    o["min"] = m.min;
    o["max"] = m.max;
    o["last_unix_us"] = m.last_unix_us;
  }
  return o;
}

json::object to_json(const metric_interval& m) {
  json::object o{{"name", m.name}, {"t", m.t}, {"samples", m.samples}};
  if (m.type == "trend") {
    o["histogram"] = m.histogram;
  } else if (m.type == "counter") {
    o["count"] = m.count;
  } else if (m.type == "rate") {
    o["trues"] = m.trues;
  } else {
    o["value"] = m.value;
    o["min"] = m.min;
    o["max"] = m.max;
    o["last_unix_us"] = m.last_unix_us;
  }
  return o;
}

json::value encode(const run_results& r) {
  json::object root;
  root["schema"] = schema_name;
  root["version"] = r.version;
  root["meta"] = meta_json(r);
  root["summary"] = summary_json(r);
  root["steps"] = array_of(r.steps, step_json);
  root["timeseries"] = array_of(r.timeseries, timeseries_json);
  root["intervals"] = array_of(r.intervals, interval_json);
  root["thresholds"] = array_of(r.thresholds, [](const threshold_result& t) { return to_json(t); });
  root["checks"] = array_of(r.checks, [](const check_result& c) { return to_json(c); });
  if (!r.metrics.empty()) root["metrics"] = array_of(r.metrics, [](const metric_result& m) { return to_json(m); });
  if (!r.metric_intervals.empty()) {
    root["metric_intervals"] =
        array_of(r.metric_intervals, [](const metric_interval& m) { return to_json(m); });
  }
  if (const json::object* doc = r.document.if_object()) {
    for (const auto& kv : *doc) {
      if (!root.contains(kv.key())) root[kv.key()] = kv.value();
    }
  }
  return root;
}

}  // namespace stampede::results
