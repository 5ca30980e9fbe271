#include "reports/merge.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "common/hdr_histogram.h"
#include "reports/analysis.h"
#include "reports/recovery.h"
#include "reports/shards.h"
#include "results/custom_metrics.h"
#include "results/metric_series.h"

namespace stampede::reports {

namespace json = boost::json;

// ---------------------------------------------------------------------------------------------- merge

namespace {

void add_counters(std::vector<std::pair<std::string, int64_t>>& into, const counters& from) {
  for (const auto& item : from) {
    auto it = std::find_if(into.begin(), into.end(), [&](const auto& kv) { return kv.first == item.first; });
    if (it == into.end()) into.push_back(item);
    else it->second += item.second;
  }
}

// Accumulates one step (or the summary) over shards.
struct step_accumulator {
  std::string name;
  std::string kind;
  int64_t requests = 0, errors = 0;
  hdr_histogram histogram, uncorrected;
  bool has_histogram = false, has_uncorrected = false;
  counters status_classes, errors_by_kind;
  std::map<std::string, std::pair<double, double>> timing_mean_weight;  // phase -> (sum of mean*n, n)
  std::map<std::string, double> timing_p99_max;
  std::vector<std::string> timing_order;

  void add(const step_result& s, std::string_view what) {
    requests += s.requests;
    errors += s.errors;
    if (!s.histogram.empty()) {
      histogram.add(decode_histogram(s.histogram, what));
      has_histogram = true;
    }
    if (!s.uncorrected_histogram.empty()) {
      uncorrected.add(decode_histogram(s.uncorrected_histogram, std::string(what) + " (uncorrected)"));
      has_uncorrected = true;
    }
    add_counters(status_classes, s.status_classes);
    add_counters(errors_by_kind, s.errors_by_kind);
    for (const auto& t : s.timings) {
      if (!timing_mean_weight.count(t.phase)) timing_order.push_back(t.phase);
      auto& [sum, n] = timing_mean_weight[t.phase];
      sum += t.mean * static_cast<double>(s.requests);
      n += static_cast<double>(s.requests);
      timing_p99_max[t.phase] = std::max(timing_p99_max[t.phase], t.p99);
    }
  }

  step_result to_model(double duration_s) const {
    step_result o;
    o.name = name;
    o.kind = kind;
    o.requests = requests;
    o.rps = duration_s > 0 ? static_cast<double>(requests) / duration_s : 0.0;
    o.errors = errors;
    o.error_rate = requests > 0 ? static_cast<double>(errors) / static_cast<double>(requests) : 0.0;
    if (has_histogram) {
      o.latency = latency_stats::of(histogram);
      o.histogram = histogram.encode_compressed_base64();
    }
    if (has_uncorrected) {
      o.uncorrected = latency_stats::of(uncorrected);
      o.uncorrected_histogram = uncorrected.encode_compressed_base64();
    }
    o.status_classes = status_classes;
    o.errors_by_kind = errors_by_kind;
    for (const auto& phase : timing_order) {
      const auto& [sum, n] = timing_mean_weight.at(phase);
      o.timings.push_back({phase, n > 0 ? sum / n : 0.0, timing_p99_max.at(phase)});
    }
    return o;
  }
};

// A shard's time (seconds from its own start) on the merged timeline. Anything but a number is kept as it
// is: null says something (a scenario that never started, a process not back before the end).
void shift_time(json::object& o, std::string_view key, double shift) {
  if (json::value* v = o.if_contains(key); v != nullptr && v->is_number())
    *v = v->to_number<double>() + shift;
}

// scenarios[i] of one shard on the merged timeline: start_s, end_s and the planned load's points.
json::object shifted_scenario(const json::object& o, double shift) {
  json::object copy = o;
  shift_time(copy, "start_s", shift);
  shift_time(copy, "end_s", shift);
  if (json::value* load = copy.if_contains("load"); load != nullptr && load->is_object()) {
    if (json::value* points = load->get_object().if_contains("points");
        points != nullptr && points->is_array()) {
      for (json::value& p : points->get_array()) {
        if (json::array* a = p.if_array(); a != nullptr && !a->empty() && (*a)[0].is_number()) {
          (*a)[0] = (*a)[0].to_number<double>() + shift;
        }
      }
    }
  }
  return copy;
}

// One scenario run by several shards: counts add up; it starts at the earliest start and ends at the latest
// end (null only when it started in no shard); the planned load is the whole test's in every shard, so the
// curve is the one of the shard that started it first.
void merge_scenario(json::object& into, const json::object& other) {
  auto number = [](const json::object& x, std::string_view k) -> std::optional<double> {
    const json::value* n = x.if_contains(k);
    return n != nullptr && n->is_number() ? std::optional<double>(n->to_number<double>()) : std::nullopt;
  };
  for (std::string_view k :
       {"iterations", "dropped_iterations", "interrupted_iterations", "failed_iterations", "vus_max"}) {
    if (!into.contains(k) && !other.contains(k)) continue;
    into[k] = static_cast<int64_t>(number(into, k).value_or(0) + number(other, k).value_or(0));
  }
  const auto start = number(into, "start_s"), other_start = number(other, "start_s");
  if (other_start && (!start || *other_start < *start)) {
    into["start_s"] = *other_start;
    if (const json::value* load = other.if_contains("load")) into["load"] = *load;
  }
  const auto end = number(into, "end_s"), other_end = number(other, "end_s");
  if (other_end && (!end || *other_end > *end)) into["end_s"] = *other_end;
}

}  // namespace

merge_output merge_results(std::span<const run_results> shards, const merge_options& options) {
  if (shards.empty()) throw results_error("merge: no input");
  merge_output out;
  for (const auto& problem : detail::shard_problems(shards, options.names)) {
    if (!options.force) throw results_error(problem + " (--force merges anyway)");
    out.warnings.push_back(problem + " (merged anyway: --force)");
  }
  std::vector<std::string> runs;
  for (const auto& s : shards) {
    for (auto& id : detail::runs_of(s)) runs.push_back(std::move(id));
  }
  std::sort(runs.begin(), runs.end());
  runs.erase(std::unique(runs.begin(), runs.end()), runs.end());
  int64_t start_ms = shards[0].start_unix_ms;
  for (const auto& s : shards) start_ms = std::min(start_ms, s.start_unix_ms);
  std::vector<int64_t> offset(shards.size());
  double duration = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    offset[i] = static_cast<int64_t>(std::llround(static_cast<double>(shards[i].start_unix_ms - start_ms) / 1000.0));
    duration = std::max(duration, static_cast<double>(shards[i].start_unix_ms - start_ms) / 1000.0 + shards[i].duration_s);
    if (shards[i].scenario != shards[0].scenario) {
      out.warnings.push_back("shards run different scenarios (\"" + shards[0].scenario + "\" and \"" +
                             shards[i].scenario + "\")");
    }
  }
  {
    std::vector<int64_t> seen;
    for (const auto& s : shards) {
      if (s.shard_count > 1 && std::find(seen.begin(), seen.end(), s.shard_index) == seen.end()) seen.push_back(s.shard_index);
    }
    if (shards[0].shard_count > 1 && seen.size() != static_cast<size_t>(shards[0].shard_count)) {
      out.warnings.push_back("merged " + std::to_string(seen.size()) + " of " +
                             std::to_string(shards[0].shard_count) + " shards");
    }
  }

  // meta: the first shard's, with what adds up over shards. The model carries the first shard's document so
  // that meta keys it does not type (and the sections merged below) keep their place.
  const run_results& first = shards[0];
  run_results m;
  m.stampede_version = first.stampede_version;
  m.scenario = first.scenario;
  m.target = first.target;
  m.seed = first.seed;
  m.env = first.env;
  m.started_at = first.started_at;
  for (const auto& s : shards) {
    m.threads += s.threads;
    m.saturated |= s.saturated;
    m.max_event_loop_lag_ms = std::max(m.max_event_loop_lag_ms, s.max_event_loop_lag_ms);
    m.p99_event_loop_lag_ms = std::max(m.p99_event_loop_lag_ms, s.p99_event_loop_lag_ms);
    if (s.start_unix_ms == start_ms) m.started_at = s.started_at;
    if (s.aborted && !m.aborted) m.aborted = s.aborted;
  }
  m.start_unix_ms = start_ms;
  m.duration_s = duration;
  m.shard_index = 0;
  m.shard_count = 1;
  m.merged_shards = static_cast<int64_t>(shards.size());
  m.run_id = detail::merged_run_id(runs);
  m.merged_from = runs;

  // summary and steps
  step_accumulator summary;
  std::vector<step_accumulator> steps;
  for (size_t i = 0; i < shards.size(); ++i) {
    const auto& s = shards[i];
    summary.add(s.summary, "shard " + std::to_string(i) + " summary");
    m.iterations += s.iterations;
    m.dropped_iterations += s.dropped_iterations;
    m.vus_max += s.vus_max;  // shards run at the same time with disjoint VUs
    m.data_sent_bytes += s.data_sent_bytes;
    m.data_received_bytes += s.data_received_bytes;
    for (const auto& st : s.steps) {
      auto it = std::find_if(steps.begin(), steps.end(),
                             [&](const step_accumulator& a) { return a.name == st.name && a.kind == st.kind; });
      if (it == steps.end()) {
        steps.emplace_back();
        it = steps.end() - 1;
        it->name = st.name;
        it->kind = st.kind;
      }
      it->add(st, "shard " + std::to_string(i) + " step \"" + st.name + "\"");
    }
  }
  m.summary = summary.to_model(duration);
  m.summary.kind = "summary";
  for (const auto& a : steps) m.steps.push_back(a.to_model(duration));
  if (!steps.empty() && std::any_of(steps.begin(), steps.end(), [](const auto& a) { return !a.timing_order.empty(); })) {
    out.warnings.push_back("timings_ms p99 of merged steps is the largest shard value (an upper bound)");
  }

  // intervals: rows of every shard grouped by (t, step), merged one key at a time so that only two
  // histograms are alive at once (an hour of 20 steps is 72,000 intervals, ~190 KB each when decoded).
  std::map<std::pair<int64_t, std::string>, std::vector<std::pair<size_t, const interval_row*>>> interval_index;
  for (size_t i = 0; i < shards.size(); ++i) {
    for (const auto& row : shards[i].intervals) interval_index[{row.t + offset[i], row.step}].push_back({i, &row});
  }
  std::map<std::string, bool> is_group;
  for (const auto& a : steps) is_group[a.name] = a.kind == "group" || a.kind == "tagged";  // not in the sum
  struct second_latency {
    double p50 = 0, p90 = 0, p99 = 0, max = 0;
  };
  std::map<int64_t, second_latency> per_second;  // all request steps of each second, for the timeseries
  {
    hdr_histogram second_histogram;
    std::optional<int64_t> second;
    auto close_second = [&] {
      if (second && second_histogram.total_count() > 0) {
        const hdr_histogram& h = second_histogram;
        per_second[*second] = {static_cast<double>(h.value_at_percentile(50)) / 1000.0,
                               static_cast<double>(h.value_at_percentile(90)) / 1000.0,
                               static_cast<double>(h.value_at_percentile(99)) / 1000.0,
                               static_cast<double>(h.max()) / 1000.0};
      }
      second_histogram.reset();
    };
    for (const auto& [key, rows] : interval_index) {  // ordered by t, then step, as a writer emits them
      const auto& [t, step] = key;
      if (second != t) {
        close_second();
        second = t;
      }
      hdr_histogram merged;
      double interval_s = 1.0;
      std::optional<int64_t> requests = 0, errors = 0;  // counts only when every shard's row has them
      for (const auto& [shard, row] : rows) {
        merged.add(decode_histogram(row->histogram, "shard " + std::to_string(shard) + " interval (" + row->step +
                                                         ", t=" + std::to_string(row->t) + ")"));
        interval_s = row->interval_s;
        requests = requests && row->requests ? std::optional(*requests + *row->requests) : std::nullopt;
        errors = errors && row->errors ? std::optional(*errors + *row->errors) : std::nullopt;
      }
      if (!is_group[step]) second_histogram.add(merged);
      m.intervals.push_back({step, t, interval_s, requests, errors, merged.encode_compressed_base64()});
    }
    close_second();
  }

  // timeseries aligned on wall-clock seconds
  struct ts_acc {
    timeseries_row row;
    double p50 = 0, p90 = 0, p99 = 0, max = 0;
  };
  std::map<int64_t, ts_acc> rows;
  bool approximated = false;
  for (size_t i = 0; i < shards.size(); ++i) {
    for (const auto& tr : shards[i].timeseries) {
      auto& acc = rows[tr.t + offset[i]];
      acc.row.requests += tr.requests;
      acc.row.errors += tr.errors;
      acc.row.vus += tr.vus;
      acc.row.iterations += tr.iterations;
      acc.row.dropped_iterations += tr.dropped_iterations;
      add_counters(acc.row.errors_by_kind, tr.errors_by_kind);
      acc.p50 = std::max(acc.p50, tr.p50_ms);
      acc.p90 = std::max(acc.p90, tr.p90_ms);
      acc.p99 = std::max(acc.p99, tr.p99_ms);
      acc.max = std::max(acc.max, tr.max_ms);
    }
  }
  for (auto& [t, acc] : rows) {
    double p50 = acc.p50, p90 = acc.p90, p99 = acc.p99, mx = acc.max;
    if (auto it = per_second.find(t); it != per_second.end()) {
      p50 = it->second.p50;
      p90 = it->second.p90;
      p99 = it->second.p99;
      mx = it->second.max;
    } else if (acc.row.requests > 0 && shards.size() > 1) {
      approximated = true;
    }
    timeseries_row row = std::move(acc.row);
    row.t = t;
    row.p50_ms = p50;
    row.p90_ms = p90;
    row.p99_ms = p99;
    row.max_ms = mx;
    m.timeseries.push_back(std::move(row));
  }
  if (approximated) {
    out.warnings.push_back("some seconds have no interval histograms: their percentiles are the largest shard value");
  }
  // checks, custom metrics, scenarios, chaos
  for (const auto& s : shards) results::merge_metrics(m.metrics, s.metrics, duration);
  m.metric_intervals = results::merge_metric_series(shards, offset);
  for (const auto& s : shards) {
    for (const auto& c : s.checks) {
      auto it = std::find_if(m.checks.begin(), m.checks.end(),
                             [&](const check_result& x) { return x.name == c.name && x.group == c.group; });
      if (it == m.checks.end()) m.checks.push_back(c);
      else {
        it->passes += c.passes;
        it->fails += c.fails;
      }
    }
  }
  json::array scenarios_json;
  for (size_t i = 0; i < shards.size(); ++i) {
    const json::value* sc = shards[i].document.as_object().if_contains("scenarios");
    if (sc == nullptr || !sc->is_array()) continue;
    for (const auto& v : sc->get_array()) {
      if (!v.is_object()) continue;
      const json::object copy = shifted_scenario(v.get_object(), static_cast<double>(offset[i]));
      json::object* existing = nullptr;
      const json::value* name = copy.if_contains("name");
      for (auto& e : scenarios_json) {
        const json::value* other = e.get_object().if_contains("name");
        if (name != nullptr && other != nullptr && *name == *other) existing = &e.get_object();
      }
      if (existing == nullptr) {
        scenarios_json.push_back(copy);
      } else {
        merge_scenario(*existing, copy);
      }
    }
  }
  json::array chaos_json;
  for (size_t i = 0; i < shards.size(); ++i) {
    const json::value* ch = shards[i].document.as_object().if_contains("chaos");
    if (ch == nullptr || !ch->is_array()) continue;
    for (const auto& v : ch->get_array()) {
      if (!v.is_object()) continue;
      json::object copy = v.get_object();
      for (std::string_view k : {"start_s", "end_s", "planned_start_s", "planned_end_s", "back_s"}) {
        shift_time(copy, k, static_cast<double>(offset[i]));
      }
      copy.erase("recovery");  // one shard's figures: recomputed below on the merged timeline
      // The same fault seen by several shards (one injector, shared target) is listed once.
      if (std::find(chaos_json.begin(), chaos_json.end(), json::value(copy)) == chaos_json.end()) {
        chaos_json.push_back(std::move(copy));
      }
    }
  }
  // The tolerances the figures are judged with: the same options in every shard of one test.
  json::value recovery_options = nullptr;
  for (const auto& s : shards) {
    const json::value* v = s.document.as_object().if_contains("recovery_options");
    if (v == nullptr || v->is_null()) continue;
    if (recovery_options.is_null()) {
      recovery_options = *v;
    } else if (recovery_options != *v) {
      out.warnings.push_back("shards have different recovery_options; the first one is kept");
      break;
    }
  }
  json::value verify = nullptr;
  for (const auto& s : shards) {
    const json::value* v = s.document.as_object().if_contains("verify");
    if (v != nullptr && !v->is_null()) {
      if (!verify.is_null() && verify != *v) {
        out.warnings.push_back("shards report different drill verifications; the first one is kept");
        break;
      }
      verify = *v;
    }
  }

  // The sections the model carries as they are, in the order of the file; meta keys it does not type come
  // from the first shard.
  json::object rest;
  if (const json::value* meta = first.document.as_object().if_contains("meta"); meta != nullptr && meta->is_object()) {
    rest["meta"] = *meta;
  }
  rest["scenarios"] = std::move(scenarios_json);
  if (!recovery_options.is_null()) rest["recovery_options"] = std::move(recovery_options);
  rest["chaos"] = std::move(chaos_json);
  rest["verify"] = std::move(verify);
  rest["capacity"] = nullptr;

  // Thresholds: the union over shards (by metric and expression), re-evaluated on the merged data.
  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& s : shards) {
    for (const auto& t : s.thresholds) {
      std::pair<std::string, std::string> key{t.metric, t.expression};
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
      seen.push_back(key);
      const threshold_evaluation e = results::evaluate_threshold(m, t.metric, t.expression);
      threshold_result merged{t.metric, t.expression, e.observed, e.ok, false, t.abort_on_fail, e.evaluated};
      if (!e.evaluated) {
        merged.ok = true;
        for (const auto& other : shards) {
          for (const auto& ot : other.thresholds) {
            if (ot.metric == t.metric && ot.expression == t.expression) merged.ok = merged.ok && ot.ok;
          }
        }
        out.warnings.push_back("threshold " + t.metric + " " + t.expression +
                               " was not re-evaluated (unsupported here); kept the AND of the shards' verdicts");
      }
      m.thresholds.push_back(std::move(merged));
    }
  }
  m.document = std::move(rest);
  out.document = results::encode(m);
  add_recovery(out.document);  // the faults' figures on the whole test's load
  return out;
}

}  // namespace stampede::reports
