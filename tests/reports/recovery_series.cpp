#include "recovery_series.h"

#include <cmath>

#include "common/hdr_histogram.h"
#include "results/schema.h"

namespace stampede::reports::testing {

namespace json = boost::json;

namespace {

json::object scenario(const std::string& name, const char* executor, double start, double end,
                      const char* unit, double level, const char* ends) {
  return json::object{
      {"name", name},
      {"executor", executor},
      {"iterations", 0},
      {"dropped_iterations", 0},
      {"vus_max", 0},
      {"start_s", start},
      {"end_s", end},
      {"load", json::object{{"unit", unit},
                            {"points", json::array{json::array{start, level}, json::array{end, level}}},
                            {"ends", ends}}}};
}

}  // namespace

json::object closed_scenario(const std::string& name, double start, double end, double vus) {
  return scenario(name, "constant-vus", start, end, "vus", vus, "planned");
}

json::object open_scenario(const std::string& name, double start, double end, double rate) {
  return scenario(name, "constant-arrival-rate", start, end, "arrivals_per_s", rate, "planned");
}

json::object spike_scenario(const std::string& name, double start, double latest_end, double vus) {
  return scenario(name, "per-vu-iterations", start, latest_end, "vus", vus, "when_done");
}

series_builder::series_builder(uint64_t seed, double duration_s) : rng_(seed) {
  run_.duration_s = duration_s;
  run_.seconds.resize(static_cast<size_t>(std::ceil(duration_s)));
}

series_builder& series_builder::traffic(double from_s, double to_s, double rate, double median_ms,
                                        double add_ms, bool periodic) {
  std::exponential_distribution<double> gap(rate);
  std::lognormal_distribution<double> latency(std::log(median_ms), 0.5);
  for (double t = from_s + (periodic ? 0.5 / rate : gap(rng_)); t < to_s;
       t += periodic ? 1.0 / rate : gap(rng_)) {
    const double ms = latency(rng_) + add_ms;
    const double end = t + ms / 1000.0;
    const auto second = static_cast<size_t>(std::floor(end));
    if (second >= run_.seconds.size()) continue;  // ended after the run: never recorded
    run_.seconds[second].latencies_us.push_back(std::max<int64_t>(1, std::llround(ms * 1000.0)));
  }
  return *this;
}

series_builder& series_builder::errors(int64_t t, const std::string& kind, int64_t count) {
  auto& s = run_.seconds[static_cast<size_t>(t)];
  s.errors[kind] += count;
  for (int64_t i = 0; i < count; ++i) s.latencies_us.push_back(1000);
  return *this;
}

series_builder& series_builder::vus(int64_t from_t, int64_t to_t, int64_t vus) {
  for (int64_t t = from_t; t < to_t; ++t) run_.seconds[static_cast<size_t>(t)].vus = vus;
  return *this;
}

series_builder& series_builder::dropped(int64_t from_t, int64_t to_t, int64_t per_second) {
  for (int64_t t = from_t; t < to_t; ++t) run_.seconds[static_cast<size_t>(t)].dropped = per_second;
  return *this;
}

json::value build_series_results(const series_run& run) {
  static constexpr const char* kinds[] = {
      "connect_refused", "connect_timeout", "reset",        "read_timeout", "malformed_response", "tls",
      "status_4xx",      "status_5xx",      "check_failed", "other"};
  const std::string step = "GET /x";
  hdr_histogram all;
  int64_t requests = 0, errors = 0;
  json::array timeseries, intervals;
  for (size_t t = 0; t < run.seconds.size(); ++t) {
    const series_second& s = run.seconds[t];
    hdr_histogram h;
    for (int64_t v : s.latencies_us) h.record(v);
    all.add(h);
    int64_t e = 0;
    json::object by_kind;
    for (const char* k : kinds) {
      auto it = s.errors.find(k);
      by_kind[k] = it == s.errors.end() ? 0 : it->second;
      e += it == s.errors.end() ? 0 : it->second;
    }
    const auto n = static_cast<int64_t>(s.latencies_us.size());
    requests += n;
    errors += e;
    auto ms = [](int64_t us) { return static_cast<double>(us) / 1000.0; };
    timeseries.push_back(json::object{{"t", static_cast<int64_t>(t)},
                                      {"requests", n},
                                      {"errors", e},
                                      {"p50_ms", ms(h.value_at_percentile(50))},
                                      {"p90_ms", ms(h.value_at_percentile(90))},
                                      {"p99_ms", ms(h.value_at_percentile(99))},
                                      {"max_ms", ms(h.max())},
                                      {"vus", s.vus},
                                      {"iterations", n},
                                      {"dropped_iterations", s.dropped},
                                      {"errors_by_kind", std::move(by_kind)}});
    if (n > 0) {
      intervals.push_back(json::object{{"step", step},
                                       {"t", static_cast<int64_t>(t)},
                                       {"interval_s", 1.0},
                                       {"requests", n},
                                       {"errors", e},
                                       {"histogram", h.encode_compressed_base64()}});
    }
  }
  json::array chaos;
  for (const auto& f : run.faults) {
    json::object o{
        {"id", f.id},
        {"label", f.label.empty() ? f.fault + " " + f.target : f.label},
        {"kind", f.kind},
        {"fault", f.fault},
        {"target", f.target},
        {"planned_start_s", f.start_s},
        {"start_s", f.start_s},
        {"end_s", f.end_s ? json::value(*f.end_s) : json::value(nullptr)},
        {"parameters", f.http_status > 0
                           ? json::value(json::object{
                                 {"type", f.fault}, {"attributes", json::object{{"status", f.http_status}}}})
                           : json::value(json::object{})}};
    if (f.injections) o["injections"] = *f.injections;
    if (f.back_tracked) o["back_s"] = f.back_s ? json::value(*f.back_s) : json::value(nullptr);
    if (!f.error.empty()) o["error"] = f.error;
    chaos.push_back(std::move(o));
  }
  json::object root{
      {"schema", results::schema_name},
      {"version", results::schema_version},
      {"meta", json::object{{"scenario", "recorded.lua"}, {"duration_s", run.duration_s}, {"threads", 1}}},
      {"summary",
       json::object{
           {"requests", requests}, {"errors", errors}, {"histogram", all.encode_compressed_base64()}}},
      {"steps", json::array{json::object{{"name", step}, {"kind", "request"}, {"requests", requests}}}},
      {"timeseries", std::move(timeseries)},
      {"intervals", std::move(intervals)},
      {"scenarios", run.scenarios},
      {"chaos", std::move(chaos)},
      {"verify", nullptr}};
  if (!run.recovery_options.is_null()) root["recovery_options"] = run.recovery_options;
  if (!run.drill.is_null()) root["drill"] = run.drill;
  return root;
}

}  // namespace stampede::reports::testing
