#include "synthetic_results.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <boost/json/serialize.hpp>

#include "common/hdr_histogram.h"

namespace stampede::reports::testing {

namespace json = boost::json;

namespace {

// Box-Muller on mt19937_64's raw output: the same numbers on every standard library (golden files).
struct normal_source {
  std::mt19937_64 rng;
  explicit normal_source(uint64_t seed) : rng(seed) {}
  double uniform() { return (static_cast<double>(rng() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  double next() {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

json::object stats(const hdr_histogram& h) {
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

struct acc {
  hdr_histogram corrected, uncorrected;
  int64_t requests = 0, errors = 0;
  std::map<std::string, int64_t> kinds;
  std::map<std::string, int64_t> classes{{"2xx", 0}, {"4xx", 0}, {"5xx", 0}};

  void add(const synthetic_request& r) {
    corrected.record(r.latency_us);
    uncorrected.record(r.uncorrected_us);
    ++requests;
    if (!r.error_kind.empty()) {
      ++errors;
      ++kinds[r.error_kind];
    }
    if (r.error_kind.empty()) ++classes["2xx"];
    else if (r.error_kind == "status_5xx") ++classes["5xx"];
    else if (r.error_kind == "status_4xx") ++classes["4xx"];
  }

  json::object to_json(double duration, std::string_view name, std::string_view kind) const {
    json::object o;
    if (!name.empty()) {
      o["name"] = name;
      o["kind"] = kind;
    }
    o["requests"] = requests;
    o["rps"] = static_cast<double>(requests) / duration;
    o["errors"] = errors;
    o["error_rate"] = requests > 0 ? static_cast<double>(errors) / static_cast<double>(requests) : 0.0;
    o["latency_ms"] = stats(corrected);
    o["uncorrected_latency_ms"] = stats(uncorrected);
    o["histogram"] = corrected.encode_compressed_base64();
    o["uncorrected_histogram"] = uncorrected.encode_compressed_base64();
    json::object classes_json, kinds_json;
    for (const auto& [k, v] : classes) classes_json[k] = v;
    for (const char* k : {"connect_refused", "connect_timeout", "reset", "read_timeout", "malformed_response",
                          "status_4xx", "status_5xx", "check_failed", "tls", "other"}) {
      auto it = kinds.find(k);
      kinds_json[k] = it == kinds.end() ? 0 : it->second;
    }
    o["status_classes"] = std::move(classes_json);
    o["errors_by_kind"] = std::move(kinds_json);
    return o;
  }
};

}  // namespace

synthetic_run lognormal_run(uint64_t seed, double duration_s, double rps_per_step, std::vector<std::string> steps,
                            double median_ms, double sigma, double scale) {
  synthetic_run run;
  run.duration_s = duration_s;
  run.steps = steps;
  normal_source normal(seed);
  auto per_step = static_cast<int64_t>(duration_s * rps_per_step);
  for (int64_t i = 0; i < per_step; ++i) {
    double t = static_cast<double>(i) / rps_per_step;
    for (const auto& step : steps) {
      double ms = median_ms * std::exp(sigma * normal.next()) * scale;
      auto us = std::max<int64_t>(1, static_cast<int64_t>(ms * 1000.0));
      run.requests.push_back({step, t, us, std::max<int64_t>(1, us * 4 / 5), ""});
    }
  }
  return run;
}

synthetic_run game_day_run(uint64_t seed) {
  synthetic_run run = lognormal_run(seed, 60, 50, {"GET /api/products/{id}", "POST /api/cart"}, 12, 0.4);
  run.scenario = "scenarios/game_day.lua";
  run.group_steps = {"::checkout"};
  uint64_t n = 0;
  for (auto& r : run.requests) {
    ++n;
    if (r.t_s >= 20 && r.t_s < 30) {
      r.latency_us *= 10;
      r.uncorrected_us *= 6;
      if (n % 3 == 0) r.error_kind = "status_5xx";
      if (n % 17 == 0) r.error_kind = "read_timeout";
    } else if (r.t_s >= 30 && r.t_s < 33) {
      r.latency_us *= 3;
    }
  }
  run.faults.push_back({"latency", "shop-node-1", "latency +200ms shop-node-1", 20.0, 30.0});
  run.thresholds.push_back({"http_req_duration", "p(99)<2500", 1200.0, true});
  run.thresholds.push_back({"http_req_failed", "rate<0.01", 0.06, false});
  run.verify = json::object{
      {"ok", true},
      {"invariants", json::array{json::object{{"name", "acknowledged orders lost"}, {"ok", true}, {"detail", "0 of 412 lost"}},
                                 json::object{{"name", "inventory oversold"}, {"ok", true}, {"detail", "0 SKUs"}}}}};
  return run;
}

json::value build_results(const synthetic_run& run) {
  double duration = run.duration_s;
  for (const auto& r : run.requests) duration = std::max(duration, r.t_s);
  if (duration <= 0) duration = 1;
  auto seconds = static_cast<int64_t>(std::ceil(duration));

  acc summary;
  std::map<std::string, acc> steps;
  // Latencies, not a histogram, per (step, second): an hour of 20 steps is 72,000 intervals, and as many
  // live histograms (~190 KB each at 1 us..1 h, 3 digits) took 13 GB. Each becomes a histogram when written.
  struct interval_acc {
    std::vector<int64_t> latencies_us;
    int64_t errors = 0;
    void add(const synthetic_request& r) {
      latencies_us.push_back(r.latency_us);
      if (!r.error_kind.empty()) ++errors;
    }
  };
  std::map<std::pair<std::string, int64_t>, interval_acc> intervals;
  struct second_acc {  // per second: latencies, turned into a histogram when the row is written
    std::vector<int64_t> latencies_us;
    int64_t errors = 0;
    std::map<std::string, int64_t> kinds;
    void add(const synthetic_request& r) {
      latencies_us.push_back(r.latency_us);
      if (!r.error_kind.empty()) {
        ++errors;
        ++kinds[r.error_kind];
      }
    }
  };
  std::vector<second_acc> per_second(static_cast<size_t>(seconds));
  for (const auto& r : run.requests) {
    auto t = std::min<int64_t>(seconds - 1, static_cast<int64_t>(std::floor(r.t_s)));
    summary.add(r);
    steps[r.step].add(r);
    intervals[{r.step, t}].add(r);
    for (const auto& g : run.group_steps) {
      steps[g].add(r);
      intervals[{g, t}].add(r);
    }
    per_second[static_cast<size_t>(t)].add(r);
  }

  json::object doc;
  doc["schema"] = "stampede-results";
  doc["version"] = 1;
  doc["meta"] = json::object{
      {"stampede_version", "0.1.0"},
      {"scenario", run.scenario},
      {"target", "http://127.0.0.1:8080"},
      {"started_at", "2026-11-22T06:40:00.000Z"},
      {"start_unix_ms", run.start_unix_ms},
      {"duration_s", duration},
      {"threads", 2},
      {"seed", 1},
      {"shard", json::object{{"index", run.shard_index}, {"count", run.shard_count}}},
      {"env", json::object{}},
      {"generator", json::object{{"saturated", false}, {"max_event_loop_lag_ms", 0.5}, {"p99_event_loop_lag_ms", 0.1}}},
      {"aborted", nullptr}};
  json::object s = summary.to_json(duration, "", "");
  s["iterations"] = summary.requests;
  s["dropped_iterations"] = 0;
  s["vus_max"] = run.vus;
  s["data_sent_bytes"] = summary.requests * 100;
  s["data_received_bytes"] = summary.requests * 1000;
  if (!run.run_id.empty()) doc["meta"].as_object()["run_id"] = run.run_id;
  doc["summary"] = std::move(s);
  json::array steps_json;
  for (const auto& name : run.steps) {
    auto it = steps.find(name);
    if (it != steps.end()) steps_json.push_back(it->second.to_json(duration, name, "request"));
  }
  for (const auto& name : run.group_steps) {
    auto it = steps.find(name);
    if (it != steps.end()) steps_json.push_back(it->second.to_json(duration, name, "group"));
  }
  doc["steps"] = std::move(steps_json);
  json::array ts;
  for (int64_t t = 0; t < seconds; ++t) {
    const second_acc& a = per_second[static_cast<size_t>(t)];
    hdr_histogram corrected;
    for (int64_t v : a.latencies_us) corrected.record(v);
    const auto requests = static_cast<int64_t>(a.latencies_us.size());
    json::object kinds;
    for (const auto& [k, v] : a.kinds) kinds[k] = v;
    auto ms = [](int64_t us) { return static_cast<double>(us) / 1000.0; };
    ts.push_back(json::object{{"t", t},
                              {"requests", requests},
                              {"errors", a.errors},
                              {"p50_ms", ms(corrected.value_at_percentile(50))},
                              {"p90_ms", ms(corrected.value_at_percentile(90))},
                              {"p99_ms", ms(corrected.value_at_percentile(99))},
                              {"max_ms", ms(corrected.max())},
                              {"vus", run.vus},
                              {"iterations", requests},
                              {"dropped_iterations", 0},
                              {"errors_by_kind", std::move(kinds)}});
  }
  doc["timeseries"] = std::move(ts);
  // Second by second, steps in document order.
  std::vector<std::string> order = run.steps;
  order.insert(order.end(), run.group_steps.begin(), run.group_steps.end());
  json::array iv;
  for (int64_t t = 0; t < seconds; ++t) {
    for (const auto& name : order) {
      auto it = intervals.find({name, t});
      if (it == intervals.end()) continue;
      hdr_histogram corrected;
      for (int64_t v : it->second.latencies_us) corrected.record(v);
      iv.push_back(json::object{{"step", name},
                                {"t", t},
                                {"interval_s", 1.0},
                                {"requests", static_cast<int64_t>(it->second.latencies_us.size())},
                                {"errors", it->second.errors},
                                {"histogram", corrected.encode_compressed_base64()}});
    }
  }
  doc["intervals"] = std::move(iv);
  json::array th;
  for (const auto& t : run.thresholds) {
    th.push_back(json::object{{"metric", t.metric},
                              {"expression", t.expression},
                              {"observed", t.observed ? json::value(*t.observed) : json::value(nullptr)},
                              {"ok", t.ok},
                              {"abort_on_fail", false}});
  }
  doc["thresholds"] = std::move(th);
  doc["checks"] = json::array{json::object{{"name", "status is 200"}, {"group", ""}, {"passes", summary.requests - summary.errors}, {"fails", summary.errors}}};
  doc["scenarios"] = json::array{json::object{{"name", "default"}, {"executor", "constant-arrival-rate"},
                                              {"iterations", summary.requests}, {"dropped_iterations", 0},
                                              {"vus_max", run.vus}, {"start_s", 0.0}, {"end_s", duration}}};
  json::array chaos;
  for (const auto& f : run.faults) {
    chaos.push_back(json::object{{"kind", f.kind},
                                 {"target", f.target},
                                 {"label", f.label},
                                 {"start_s", f.start_s},
                                 {"end_s", f.end_s ? json::value(*f.end_s) : json::value(nullptr)}});
  }
  doc["chaos"] = std::move(chaos);
  doc["verify"] = run.verify ? *run.verify : json::value(nullptr);
  doc["capacity"] = nullptr;
  return doc;
}

std::string build_results_text(const synthetic_run& run) { return json::serialize(build_results(run)); }

}  // namespace stampede::reports::testing
