// The results file (docs/RESULTS.md): every documented key with its type, histograms that decode to
// the counts they summarise, one time-series row per second, and the threshold entries.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/hdr_histogram.h"
#include "common/version.h"
#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::scenario;
using test::temp_dir;

enum class type { integer, number, string, boolean, null, object, array };

bool has_type(const json::value& v, type t) {
  switch (t) {
    case type::integer:
      return v.is_int64() || v.is_uint64();
    case type::number:
      return v.is_number();
    case type::string:
      return v.is_string();
    case type::boolean:
      return v.is_bool();
    case type::null:
      return v.is_null();
    case type::object:
      return v.is_object();
    case type::array:
      return v.is_array();
  }
  return false;
}

void expect_keys(const json::object& o, std::initializer_list<std::pair<const char*, type>> keys,
                 const std::string& where) {
  for (const auto& [key, t] : keys) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) {
      ADD_FAILURE() << where << "." << key << " is missing";
      continue;
    }
    EXPECT_TRUE(has_type(*v, t)) << where << "." << key << " has the wrong type: " << json::serialize(*v);
  }
}

void expect_latency(const json::value& v, const std::string& where) {
  ASSERT_TRUE(v.is_object()) << where;
  const auto& o = v.as_object();
  expect_keys(o,
              {{"min", type::number},
               {"mean", type::number},
               {"p50", type::number},
               {"p90", type::number},
               {"p95", type::number},
               {"p99", type::number},
               {"p999", type::number},
               {"max", type::number}},
              where);
  double previous = 0;
  for (const char* key : {"min", "p50", "p90", "p95", "p99", "p999", "max"}) {
    const double value = o.at(key).to_number<double>();
    EXPECT_GE(value, previous) << where << "." << key << " is below the previous percentile";
    previous = value;
  }
  EXPECT_GE(o.at("mean").to_number<double>(), o.at("min").to_number<double>()) << where;
  EXPECT_LE(o.at("mean").to_number<double>(), o.at("max").to_number<double>()) << where;
}

// Decodes a base64 histogram; returns its total count (-1 if it does not decode).
int64_t histogram_total(const json::value& v) {
  if (!v.is_string()) return -1;
  auto h = hdr_histogram::decode_base64(std::string_view(v.as_string()));
  return h ? h->total_count() : -1;
}

// "2026-11-22T06:40:00.123Z"
bool is_iso_utc_millis(std::string_view text) {
  constexpr std::string_view pattern = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != pattern.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool ok = pattern[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == pattern[i];
    if (!ok) return false;
  }
  return true;
}

constexpr const char* error_kinds[] = {
    "connect_refused", "connect_timeout", "reset",      "read_timeout", "malformed_response", "tls",
    "body_truncated",  "status_4xx",      "status_5xx", "check_failed", "other"};

// One run serves every check below (a test per part would repeat the 2.5 s load).
testing::test_server* server_ = nullptr;
const run_result* result_ = nullptr;
int64_t before_ms_ = 0;
const json::object& root() { return result_->root(); }

void top_level_keys() {
  expect_keys(root(),
              {{"schema", type::string},
               {"version", type::integer},
               {"meta", type::object},
               {"summary", type::object},
               {"steps", type::array},
               {"timeseries", type::array},
               {"intervals", type::array},
               {"thresholds", type::array},
               {"checks", type::array},
               {"scenarios", type::array},
               {"recovery_options", type::object},
               {"chaos", type::array},
               {"script_interruptions", type::array},
               {"verify", type::null},
               {"capacity", type::null}},
              "root");
  EXPECT_EQ(root().at("schema").as_string(), "stampede-results");
  EXPECT_EQ(root().at("version").to_number<int64_t>(), 1);
  EXPECT_TRUE(root().at("chaos").as_array().empty());
  EXPECT_TRUE(root().at("script_interruptions").as_array().empty());  // every script yielded
}

void meta() {
  const auto& meta = root().at("meta").as_object();
  expect_keys(meta,
              {{"stampede_version", type::string},
               {"scenario", type::string},
               {"target", type::string},
               {"started_at", type::string},
               {"start_unix_ms", type::integer},
               {"duration_s", type::number},
               {"threads", type::integer},
               {"seed", type::integer},
               {"shard", type::object},
               {"env", type::object},
               {"generator", type::object},
               {"aborted", type::null}},
              "meta");
  EXPECT_EQ(meta.at("stampede_version").as_string(), stampede::version);  // the generated one, no literal
  EXPECT_EQ(meta.at("scenario").as_string(), scenario("results.lua"));
  EXPECT_EQ(meta.at("target").as_string(), server_->base_url());
  EXPECT_TRUE(is_iso_utc_millis(meta.at("started_at").as_string())) << meta.at("started_at");
  const int64_t start_ms = meta.at("start_unix_ms").to_number<int64_t>();
  EXPECT_GE(start_ms, before_ms_);
  EXPECT_LT(start_ms, before_ms_ + 10'000);
  const double duration = meta.at("duration_s").to_number<double>();
  EXPECT_GE(duration, 2.5);
  EXPECT_LT(duration, 4.0);
  EXPECT_EQ(meta.at("threads").to_number<int64_t>(), 2);
  EXPECT_EQ(meta.at("seed").to_number<int64_t>(), 5);
  EXPECT_EQ(meta.at("shard").at("index").to_number<int64_t>(), 0);
  EXPECT_EQ(meta.at("shard").at("count").to_number<int64_t>(), 1);
  EXPECT_EQ(meta.at("env").at("KEY").as_string(), "VALUE");
  expect_keys(meta.at("generator").as_object(),
              {{"saturated", type::boolean},
               {"max_event_loop_lag_ms", type::number},
               {"p99_event_loop_lag_ms", type::number}},
              "meta.generator");
}

void summary() {
  const auto& s = root().at("summary").as_object();
  expect_keys(s,
              {{"requests", type::integer},
               {"rps", type::number},
               {"errors", type::integer},
               {"error_rate", type::number},
               {"iterations", type::integer},
               {"dropped_iterations", type::integer},
               {"vus_max", type::integer},
               {"data_sent_bytes", type::integer},
               {"data_received_bytes", type::integer},
               {"latency_ms", type::object},
               {"uncorrected_latency_ms", type::object},
               {"histogram", type::string},
               {"uncorrected_histogram", type::string},
               {"status_classes", type::object},
               {"errors_by_kind", type::object}},
              "summary");
  // 50/s for 2.5 s, two requests per iteration, one of them a 404.
  EXPECT_EQ(s.at("iterations").to_number<int64_t>(), 125);
  EXPECT_EQ(s.at("dropped_iterations").to_number<int64_t>(), 0);
  EXPECT_EQ(s.at("requests").to_number<int64_t>(), 250);
  EXPECT_EQ(s.at("errors").to_number<int64_t>(), 125);
  EXPECT_DOUBLE_EQ(s.at("error_rate").to_number<double>(), 0.5);
  const double duration = root().at("meta").at("duration_s").to_number<double>();
  EXPECT_NEAR(s.at("rps").to_number<double>(), 250 / duration, 1e-6);
  EXPECT_GT(s.at("data_sent_bytes").to_number<int64_t>(), 250 * 40);
  EXPECT_GT(s.at("data_received_bytes").to_number<int64_t>(), 125 * 300);
  EXPECT_GE(s.at("vus_max").to_number<int64_t>(), 5);
  EXPECT_LE(s.at("vus_max").to_number<int64_t>(), 20);
  expect_latency(s.at("latency_ms"), "summary.latency_ms");
  expect_latency(s.at("uncorrected_latency_ms"), "summary.uncorrected_latency_ms");
  EXPECT_EQ(histogram_total(s.at("histogram")), 250);
  EXPECT_EQ(histogram_total(s.at("uncorrected_histogram")), 250);
  EXPECT_EQ(s.at("status_classes").at("2xx").to_number<int64_t>(), 125);
  EXPECT_EQ(s.at("status_classes").at("4xx").to_number<int64_t>(), 125);
  const auto& errors = s.at("errors_by_kind").as_object();
  for (const char* kind : error_kinds) {
    ASSERT_TRUE(errors.contains(kind)) << kind;
    EXPECT_TRUE(errors.at(kind).is_int64()) << kind;
  }
  EXPECT_EQ(errors.at("status_4xx").to_number<int64_t>(), 125);
  EXPECT_EQ(errors.at("check_failed").to_number<int64_t>(), 0);
}

void steps() {
  const auto& steps = root().at("steps").as_array();
  ASSERT_EQ(steps.size(), 3u);
  // Requests first, then groups.
  EXPECT_EQ(steps[0].at("kind").as_string(), "request");
  EXPECT_EQ(steps[1].at("kind").as_string(), "request");
  EXPECT_EQ(steps[2].at("kind").as_string(), "group");
  EXPECT_EQ(steps[2].at("name").as_string(), "::browse");
  for (const auto& v : steps) {
    const auto& step = v.as_object();
    const std::string where = "steps[" + std::string(step.at("name").as_string()) + "]";
    expect_keys(step,
                {{"name", type::string},
                 {"kind", type::string},
                 {"requests", type::integer},
                 {"rps", type::number},
                 {"errors", type::integer},
                 {"error_rate", type::number},
                 {"latency_ms", type::object},
                 {"uncorrected_latency_ms", type::object},
                 {"histogram", type::string},
                 {"uncorrected_histogram", type::string}},
                where);
    EXPECT_EQ(step.at("requests").to_number<int64_t>(), 125) << where;
    EXPECT_EQ(histogram_total(step.at("histogram")), 125) << where;
    EXPECT_EQ(histogram_total(step.at("uncorrected_histogram")), 125) << where;
    expect_latency(step.at("latency_ms"), where + ".latency_ms");
    if (step.at("kind").as_string() != "request") continue;
    expect_keys(
        step,
        {{"status_classes", type::object}, {"errors_by_kind", type::object}, {"timings_ms", type::object}},
        where);
    for (const char* phase : {"blocked", "connect", "send", "wait", "receive"}) {
      const auto* t = step.at("timings_ms").as_object().if_contains(phase);
      ASSERT_NE(t, nullptr) << where << " timings_ms." << phase;
      expect_keys(t->as_object(), {{"mean", type::number}, {"p99", type::number}},
                  where + ".timings_ms." + phase);
    }
  }
  const auto* missing = result_->step("missing");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->at("errors").to_number<int64_t>(), 125);
  EXPECT_DOUBLE_EQ(missing->at("error_rate").to_number<double>(), 1.0);
  EXPECT_EQ(missing->at("status_classes").at("4xx").to_number<int64_t>(), 125);
  const auto* json_step = result_->step("GET /json");
  ASSERT_NE(json_step, nullptr);
  EXPECT_EQ(json_step->at("errors").to_number<int64_t>(), 0);
  EXPECT_EQ(json_step->at("status_classes").at("2xx").to_number<int64_t>(), 125);
  // A group lasts at least as long as the request inside it.
  EXPECT_GE(result_->step("::browse")->at("uncorrected_latency_ms").at("max").to_number<double>(),
            json_step->at("uncorrected_latency_ms").at("min").to_number<double>());
}

void timeseries_has_one_row_per_second_adding_up_to_the_totals() {
  const auto& rows = root().at("timeseries").as_array();
  ASSERT_GE(rows.size(), 3u);  // t = 0, 1, 2 (2.5 s of load)
  ASSERT_LE(rows.size(), 4u);
  int64_t requests = 0, errors = 0, iterations = 0, dropped = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i].as_object();
    const std::string where = "timeseries[" + std::to_string(i) + "]";
    expect_keys(row,
                {{"t", type::integer},
                 {"requests", type::integer},
                 {"errors", type::integer},
                 {"p50_ms", type::number},
                 {"p90_ms", type::number},
                 {"p99_ms", type::number},
                 {"max_ms", type::number},
                 {"vus", type::integer},
                 {"iterations", type::integer},
                 {"dropped_iterations", type::integer},
                 {"errors_by_kind", type::object}},
                where);
    EXPECT_EQ(row.at("t").to_number<int64_t>(), static_cast<int64_t>(i)) << "rows are consecutive seconds";
    EXPECT_LE(row.at("p50_ms").to_number<double>(), row.at("p99_ms").to_number<double>()) << where;
    EXPECT_LE(row.at("p99_ms").to_number<double>(), row.at("max_ms").to_number<double>()) << where;
    requests += row.at("requests").to_number<int64_t>();
    errors += row.at("errors").to_number<int64_t>();
    iterations += row.at("iterations").to_number<int64_t>();
    dropped += row.at("dropped_iterations").to_number<int64_t>();
  }
  EXPECT_EQ(requests, result_->summary_int("requests"));
  EXPECT_EQ(errors, result_->summary_int("errors"));
  EXPECT_EQ(iterations, result_->summary_int("iterations"));
  EXPECT_EQ(dropped, 0);
  // Full seconds of a 50/s schedule hold about 50 iterations (100 requests).
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(static_cast<double>(rows[i].at("iterations").to_number<int64_t>()), 50, 3) << "second " << i;
  }
}

void intervals_decode_and_add_up_per_step() {
  std::map<std::string, int64_t> totals, requests, errors;
  for (const auto& v : root().at("intervals").as_array()) {
    const auto& interval = v.as_object();
    expect_keys(interval,
                {{"step", type::string},
                 {"t", type::integer},
                 {"interval_s", type::number},
                 {"requests", type::integer},
                 {"errors", type::integer},
                 {"histogram", type::string}},
                "intervals[]");
    EXPECT_DOUBLE_EQ(interval.at("interval_s").to_number<double>(), 1.0);
    const int64_t total = histogram_total(interval.at("histogram"));
    ASSERT_GE(total, 0) << "interval histogram does not decode";
    const std::string step(interval.at("step").as_string());
    totals[step] += total;
    requests[step] += interval.at("requests").to_number<int64_t>();
    errors[step] += interval.at("errors").to_number<int64_t>();
  }
  // Per-second counts add up to the step's totals (errors per step over time, e.g. during a fault).
  for (const auto& s : root().at("steps").as_array()) {
    const std::string name(s.at("name").as_string());
    EXPECT_EQ(requests[name], s.at("requests").to_number<int64_t>()) << name;
    EXPECT_EQ(errors[name], s.at("errors").to_number<int64_t>()) << name;
  }
  EXPECT_EQ(totals["GET /json"], 125);
  EXPECT_EQ(totals["missing"], 125);
  EXPECT_EQ(totals["::browse"], 125);
}

void thresholds_checks_and_scenarios() {
  const auto& thresholds = root().at("thresholds").as_array();
  ASSERT_EQ(thresholds.size(), 4u);
  int aborting = 0;
  for (const auto& v : thresholds) {
    const auto& t = v.as_object();
    expect_keys(t,
                {{"metric", type::string},
                 {"expression", type::string},
                 {"observed", type::number},
                 {"ok", type::boolean},
                 {"abort_on_fail", type::boolean}},
                "thresholds[" + std::string(t.at("metric").as_string()) + "]");
    EXPECT_TRUE(t.at("ok").as_bool()) << json::serialize(t);
    if (t.at("abort_on_fail").as_bool()) {
      ++aborting;
      EXPECT_EQ(t.at("metric").as_string(), "http_req_duration{name:GET /json}");
      EXPECT_EQ(t.at("expression").as_string(), "max<5000");
    }
    if (t.at("metric").as_string() == "checks") {
      EXPECT_DOUBLE_EQ(t.at("observed").to_number<double>(), 1.0);
    }
    if (t.at("metric").as_string() == "http_reqs") {
      EXPECT_DOUBLE_EQ(t.at("observed").to_number<double>(), 250);
    }
  }
  EXPECT_EQ(aborting, 1);

  const auto& checks = root().at("checks").as_array();
  ASSERT_EQ(checks.size(), 1u);
  const auto& check = checks[0].as_object();
  expect_keys(
      check,
      {{"name", type::string}, {"group", type::string}, {"passes", type::integer}, {"fails", type::integer}},
      "checks[0]");
  EXPECT_EQ(check.at("name").as_string(), "status is 200");
  EXPECT_EQ(check.at("group").as_string(), "::browse");
  EXPECT_EQ(check.at("passes").to_number<int64_t>(), 125);
  EXPECT_EQ(check.at("fails").to_number<int64_t>(), 0);

  const auto& scenarios = root().at("scenarios").as_array();
  ASSERT_EQ(scenarios.size(), 1u);
  const auto& s = scenarios[0].as_object();
  expect_keys(s,
              {{"name", type::string},
               {"executor", type::string},
               {"iterations", type::integer},
               {"dropped_iterations", type::integer},
               {"vus_max", type::integer},
               {"start_s", type::number},
               {"end_s", type::number}},
              "scenarios[0]");
  EXPECT_EQ(s.at("name").as_string(), "load");
  EXPECT_EQ(s.at("executor").as_string(), "constant-arrival-rate");
  EXPECT_EQ(s.at("iterations").to_number<int64_t>(), 125);
  EXPECT_DOUBLE_EQ(s.at("start_s").to_number<double>(), 0.0);
  // The real end: the planned 2.5 s (the last arrival is at 2.48 s), no later than the run itself.
  EXPECT_GE(s.at("end_s").to_number<double>(), 2.5);
  EXPECT_LE(s.at("end_s").to_number<double>(), root().at("meta").at("duration_s").to_number<double>());
  // The planned load: 50 arrivals per second from 0 to 2.5 s.
  const auto& load = s.at("load").as_object();
  EXPECT_EQ(load.at("unit"), "arrivals_per_s");
  EXPECT_EQ(load.at("ends"), "planned");
  EXPECT_EQ(json::serialize(load.at("points")), "[[0E0,5E1],[2.5E0,5E1]]");
  // Every tolerance of the recovery figures, defaults filled in.
  const auto& recovery = root().at("recovery_options").as_object();
  EXPECT_EQ(recovery.at("consecutive_healthy_s"), 5);
  EXPECT_DOUBLE_EQ(recovery.at("confidence").to_number<double>(), 0.999);
  EXPECT_EQ(recovery.size(), 9u);
}

TEST(results_file, every_documented_key_with_consistent_values) {
  testing::test_server server;
  temp_dir dir;
  auto request = make_request(scenario("results.lua"), server.base_url(), {{"KEY", "VALUE"}});
  request.threads = 2;
  request.seed = 5;
  before_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  const run_result r = run_scenario(request, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(r.has_results());
  server_ = &server;
  result_ = &r;
  {
    SCOPED_TRACE("top_level_keys");
    top_level_keys();
  }
  {
    SCOPED_TRACE("meta");
    meta();
  }
  {
    SCOPED_TRACE("summary");
    summary();
  }
  {
    SCOPED_TRACE("steps");
    steps();
  }
  {
    SCOPED_TRACE("timeseries_has_one_row_per_second_adding_up_to_the_totals");
    timeseries_has_one_row_per_second_adding_up_to_the_totals();
  }
  {
    SCOPED_TRACE("intervals_decode_and_add_up_per_step");
    intervals_decode_and_add_up_per_step();
  }
  {
    SCOPED_TRACE("thresholds_checks_and_scenarios");
    thresholds_checks_and_scenarios();
  }
  result_ = nullptr;
  server_ = nullptr;
}

}  // namespace
}  // namespace stampede::loadgen
