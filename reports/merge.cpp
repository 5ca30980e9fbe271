#include "reports/merge.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "common/hdr_histogram.h"
#include "reports/analysis.h"
#include "reports/shards.h"

namespace stampede::reports {

namespace json = boost::json;

// ---------------------------------------------------------------------------------------------- thresholds

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<double> parse_number(std::string_view s) {
  s = trim(s);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string_view strip_group_prefix(std::string_view s) {
  while (s.size() >= 2 && s.substr(0, 2) == "::") s.remove_prefix(2);
  return s;
}

}  // namespace

threshold_evaluation evaluate_threshold(const run_results& r, std::string_view metric, std::string_view expression) {
  threshold_evaluation out;
  // Metric: name{tag:value}. Only a single name or group tag is understood.
  std::string_view name = trim(metric), tag_key, tag_value;
  if (auto brace = name.find('{'); brace != std::string_view::npos) {
    if (name.back() != '}') return out;
    std::string_view tags = name.substr(brace + 1, name.size() - brace - 2);
    name = trim(name.substr(0, brace));
    auto colon = tags.find(':');
    if (colon == std::string_view::npos || tags.find(',') != std::string_view::npos) return out;
    tag_key = trim(tags.substr(0, colon));
    tag_value = trim(tags.substr(colon + 1));
  }
  // Expression: aggregation operator number.
  std::string_view e = trim(expression);
  size_t op_pos = e.find_first_of("<>=!");
  if (op_pos == std::string_view::npos || op_pos == 0) return out;
  std::string_view agg = trim(e.substr(0, op_pos));
  std::string_view rest = e.substr(op_pos);
  std::string_view op;
  for (std::string_view candidate : {"===", "==", "!=", "<=", ">=", "<", ">"}) {
    if (rest.substr(0, candidate.size()) == candidate) {
      op = candidate;
      break;
    }
  }
  if (op.empty()) return out;
  auto bound = parse_number(rest.substr(op.size()));
  if (!bound) return out;

  std::optional<double> observed;
  auto duration_stat = [&](const step_result& s) -> std::optional<double> {
    const std::string& encoded = s.histogram;
    if (encoded.empty()) return std::nullopt;
    auto h = hdr_histogram::decode_base64(encoded);
    if (!h) return std::nullopt;
    if (agg == "avg") return h->mean() / 1000.0;
    if (agg == "min") return static_cast<double>(h->min()) / 1000.0;
    if (agg == "max") return static_cast<double>(h->max()) / 1000.0;
    if (agg == "med") return static_cast<double>(h->value_at_percentile(50)) / 1000.0;
    if (agg.size() > 3 && agg.substr(0, 2) == "p(" && agg.back() == ')') {
      auto p = parse_number(agg.substr(2, agg.size() - 3));
      if (!p || *p < 0 || *p > 100) return std::nullopt;
      return static_cast<double>(h->value_at_percentile(*p)) / 1000.0;
    }
    return std::nullopt;
  };
  double duration = r.duration_s > 0 ? r.duration_s : 1.0;
  if (name == "http_req_duration" || name == "group_duration") {
    const step_result* s = nullptr;
    if (tag_key.empty() && name == "http_req_duration") {
      s = &r.summary;
    } else if ((tag_key == "name" && name == "http_req_duration") || (tag_key == "group" && name == "group_duration")) {
      for (const auto& step : r.steps) {
        bool kind_ok = (tag_key == "group") == (step.kind == "group");
        if (kind_ok && strip_group_prefix(step.name) == strip_group_prefix(tag_value)) s = &step;
      }
    }
    if (s != nullptr) observed = duration_stat(*s);
  } else if (!tag_key.empty()) {
    return out;
  } else if (name == "http_req_failed" && agg == "rate") {
    observed = r.summary.requests > 0 ? static_cast<double>(r.summary.errors) / static_cast<double>(r.summary.requests) : 0.0;
  } else if (name == "http_reqs" && (agg == "count" || agg == "rate")) {
    observed = agg == "count" ? static_cast<double>(r.summary.requests) : static_cast<double>(r.summary.requests) / duration;
  } else if (name == "iterations" && (agg == "count" || agg == "rate")) {
    observed = agg == "count" ? static_cast<double>(r.iterations) : static_cast<double>(r.iterations) / duration;
  } else if (name == "dropped_iterations" && (agg == "count" || agg == "rate")) {
    observed = agg == "count" ? static_cast<double>(r.dropped_iterations)
                              : static_cast<double>(r.dropped_iterations) / duration;
  } else if (name == "checks" && agg == "rate") {
    int64_t passes = 0, total = 0;
    for (const auto& c : r.checks) {
      passes += c.passes;
      total += c.passes + c.fails;
    }
    observed = total > 0 ? static_cast<double>(passes) / static_cast<double>(total) : 0.0;
  }
  if (!observed) return out;
  double v = *observed, b = *bound;
  bool ok = false;
  if (op == "<") ok = v < b;
  else if (op == "<=") ok = v <= b;
  else if (op == ">") ok = v > b;
  else if (op == ">=") ok = v >= b;
  else if (op == "==" || op == "===") ok = v == b;
  else if (op == "!=") ok = v != b;
  out.evaluated = true;
  out.ok = ok;
  out.observed = v;
  return out;
}

// ---------------------------------------------------------------------------------------------- merge

namespace {

json::object latency_object(const hdr_histogram& h) {
  auto ms = [](int64_t us) { return static_cast<double>(us) / 1000.0; };
  return json::object{{"min", ms(h.min())},
                      {"mean", h.mean() / 1000.0},
                      {"p50", ms(h.value_at_percentile(50))},
                      {"p90", ms(h.value_at_percentile(90))},
                      {"p95", ms(h.value_at_percentile(95))},
                      {"p99", ms(h.value_at_percentile(99))},
                      {"p999", ms(h.value_at_percentile(99.9))},
                      {"max", ms(h.max())}};
}

void add_counters(std::vector<std::pair<std::string, int64_t>>& into, const counters& from) {
  for (const auto& item : from) {
    auto it = std::find_if(into.begin(), into.end(), [&](const auto& kv) { return kv.first == item.first; });
    if (it == into.end()) into.push_back(item);
    else it->second += item.second;
  }
}

json::object counters_object(const counters& c) {
  json::object o;
  for (const auto& [k, v] : c) o[k] = v;
  return o;
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

  void add(const step_result& s, const json::object* raw, std::string_view what) {
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
    const json::value* timings = raw != nullptr ? raw->if_contains("timings_ms") : nullptr;
    if (timings != nullptr && timings->is_object()) {
      for (const auto& kv : timings->get_object()) {
        if (!kv.value().is_object()) continue;
        std::string phase(kv.key());
        if (!timing_mean_weight.count(phase)) timing_order.push_back(phase);
        auto& [sum, n] = timing_mean_weight[phase];
        const auto& o = kv.value().get_object();
        auto number = [](const json::value* v) {
          return v == nullptr ? 0.0 : v->is_double() ? v->get_double() : v->is_int64() ? double(v->get_int64()) : 0.0;
        };
        sum += number(o.if_contains("mean")) * static_cast<double>(s.requests);
        n += static_cast<double>(s.requests);
        timing_p99_max[phase] = std::max(timing_p99_max[phase], number(o.if_contains("p99")));
      }
    }
  }

  json::object to_json(double duration_s, bool with_name) const {
    json::object o;
    if (with_name) {
      o["name"] = name;
      o["kind"] = kind;
    }
    o["requests"] = requests;
    o["rps"] = duration_s > 0 ? static_cast<double>(requests) / duration_s : 0.0;
    o["errors"] = errors;
    o["error_rate"] = requests > 0 ? static_cast<double>(errors) / static_cast<double>(requests) : 0.0;
    if (has_histogram) o["latency_ms"] = latency_object(histogram);
    if (has_uncorrected) o["uncorrected_latency_ms"] = latency_object(uncorrected);
    if (has_histogram) o["histogram"] = histogram.encode_compressed_base64();
    if (has_uncorrected) o["uncorrected_histogram"] = uncorrected.encode_compressed_base64();
    o["status_classes"] = counters_object(status_classes);
    o["errors_by_kind"] = counters_object(errors_by_kind);
    if (!timing_order.empty()) {
      json::object timings;
      for (const auto& phase : timing_order) {
        const auto& [sum, n] = timing_mean_weight.at(phase);
        timings[phase] = json::object{{"mean", n > 0 ? sum / n : 0.0}, {"p99", timing_p99_max.at(phase)}};
      }
      o["timings_ms"] = std::move(timings);
    }
    return o;
  }
};

const json::object* raw_step(const run_results& r, size_t index) {
  const json::value* steps = r.document.as_object().if_contains("steps");
  if (steps == nullptr || !steps->is_array() || index >= steps->get_array().size()) return nullptr;
  const json::value& v = steps->get_array()[index];
  return v.is_object() ? &v.get_object() : nullptr;
}

const json::object* raw_object(const json::value& doc, std::string_view key) {
  const json::value* v = doc.as_object().if_contains(key);
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
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

  // meta
  const run_results& first = shards[0];
  json::object meta;
  if (const json::object* m = raw_object(first.document, "meta")) meta = *m;
  int64_t threads = 0;
  bool saturated = false;
  double max_lag = 0, p99_lag = 0;
  json::value aborted = nullptr;
  std::string started_at = first.started_at;
  for (const auto& s : shards) {
    threads += s.threads;
    saturated |= s.saturated;
    max_lag = std::max(max_lag, s.max_event_loop_lag_ms);
    if (s.start_unix_ms == start_ms) started_at = s.started_at;
    if (const json::object* m = raw_object(s.document, "meta")) {
      if (const json::value* g = m->if_contains("generator"); g != nullptr && g->is_object()) {
        if (const json::value* p = g->get_object().if_contains("p99_event_loop_lag_ms"); p != nullptr && p->is_number()) {
          p99_lag = std::max(p99_lag, p->to_number<double>());
        }
      }
      if (const json::value* a = m->if_contains("aborted"); a != nullptr && !a->is_null() && aborted.is_null()) {
        aborted = *a;
      }
    }
  }
  meta["started_at"] = started_at;
  meta["start_unix_ms"] = start_ms;
  meta["duration_s"] = duration;
  meta["threads"] = threads;
  meta["shard"] = json::object{{"index", 0}, {"count", 1}};
  meta["merged_shards"] = static_cast<int64_t>(shards.size());
  meta["run_id"] = detail::merged_run_id(runs);
  json::array merged_from;
  for (const auto& id : runs) merged_from.emplace_back(id);
  meta["merged_from"] = std::move(merged_from);
  meta["generator"] = json::object{
      {"saturated", saturated}, {"max_event_loop_lag_ms", max_lag}, {"p99_event_loop_lag_ms", p99_lag}};
  meta["aborted"] = aborted;

  // summary and steps
  step_accumulator summary;
  int64_t iterations = 0, dropped = 0, vus_max = 0, sent = 0, received = 0;
  std::vector<step_accumulator> steps;
  for (size_t i = 0; i < shards.size(); ++i) {
    const auto& s = shards[i];
    summary.add(s.summary, nullptr, "shard " + std::to_string(i) + " summary");
    iterations += s.iterations;
    dropped += s.dropped_iterations;
    vus_max += s.vus_max;  // shards run at the same time with disjoint VUs
    sent += s.data_sent_bytes;
    received += s.data_received_bytes;
    for (size_t j = 0; j < s.steps.size(); ++j) {
      const auto& st = s.steps[j];
      auto it = std::find_if(steps.begin(), steps.end(),
                             [&](const step_accumulator& a) { return a.name == st.name && a.kind == st.kind; });
      if (it == steps.end()) {
        steps.emplace_back();
        it = steps.end() - 1;
        it->name = st.name;
        it->kind = st.kind;
      }
      it->add(st, raw_step(s, j), "shard " + std::to_string(i) + " step \"" + st.name + "\"");
    }
  }
  json::object summary_json = summary.to_json(duration, false);
  summary_json["iterations"] = iterations;
  summary_json["dropped_iterations"] = dropped;
  summary_json["vus_max"] = vus_max;
  summary_json["data_sent_bytes"] = sent;
  summary_json["data_received_bytes"] = received;
  json::array steps_json;
  for (const auto& a : steps) steps_json.push_back(a.to_json(duration, true));
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
  for (const auto& a : steps) is_group[a.name] = a.kind == "group";
  struct second_latency {
    double p50 = 0, p90 = 0, p99 = 0, max = 0;
  };
  std::map<int64_t, second_latency> per_second;  // all request steps of each second, for the timeseries
  json::array intervals_json;
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
      json::object out_row{{"step", step}, {"t", t}, {"interval_s", interval_s}};
      if (requests) out_row["requests"] = *requests;
      if (errors) out_row["errors"] = *errors;
      out_row["histogram"] = merged.encode_compressed_base64();
      intervals_json.push_back(std::move(out_row));
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
  json::array ts_json;
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
    ts_json.push_back(json::object{{"t", t},
                                   {"requests", acc.row.requests},
                                   {"errors", acc.row.errors},
                                   {"p50_ms", p50},
                                   {"p90_ms", p90},
                                   {"p99_ms", p99},
                                   {"max_ms", mx},
                                   {"vus", acc.row.vus},
                                   {"iterations", acc.row.iterations},
                                   {"dropped_iterations", acc.row.dropped_iterations},
                                   {"errors_by_kind", counters_object(acc.row.errors_by_kind)}});
  }
  if (approximated) {
    out.warnings.push_back("some seconds have no interval histograms: their percentiles are the largest shard value");
  }
  // checks, scenarios, chaos
  std::vector<check_result> checks;
  for (const auto& s : shards) {
    for (const auto& c : s.checks) {
      auto it = std::find_if(checks.begin(), checks.end(),
                             [&](const check_result& x) { return x.name == c.name && x.group == c.group; });
      if (it == checks.end()) checks.push_back(c);
      else {
        it->passes += c.passes;
        it->fails += c.fails;
      }
    }
  }
  json::array checks_json;
  for (const auto& c : checks) {
    checks_json.push_back(json::object{{"name", c.name}, {"group", c.group}, {"passes", c.passes}, {"fails", c.fails}});
  }
  json::array scenarios_json;
  for (size_t i = 0; i < shards.size(); ++i) {
    const json::value* sc = shards[i].document.as_object().if_contains("scenarios");
    if (sc == nullptr || !sc->is_array()) continue;
    for (const auto& v : sc->get_array()) {
      if (!v.is_object()) continue;
      const auto& o = v.get_object();
      auto num = [&](const json::object& x, std::string_view k) {
        const json::value* n = x.if_contains(k);
        return n != nullptr && n->is_number() ? n->to_number<double>() : 0.0;
      };
      json::object* existing = nullptr;
      const json::value* name = o.if_contains("name");
      for (auto& e : scenarios_json) {
        const json::value* other = e.get_object().if_contains("name");
        if (name != nullptr && other != nullptr && *name == *other) existing = &e.get_object();
      }
      double shift = static_cast<double>(offset[i]);
      if (existing == nullptr) {
        json::object copy = o;
        if (o.if_contains("start_s")) copy["start_s"] = num(o, "start_s") + shift;
        if (o.if_contains("end_s")) copy["end_s"] = num(o, "end_s") + shift;
        scenarios_json.push_back(std::move(copy));
      } else {
        for (std::string_view k : {"iterations", "dropped_iterations", "vus_max"}) {
          (*existing)[k] = static_cast<int64_t>(num(*existing, k) + num(o, k));
        }
        (*existing)["start_s"] = std::min(num(*existing, "start_s"), num(o, "start_s") + shift);
        (*existing)["end_s"] = std::max(num(*existing, "end_s"), num(o, "end_s") + shift);
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
      double shift = static_cast<double>(offset[i]);
      if (const json::value* st = copy.if_contains("start_s"); st != nullptr && st->is_number()) {
        copy["start_s"] = st->to_number<double>() + shift;
      }
      if (const json::value* en = copy.if_contains("end_s"); en != nullptr && en->is_number()) {
        copy["end_s"] = en->to_number<double>() + shift;
      }
      // The same fault seen by several shards (one injector, shared target) is listed once.
      if (std::find(chaos_json.begin(), chaos_json.end(), json::value(copy)) == chaos_json.end()) {
        chaos_json.push_back(std::move(copy));
      }
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

  json::object doc;
  doc["schema"] = "stampede-results";
  doc["version"] = 1;
  doc["meta"] = std::move(meta);
  doc["summary"] = std::move(summary_json);
  doc["steps"] = std::move(steps_json);
  doc["timeseries"] = std::move(ts_json);
  doc["intervals"] = std::move(intervals_json);
  doc["thresholds"] = json::array();
  doc["checks"] = std::move(checks_json);
  doc["scenarios"] = std::move(scenarios_json);
  doc["chaos"] = std::move(chaos_json);
  doc["verify"] = std::move(verify);
  doc["capacity"] = nullptr;

  // Thresholds: the union over shards (by metric and expression), re-evaluated on the merged data.
  run_results merged = parse_results(json::value(doc));
  json::array thresholds_json;
  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& s : shards) {
    for (const auto& t : s.thresholds) {
      std::pair<std::string, std::string> key{t.metric, t.expression};
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
      seen.push_back(key);
      threshold_evaluation e = evaluate_threshold(merged, t.metric, t.expression);
      bool ok = e.ok;
      bool abort_on_fail = t.abort_on_fail;
      if (!e.evaluated) {
        ok = true;
        for (const auto& other : shards) {
          for (const auto& ot : other.thresholds) {
            if (ot.metric == t.metric && ot.expression == t.expression) ok = ok && ot.ok;
          }
        }
        out.warnings.push_back("threshold " + t.metric + " " + t.expression +
                               " was not re-evaluated (unsupported here); kept the AND of the shards' verdicts");
      }
      json::object o{{"metric", t.metric}, {"expression", t.expression},
                     {"observed", e.observed ? json::value(*e.observed) : json::value(nullptr)},
                     {"ok", ok}, {"abort_on_fail", abort_on_fail}, {"re_evaluated", e.evaluated}};
      thresholds_json.push_back(std::move(o));
    }
  }
  doc["thresholds"] = std::move(thresholds_json);
  out.document = std::move(doc);
  return out;
}

}  // namespace stampede::reports
