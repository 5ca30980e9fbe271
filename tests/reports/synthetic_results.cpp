#include "synthetic_results.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <boost/json/serialize.hpp>

#include "common/hdr_histogram.h"
#include "results/model.h"

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

  results::step_result to_model(double duration, std::string_view name, std::string_view kind) const {
    results::step_result o;
    o.name = name;
    o.kind = kind;
    o.requests = requests;
    o.rps = static_cast<double>(requests) / duration;
    o.errors = errors;
    o.error_rate = requests > 0 ? static_cast<double>(errors) / static_cast<double>(requests) : 0.0;
    o.latency = results::latency_stats::of(corrected);
    o.uncorrected = results::latency_stats::of(uncorrected);
    o.histogram = corrected.encode_compressed_base64();
    o.uncorrected_histogram = uncorrected.encode_compressed_base64();
    o.status_classes.assign(classes.begin(), classes.end());
    for (const char* k : {"connect_refused", "connect_timeout", "reset", "read_timeout", "malformed_response",
                          "status_4xx", "status_5xx", "check_failed", "tls", "other"}) {
      auto it = kinds.find(k);
      o.errors_by_kind.emplace_back(k, it == kinds.end() ? 0 : it->second);
    }
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

  results::run_results doc;
  doc.stampede_version = "0.1.0";
  doc.scenario = run.scenario;
  doc.target = "http://127.0.0.1:8080";
  doc.started_at = "2026-11-22T06:40:00.000Z";
  doc.start_unix_ms = run.start_unix_ms;
  doc.duration_s = duration;
  doc.threads = 2;
  doc.seed = 1;
  doc.shard_index = run.shard_index;
  doc.shard_count = run.shard_count;
  doc.run_id = run.run_id;
  doc.max_event_loop_lag_ms = 0.5;
  doc.p99_event_loop_lag_ms = 0.1;
  doc.summary = summary.to_model(duration, "", "summary");
  doc.iterations = summary.requests;
  doc.vus_max = run.vus;
  doc.data_sent_bytes = summary.requests * 100;
  doc.data_received_bytes = summary.requests * 1000;
  for (const auto& name : run.steps) {
    auto it = steps.find(name);
    if (it != steps.end()) doc.steps.push_back(it->second.to_model(duration, name, "request"));
  }
  for (const auto& name : run.group_steps) {
    auto it = steps.find(name);
    if (it != steps.end()) doc.steps.push_back(it->second.to_model(duration, name, "group"));
  }
  for (int64_t t = 0; t < seconds; ++t) {
    const second_acc& a = per_second[static_cast<size_t>(t)];
    hdr_histogram corrected;
    for (int64_t v : a.latencies_us) corrected.record(v);
    const auto requests = static_cast<int64_t>(a.latencies_us.size());
    auto ms = [](int64_t us) { return static_cast<double>(us) / 1000.0; };
    doc.timeseries.push_back({t, requests, a.errors, ms(corrected.value_at_percentile(50)),
                              ms(corrected.value_at_percentile(90)), ms(corrected.value_at_percentile(99)),
                              ms(corrected.max()), run.vus, requests, 0,
                              results::counters(a.kinds.begin(), a.kinds.end()),
                              /*vus_max=*/std::nullopt, /*max_event_loop_lag_ms=*/std::nullopt});
  }
  // Second by second, steps in document order.
  std::vector<std::string> order = run.steps;
  order.insert(order.end(), run.group_steps.begin(), run.group_steps.end());
  for (int64_t t = 0; t < seconds; ++t) {
    for (const auto& name : order) {
      auto it = intervals.find({name, t});
      if (it == intervals.end()) continue;
      hdr_histogram corrected;
      for (int64_t v : it->second.latencies_us) corrected.record(v);
      doc.intervals.push_back({name, t, 1.0, static_cast<int64_t>(it->second.latencies_us.size()),
                               it->second.errors, corrected.encode_compressed_base64()});
    }
  }
  for (const auto& t : run.thresholds) {
    results::threshold_result verdict;
    verdict.metric = t.metric;
    verdict.expression = t.expression;
    verdict.observed = t.observed;
    verdict.ok = t.ok;
    doc.thresholds.push_back(std::move(verdict));
  }
  doc.checks = {{"status is 200", "", summary.requests - summary.errors, summary.errors}};
  json::object rest;  // the sections the model carries as they are
  rest["scenarios"] = json::array{json::object{{"name", "default"}, {"executor", "constant-arrival-rate"},
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
  rest["chaos"] = std::move(chaos);
  rest["verify"] = run.verify ? *run.verify : json::value(nullptr);
  rest["capacity"] = nullptr;
  doc.document = std::move(rest);
  return results::encode(doc);
}

std::string build_results_text(const synthetic_run& run) { return json::serialize(build_results(run)); }

}  // namespace stampede::reports::testing
