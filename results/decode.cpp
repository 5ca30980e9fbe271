#include "results/model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace stampede::results {

namespace json = boost::json;

namespace {

[[noreturn]] void fail(std::string_view where, std::string_view what) {
  throw results_error(std::string(where) + ": " + std::string(what));
}

const json::object& as_object(const json::value& v, std::string_view where) {
  if (!v.is_object()) fail(where, "expected an object");
  return v.get_object();
}

const json::array* optional_array(const json::object& o, std::string_view key, std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return nullptr;
  if (!v->is_array()) fail(std::string(where) + "." + std::string(key), "expected an array");
  return &v->get_array();
}

const json::object* optional_object(const json::object& o, std::string_view key, std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return nullptr;
  if (!v->is_object()) fail(std::string(where) + "." + std::string(key), "expected an object");
  return &v->get_object();
}

std::optional<double> number_of(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

double get_double(const json::object& o, std::string_view key, std::string_view where, double fallback = 0) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return fallback;
  auto d = number_of(*v);
  if (!d || !std::isfinite(*d)) fail(std::string(where) + "." + std::string(key), "expected a finite number");
  return *d;
}

int64_t get_int(const json::object& o, std::string_view key, std::string_view where, int64_t fallback = 0) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v->get_uint64());
  }
  // Counts are integers; accept integral doubles written by other tools.
  if (v->is_double()) {
    double d = v->get_double();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  fail(std::string(where) + "." + std::string(key), "expected an integer");
}

std::string get_string(const json::object& o, std::string_view key, std::string_view where,
                       std::string_view fallback = "") {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::string(fallback);
  if (!v->is_string()) fail(std::string(where) + "." + std::string(key), "expected a string");
  return std::string(v->get_string());
}

bool get_bool(const json::object& o, std::string_view key, std::string_view where, bool fallback = false) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_bool()) fail(std::string(where) + "." + std::string(key), "expected true or false");
  return v->get_bool();
}

latency_stats read_latency(const json::object& o, std::string_view key, std::string_view where) {
  latency_stats s;
  const json::object* l = optional_object(o, key, where);
  if (l == nullptr) return s;
  std::string w = std::string(where) + "." + std::string(key);
  s.min = get_double(*l, "min", w);
  s.mean = get_double(*l, "mean", w);
  s.p50 = get_double(*l, "p50", w);
  s.p90 = get_double(*l, "p90", w);
  s.p95 = get_double(*l, "p95", w);
  s.p99 = get_double(*l, "p99", w);
  s.p999 = get_double(*l, "p999", w);
  s.max = get_double(*l, "max", w);
  return s;
}

counters read_counters(const json::object& o, std::string_view key, std::string_view where) {
  counters out;
  const json::object* c = optional_object(o, key, where);
  if (c == nullptr) return out;
  std::string w = std::string(where) + "." + std::string(key);
  for (const auto& kv : *c) out.emplace_back(std::string(kv.key()), get_int(*c, kv.key(), w));
  return out;
}

step_result read_step(const json::object& o, std::string_view where) {
  step_result s;
  s.name = get_string(o, "name", where);
  s.kind = get_string(o, "kind", where, "request");
  s.requests = get_int(o, "requests", where);
  s.rps = get_double(o, "rps", where);
  s.errors = get_int(o, "errors", where);
  s.error_rate = get_double(o, "error_rate", where);
  s.latency = read_latency(o, "latency_ms", where);
  s.uncorrected = read_latency(o, "uncorrected_latency_ms", where);
  s.histogram = get_string(o, "histogram", where);
  s.uncorrected_histogram = get_string(o, "uncorrected_histogram", where);
  s.status_classes = read_counters(o, "status_classes", where);
  s.errors_by_kind = read_counters(o, "errors_by_kind", where);
  if (const json::object* timings = optional_object(o, "timings_ms", where)) {
    const std::string w = std::string(where) + ".timings_ms";
    for (const auto& kv : *timings) {
      const std::string phase_where = w + "." + std::string(kv.key());
      const json::object& t = as_object(kv.value(), phase_where);
      s.timings.push_back({std::string(kv.key()), get_double(t, "mean", phase_where), get_double(t, "p99", phase_where)});
    }
  }
  if (s.requests < 0 || s.errors < 0) fail(where, "negative count");
  return s;
}

// scenarios[] (their planned load), drill.links[] and recovery_options: what the recovery figures need.
void read_plan(const json::object& root, run_results& r) {
  if (const json::array* rows = optional_array(root, "scenarios", "results")) {
    for (size_t i = 0; i < rows->size(); ++i) {
      std::string where = "scenarios[" + std::to_string(i) + "]";
      const json::object& o = as_object((*rows)[i], where);
      scenario_plan s;
      s.name = get_string(o, "name", where);
      s.executor = get_string(o, "executor", where);
      s.start_s = get_double(o, "start_s", where);
      s.end_s = get_double(o, "end_s", where, s.start_s);
      s.when_done = s.executor == "per-vu-iterations" || s.executor == "shared-iterations";
      s.interrupted_iterations = get_int(o, "interrupted_iterations", where);
      if (const json::object* load = optional_object(o, "load", where)) {
        const std::string w = where + ".load";
        s.unit = get_string(*load, "unit", w);
        s.when_done = get_string(*load, "ends", w, s.when_done ? "when_done" : "planned") == "when_done";
        if (const json::array* points = optional_array(*load, "points", w)) {
          for (size_t k = 0; k < points->size(); ++k) {
            const json::array* p = (*points)[k].if_array();
            std::optional<double> t, level;
            if (p != nullptr && p->size() == 2) {
              t = number_of((*p)[0]);
              level = number_of((*p)[1]);
            }
            if (!t || !level || !std::isfinite(*t) || !std::isfinite(*level) || *level < 0) {
              fail(w + ".points[" + std::to_string(k) + "]", "expected [t_s, level] with level >= 0");
            }
            s.points.emplace_back(*t, *level);
          }
        }
      }
      r.scenarios.push_back(std::move(s));
    }
  }
  if (const json::object* drill = optional_object(root, "drill", "results")) {
    if (const json::array* links = optional_array(*drill, "links", "drill")) {
      for (size_t i = 0; i < links->size(); ++i) {
        std::string where = "drill.links[" + std::to_string(i) + "]";
        const json::object& o = as_object((*links)[i], where);
        r.links.push_back({get_string(o, "name", where), get_string(o, "from", where), get_string(o, "to", where)});
      }
    }
  }
  if (const json::object* o = optional_object(root, "recovery_options", "results")) {
    for (const auto& key : recovery_tolerance_keys()) {
      if (!o->contains(key.name)) continue;  // older writers: the default; keys we do not know: ignored
      const std::string where = "recovery_options." + std::string(key.name);
      const double value = get_double(*o, key.name, "recovery_options");
      if (std::string problem = set_recovery_tolerance(r.recovery_options, key.name, value); !problem.empty()) {
        fail(where, problem);
      }
    }
    if (std::string problem = check_recovery_tolerances(r.recovery_options); !problem.empty()) {
      throw results_error("recovery_options." + problem);
    }
  }
}

}  // namespace

bool run_results::thresholds_ok() const noexcept {
  for (const auto& t : thresholds) {
    if (!t.ok) return false;
  }
  return true;
}

bool run_results::invariants_ok() const noexcept {
  if (verify_ok.has_value() && !*verify_ok) return false;
  for (const auto& i : invariants) {
    if (i.ok.has_value() && !*i.ok) return false;
  }
  return true;
}

const step_result* run_results::find_step(std::string_view name) const noexcept {
  for (const auto& s : steps) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

run_results parse_results(std::string_view json_text) {
  boost::system::error_code ec;
  json::value v = json::parse(json_text, ec);
  if (ec) throw results_error("not valid JSON: " + ec.message());
  return parse_results(std::move(v));
}

run_results parse_results(json::value document) {
  run_results r;
  const json::object& root = as_object(document, "results");
  if (get_string(root, "schema", "results") != schema_name) {
    throw results_error("not a stampede results file (\"schema\" is not \"" + std::string(schema_name) + "\")");
  }
  int64_t version = get_int(root, "version", "results", -1);
  if (version < 1) throw results_error("results: \"version\" is missing or invalid");
  if (version > supported_results_version) {
    throw results_error("results version " + std::to_string(version) + " is newer than this stampede reads (" +
                        std::to_string(supported_results_version) + "); upgrade stampede");
  }
  r.version = static_cast<int>(version);

  if (const json::object* meta = optional_object(root, "meta", "results")) {
    r.stampede_version = get_string(*meta, "stampede_version", "meta");
    r.scenario = get_string(*meta, "scenario", "meta");
    r.target = get_string(*meta, "target", "meta");
    r.started_at = get_string(*meta, "started_at", "meta");
    r.start_unix_ms = get_int(*meta, "start_unix_ms", "meta");
    r.duration_s = get_double(*meta, "duration_s", "meta");
    r.threads = get_int(*meta, "threads", "meta");
    if (const json::value* seed = meta->if_contains("seed"); seed != nullptr && !seed->is_null()) {
      if (seed->is_uint64()) {
        r.seed = seed->get_uint64();
      } else if (seed->is_int64() && seed->get_int64() >= 0) {
        r.seed = static_cast<uint64_t>(seed->get_int64());
      } else {
        fail("meta.seed", "expected a non-negative integer");
      }
    }
    if (const json::object* env = optional_object(*meta, "env", "meta")) {
      for (const auto& kv : *env) r.env.emplace_back(std::string(kv.key()), get_string(*env, kv.key(), "meta.env"));
    }
    if (meta->contains("merged_shards")) r.merged_shards = get_int(*meta, "merged_shards", "meta");
    r.run_id = get_string(*meta, "run_id", "meta");  // absent in files written before run ids
    if (const json::array* from = optional_array(*meta, "merged_from", "meta")) {
      for (size_t i = 0; i < from->size(); ++i) {
        if (!(*from)[i].is_string()) throw results_error("meta.merged_from[" + std::to_string(i) + "]: expected a string");
        r.merged_from.emplace_back((*from)[i].get_string());
      }
    }
    if (const json::object* shard = optional_object(*meta, "shard", "meta")) {
      r.shard_index = get_int(*shard, "index", "meta.shard");
      r.shard_count = get_int(*shard, "count", "meta.shard", 1);
    }
    if (const json::object* gen = optional_object(*meta, "generator", "meta")) {
      r.saturated = get_bool(*gen, "saturated", "meta.generator");
      r.max_event_loop_lag_ms = get_double(*gen, "max_event_loop_lag_ms", "meta.generator");
      r.p99_event_loop_lag_ms = get_double(*gen, "p99_event_loop_lag_ms", "meta.generator");
    }
    if (const json::object* ab = optional_object(*meta, "aborted", "meta")) {
      r.aborted = abort_info{get_string(*ab, "reason", "meta.aborted", "aborted"),
                             get_string(*ab, "detail", "meta.aborted"), get_string(*ab, "phase", "meta.aborted")};
    }
  }

  const json::object* summary = optional_object(root, "summary", "results");
  if (summary == nullptr) throw results_error("results: \"summary\" is missing");
  r.summary = read_step(*summary, "summary");
  r.summary.kind = "summary";
  r.summary.name = "all requests";
  r.iterations = get_int(*summary, "iterations", "summary");
  r.dropped_iterations = get_int(*summary, "dropped_iterations", "summary");
  r.vus_max = get_int(*summary, "vus_max", "summary");
  r.data_sent_bytes = get_int(*summary, "data_sent_bytes", "summary");
  r.data_received_bytes = get_int(*summary, "data_received_bytes", "summary");

  if (const json::array* steps = optional_array(root, "steps", "results")) {
    r.steps.reserve(steps->size());
    for (size_t i = 0; i < steps->size(); ++i) {
      std::string where = "steps[" + std::to_string(i) + "]";
      r.steps.push_back(read_step(as_object((*steps)[i], where), where));
      if (r.steps.back().name.empty()) fail(where, "\"name\" is missing");
    }
  }
  if (const json::array* rows = optional_array(root, "timeseries", "results")) {
    r.timeseries.reserve(rows->size());
    for (size_t i = 0; i < rows->size(); ++i) {
      std::string where = "timeseries[" + std::to_string(i) + "]";
      const json::object& o = as_object((*rows)[i], where);
      timeseries_row row;
      row.t = get_int(o, "t", where);
      row.requests = get_int(o, "requests", where);
      row.errors = get_int(o, "errors", where);
      row.p50_ms = get_double(o, "p50_ms", where);
      row.p90_ms = get_double(o, "p90_ms", where);
      row.p99_ms = get_double(o, "p99_ms", where);
      row.max_ms = get_double(o, "max_ms", where);
      row.vus = get_int(o, "vus", where);
      row.iterations = get_int(o, "iterations", where);
      row.dropped_iterations = get_int(o, "dropped_iterations", where);
      row.errors_by_kind = read_counters(o, "errors_by_kind", where);
      if (o.contains("vus_max")) row.vus_max = get_int(o, "vus_max", where);
      if (o.contains("max_event_loop_lag_ms")) row.max_event_loop_lag_ms = get_double(o, "max_event_loop_lag_ms", where);
      if (row.t < 0 || row.t > 10'000'000) fail(where + ".t", "out of range");
      r.timeseries.push_back(std::move(row));
    }
  }
  if (const json::array* rows = optional_array(root, "intervals", "results")) {
    r.intervals.reserve(rows->size());
    for (size_t i = 0; i < rows->size(); ++i) {
      std::string where = "intervals[" + std::to_string(i) + "]";
      const json::object& o = as_object((*rows)[i], where);
      interval_row row;
      row.step = get_string(o, "step", where);
      row.t = get_int(o, "t", where);
      row.interval_s = get_double(o, "interval_s", where, 1.0);
      if (o.contains("requests")) row.requests = get_int(o, "requests", where);
      if (o.contains("errors")) row.errors = get_int(o, "errors", where);
      if (row.requests.value_or(0) < 0 || row.errors.value_or(0) < 0) fail(where, "negative count");
      row.histogram = get_string(o, "histogram", where);
      if (row.t < 0 || row.t > 10'000'000) fail(where + ".t", "out of range");
      if (row.interval_s <= 0) fail(where + ".interval_s", "must be positive");
      r.intervals.push_back(std::move(row));
    }
  }
  if (const json::array* rows = optional_array(root, "thresholds", "results")) {
    for (size_t i = 0; i < rows->size(); ++i) {
      std::string where = "thresholds[" + std::to_string(i) + "]";
      const json::object& o = as_object((*rows)[i], where);
      threshold_result t;
      t.metric = get_string(o, "metric", where);
      t.expression = get_string(o, "expression", where);
      if (const json::value* obs = o.if_contains("observed"); obs != nullptr && !obs->is_null()) {
        t.observed = get_double(o, "observed", where);
      }
      t.ok = get_bool(o, "ok", where, true);
      t.abort_on_fail = get_bool(o, "abort_on_fail", where);
      t.no_data = get_bool(o, "no_data", where);
      if (o.contains("re_evaluated")) t.re_evaluated = get_bool(o, "re_evaluated", where);
      r.thresholds.push_back(std::move(t));
    }
  }
  if (const json::array* rows = optional_array(root, "checks", "results")) {
    for (size_t i = 0; i < rows->size(); ++i) {
      std::string where = "checks[" + std::to_string(i) + "]";
      const json::object& o = as_object((*rows)[i], where);
      r.checks.push_back({get_string(o, "name", where), get_string(o, "group", where), get_int(o, "passes", where),
                          get_int(o, "fails", where)});
    }
  }
  if (const json::array* rows = optional_array(root, "metrics", "results")) {
    for (size_t i = 0; i < rows->size(); ++i) {
      std::string where = "metrics[" + std::to_string(i) + "]";
      const json::object& o = as_object((*rows)[i], where);
      metric_result m;
      m.name = get_string(o, "name", where);
      m.metric = get_string(o, "metric", where, m.name);
      m.type = get_string(o, "type", where);
      if (m.type != "trend" && m.type != "counter" && m.type != "rate" && m.type != "gauge") {
        fail(where + ".type", "expected trend, counter, rate or gauge");
      }
      m.samples = get_int(o, "samples", where);
      m.is_time = get_bool(o, "is_time", where);
      m.stats = read_latency(o, "stats", where);
      m.histogram = get_string(o, "histogram", where);
      m.count = get_double(o, "count", where);
      m.trues = get_int(o, "trues", where);
      m.rate = get_double(o, "rate", where);
      m.value = get_double(o, "value", where);
      m.min = get_double(o, "min", where);
      m.max = get_double(o, "max", where);
      m.last_unix_us = get_int(o, "last_unix_us", where);
      if (m.samples < 0 || m.trues < 0 || m.trues > m.samples) fail(where, "inconsistent counts");
      r.metrics.push_back(std::move(m));
    }
  }
  if (const json::array* rows = optional_array(root, "metric_intervals", "results")) {
    r.metric_intervals.reserve(rows->size());
    for (size_t i = 0; i < rows->size(); ++i) {
      std::string where = "metric_intervals[" + std::to_string(i) + "]";
      const json::object& o = as_object((*rows)[i], where);
      metric_interval m;
      m.name = get_string(o, "name", where);
      const auto of =
          std::find_if(r.metrics.begin(), r.metrics.end(), [&](const auto& x) { return x.name == m.name; });
      if (of == r.metrics.end()) fail(where + ".name", "\"" + m.name + "\" is not in metrics");
      m.type = of->type;
      m.t = get_int(o, "t", where);
      if (m.t < 0 || m.t > 10'000'000) fail(where + ".t", "out of range");
      m.samples = get_int(o, "samples", where);
      m.histogram = get_string(o, "histogram", where);
      m.count = get_double(o, "count", where);
      m.trues = get_int(o, "trues", where);
      m.value = get_double(o, "value", where);
      m.min = get_double(o, "min", where);
      m.max = get_double(o, "max", where);
      m.last_unix_us = get_int(o, "last_unix_us", where);
      if (m.samples < 0 || m.trues < 0 || m.trues > m.samples) fail(where, "inconsistent counts");
      r.metric_intervals.push_back(std::move(m));
    }
  }
  if (const json::array* rows = optional_array(root, "chaos", "results")) {
    for (size_t i = 0; i < rows->size(); ++i) {
      std::string where = "chaos[" + std::to_string(i) + "]";
      const json::object& o = as_object((*rows)[i], where);
      chaos_fault f;
      f.id = get_int(o, "id", where);
      f.fault = get_string(o, "fault", where);
      f.kind = get_string(o, "kind", where, "fault");
      f.target = get_string(o, "target", where);
      f.label = get_string(o, "label", where, get_string(o, "name", where));
      if (f.label.empty()) f.label = f.target.empty() ? f.kind : f.kind + " " + f.target;
      if (o.if_contains("start_s") == nullptr) fail(where, "\"start_s\" is missing");
      f.start_s = get_double(o, "start_s", where);
      if (const json::value* e = o.if_contains("end_s"); e != nullptr && !e->is_null()) {
        f.end_s = get_double(o, "end_s", where);
        if (*f.end_s < f.start_s) fail(where + ".end_s", "is before start_s");
      }
      if (const json::value* b = o.if_contains("back_s")) {
        f.back_tracked = true;
        if (!b->is_null()) f.back_s = get_double(o, "back_s", where);
      }
      if (o.contains("injections")) f.injections = get_int(o, "injections", where);
      f.error = get_string(o, "error", where);
      if (const json::object* p = optional_object(o, "parameters", where)) {
        if (const json::object* a = optional_object(*p, "attributes", where + ".parameters")) {
          f.http_status = static_cast<int>(get_int(*a, "status", where + ".parameters.attributes"));
        }
      }
      if (const json::object* rec = optional_object(o, "recovery", where)) {
        for (const auto& kv : *rec) {
          if (auto d = number_of(kv.value())) f.recovery_given.emplace_back(std::string(kv.key()), *d);
        }
      }
      r.chaos.push_back(std::move(f));
    }
  }
  read_plan(root, r);
  if (const json::value* verify = root.if_contains("verify"); verify != nullptr && !verify->is_null()) {
    r.has_verify = true;
    const json::array* list = nullptr;
    if (verify->is_array()) {
      list = &verify->get_array();
    } else {
      const json::object& vo = as_object(*verify, "verify");
      if (const json::value* ok = vo.if_contains("ok"); ok != nullptr && ok->is_bool()) r.verify_ok = ok->get_bool();
      list = optional_array(vo, "invariants", "verify");
    }
    if (list != nullptr) {
      for (size_t i = 0; i < list->size(); ++i) {
        std::string where = "verify.invariants[" + std::to_string(i) + "]";
        const json::object& o = as_object((*list)[i], where);
        invariant_result inv;
        inv.name = get_string(o, "name", where);
        if (const json::value* ok = o.if_contains("ok"); ok != nullptr && ok->is_bool()) inv.ok = ok->get_bool();
        if (const json::value* d = o.if_contains("detail"); d != nullptr && d->is_string()) {
          inv.detail = std::string(d->get_string());
        }
        r.invariants.push_back(std::move(inv));
      }
    }
  }
  r.document = std::move(document);
  return r;
}

run_results load_results(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw results_error(path + ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw results_error(path + ": read error");
  try {
    return parse_results(buffer.view());
  } catch (const results_error& e) {
    throw results_error(path + ": " + e.what());
  }
}

}  // namespace stampede::results
