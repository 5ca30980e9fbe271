// The results model (results/model.h): encode -> decode gives back what was encoded, decoding errors name the
// field, and results files written by earlier versions (tests/reports/recorded, golden) still load.
#include "results/model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/json.hpp>

#include "common/hdr_histogram.h"

namespace stampede::results {
namespace {

namespace json = boost::json;

// Every typed section compared, `document` aside (the decoded one is the encoded document).
void expect_same_model(const run_results& a, const run_results& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.stampede_version, b.stampede_version);
  EXPECT_EQ(a.scenario, b.scenario);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.start_unix_ms, b.start_unix_ms);
  EXPECT_EQ(a.duration_s, b.duration_s);
  EXPECT_EQ(a.threads, b.threads);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.env, b.env);
  EXPECT_EQ(a.shard_index, b.shard_index);
  EXPECT_EQ(a.shard_count, b.shard_count);
  EXPECT_EQ(a.run_id, b.run_id);
  EXPECT_EQ(a.merged_from, b.merged_from);
  EXPECT_EQ(a.merged_shards, b.merged_shards);
  EXPECT_EQ(a.saturated, b.saturated);
  EXPECT_EQ(a.max_event_loop_lag_ms, b.max_event_loop_lag_ms);
  EXPECT_EQ(a.p99_event_loop_lag_ms, b.p99_event_loop_lag_ms);
  EXPECT_EQ(a.aborted, b.aborted);
  EXPECT_EQ(a.summary, b.summary);
  EXPECT_EQ(a.iterations, b.iterations);
  EXPECT_EQ(a.dropped_iterations, b.dropped_iterations);
  EXPECT_EQ(a.vus_max, b.vus_max);
  EXPECT_EQ(a.data_sent_bytes, b.data_sent_bytes);
  EXPECT_EQ(a.data_received_bytes, b.data_received_bytes);
  EXPECT_EQ(a.steps, b.steps);
  EXPECT_EQ(a.timeseries, b.timeseries);
  EXPECT_EQ(a.intervals, b.intervals);
  EXPECT_EQ(a.thresholds, b.thresholds);
  EXPECT_EQ(a.checks, b.checks);
  EXPECT_EQ(a.chaos, b.chaos);
  EXPECT_EQ(a.scenarios, b.scenarios);
  EXPECT_EQ(a.links, b.links);
  EXPECT_EQ(json::value(to_json(a.recovery_options)), json::value(to_json(b.recovery_options)));
  EXPECT_EQ(a.has_verify, b.has_verify);
  EXPECT_EQ(a.verify_ok, b.verify_ok);
  EXPECT_EQ(a.invariants, b.invariants);
}

// A model with every typed field set to something other than its default.
run_results every_field() {
  hdr_histogram h;
  for (int64_t us = 100; us <= 100'000; us += 100) h.record(us);
  run_results r;
  r.stampede_version = "9.8.7";
  r.scenario = "scenarios/flash_sale.lua";
  r.target = "http://127.0.0.1:8080";
  r.started_at = "2026-12-06T11:00:00Z";
  r.start_unix_ms = 1'796'000'000'000;
  r.duration_s = 12.5;
  r.threads = 2;
  r.seed = 42;
  r.env = {{"BASE", "http://127.0.0.1:1"}, {"MODE", "smoke"}};
  r.shard_index = 1;
  r.shard_count = 3;
  r.run_id = "0123456789abcdef0123456789abcdef";
  r.saturated = true;
  r.max_event_loop_lag_ms = 7.5;
  r.p99_event_loop_lag_ms = 3.25;
  r.aborted = abort_info{"signal", "interrupted by a signal during setup()", "setup"};
  r.summary.kind = "summary";
  r.summary.name = "all requests";
  r.summary.requests = 1000;
  r.summary.rps = 80;
  r.summary.errors = 3;
  r.summary.error_rate = 0.003;
  r.summary.latency = latency_stats::of(h);
  r.summary.uncorrected = latency_stats::of(h);
  r.summary.histogram = h.encode_compressed_base64();
  r.summary.uncorrected_histogram = r.summary.histogram;
  r.summary.status_classes = {{"2xx", 997}, {"5xx", 3}};
  r.summary.errors_by_kind = {{"status", 3}, {"timeout", 0}};
  r.iterations = 500;
  r.dropped_iterations = 4;
  r.vus_max = 20;
  r.data_sent_bytes = 12345;
  r.data_received_bytes = 67890;
  step_result request = r.summary;
  request.name = "GET /cart";
  request.kind = "request";
  request.timings = {{"blocked", 0.01, 0.2}, {"waiting", 4.5, 30}};
  step_result group = request;
  group.name = "::checkout";
  group.kind = "group";
  group.status_classes.clear();
  group.errors_by_kind.clear();
  group.timings.clear();
  r.steps = {request, group};
  r.timeseries = {{0, 90, 1, 1.5, 2.5, 9.5, 12, 10, 40, 0, {{"status", 1}}, 15, 2.5},
                  {1, 80, 0, 1.5, 2.5, 9.5, 12, 10, 40, 2, {}, std::nullopt, std::nullopt}};
  r.intervals = {{"GET /cart", 0, 1.0, 90, 1, r.summary.histogram}, {"GET /cart", 1, 1.0, std::nullopt, std::nullopt, ""}};
  r.thresholds = {{"http_req_duration", "p(99)<300", 99.9, true, false, true, std::nullopt},
                  {"checks", "rate>0.99", std::nullopt, false, true, false, true}};
  r.checks = {{"status 200", "::checkout", 10, 2}};
  return r;
}

TEST(results_model, encode_then_decode_gives_back_every_typed_field) {
  const run_results original = every_field();
  const json::value document = encode(original);
  const run_results decoded = parse_results(json::serialize(document));
  expect_same_model(original, decoded);
  // And once more from the decoded model: encoding is stable.
  EXPECT_EQ(encode(decoded), document);
}

TEST(results_model, encode_writes_the_schema_and_the_keys_runs_always_wrote) {
  const json::object doc = encode(every_field()).as_object();
  EXPECT_EQ(doc.at("schema").as_string(), schema_name);
  EXPECT_EQ(doc.at("version").as_int64(), schema_version);
  const json::object& meta = doc.at("meta").as_object();
  EXPECT_EQ(meta.at("aborted").at("phase").as_string(), "setup");
  EXPECT_EQ(meta.at("generator").at("p99_event_loop_lag_ms").as_double(), 3.25);
  const json::object& summary = doc.at("summary").as_object();
  for (const char* key : {"requests", "rps", "errors", "error_rate", "iterations", "dropped_iterations", "vus_max",
                          "data_sent_bytes", "data_received_bytes", "latency_ms", "uncorrected_latency_ms",
                          "histogram", "uncorrected_histogram", "status_classes", "errors_by_kind"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
  EXPECT_FALSE(summary.contains("name"));
  const json::object& group = doc.at("steps").at(1).as_object();
  EXPECT_FALSE(group.contains("status_classes"));  // a group has no responses of its own
  EXPECT_TRUE(doc.at("steps").at(0).as_object().contains("timings_ms"));
  EXPECT_FALSE(doc.at("timeseries").at(1).as_object().contains("vus_max"));
  EXPECT_FALSE(doc.at("intervals").at(1).as_object().contains("requests"));
  EXPECT_TRUE(doc.at("thresholds").at(0).at("observed").is_double());
  EXPECT_TRUE(doc.at("thresholds").at(1).at("observed").is_null());
  EXPECT_FALSE(doc.at("thresholds").at(0).as_object().contains("re_evaluated"));
  EXPECT_TRUE(doc.at("thresholds").at(1).at("re_evaluated").as_bool());
}

TEST(results_model, latency_summary_comes_from_the_histogram) {
  hdr_histogram h;
  for (int64_t us = 1000; us <= 100'000; us += 1000) h.record(us);  // 1..100 ms, one each
  const latency_stats s = latency_stats::of(h);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_NEAR(s.mean, 50.5, 0.1);
  EXPECT_NEAR(s.p50, 50, 0.1);
  EXPECT_NEAR(s.p99, 99, 0.1);
  EXPECT_NEAR(s.max, 100, 0.1);
  const json::object o = to_json(s);
  EXPECT_EQ(o.size(), 8u);
  EXPECT_EQ(o.at("p999").as_double(), s.p999);
}

TEST(results_model, sections_the_model_reads_in_part_are_carried_from_the_document) {
  run_results r = every_field();
  r.document = json::parse(R"({"meta":{"custom":"kept","threads":99},
                              "scenarios":[{"name":"s","executor":"constant-vus","start_s":0,"end_s":5}],
                              "history":[{"id":1}], "capacity":null})");
  const json::object doc = encode(r).as_object();
  EXPECT_EQ(doc.at("meta").at("custom").as_string(), "kept");
  EXPECT_EQ(doc.at("meta").at("threads").as_int64(), 2);  // the typed field wins
  EXPECT_EQ(doc.at("history").at(0).at("id").as_int64(), 1);
  EXPECT_TRUE(doc.at("capacity").is_null());
  const run_results decoded = parse_results(json::value(doc));
  ASSERT_EQ(decoded.scenarios.size(), 1u);
  EXPECT_EQ(decoded.scenarios[0].executor, "constant-vus");
}

std::string decode_error(std::string_view text) {
  try {
    parse_results(text);
  } catch (const results_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(results_model, decoding_errors_name_the_field) {
  const std::string head = R"({"schema":"stampede-results","version":1,)";
  EXPECT_EQ(decode_error(head + R"("summary":{"requests":"x"}})"), "summary.requests: expected an integer");
  EXPECT_EQ(decode_error(head + R"("summary":{},"meta":{"seed":-1}})"), "meta.seed: expected a non-negative integer");
  EXPECT_EQ(decode_error(head + R"("summary":{},"meta":{"env":{"A":1}}})"), "meta.env.A: expected a string");
  EXPECT_EQ(decode_error(head + R"("summary":{"timings_ms":{"waiting":{"p99":"slow"}}}})"),
            "summary.timings_ms.waiting.p99: expected a finite number");
  EXPECT_EQ(decode_error(head + R"("summary":{},"timeseries":[{"t":0,"vus_max":1.5}]})"),
            "timeseries[0].vus_max: expected an integer");
  EXPECT_EQ(decode_error(head + R"("summary":{},"thresholds":[{"metric":"checks","no_data":"yes"}]})"),
            "thresholds[0].no_data: expected true or false");
  EXPECT_EQ(decode_error(head + R"("summary":{},"steps":[{"requests":1}]})"), R"(steps[0]: "name" is missing)");
  EXPECT_EQ(decode_error(R"({"schema":"other","version":1,"summary":{}})"),
            R"(not a stampede results file ("schema" is not "stampede-results"))");
  EXPECT_NE(decode_error(R"({"schema":"stampede-results","version":2,"summary":{}})").find("newer"),
            std::string::npos);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Files written by earlier versions (the recorded game days of tests/reports/recorded): they load, and
// re-encoding them loses nothing the model reads.
TEST(results_model, files_of_earlier_versions_still_load_and_re_encode) {
  const std::filesystem::path root = STAMPEDE_RESULTS_FIXTURES;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root / "reports" / "recorded")) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const run_results r = load_results(entry.path().string());
    EXPECT_GT(r.summary.requests, 0);
    const run_results again = parse_results(json::serialize(encode(r)));
    expect_same_model(r, again);
    ++files;
  }
  EXPECT_GE(files, 6);
}

TEST(results_model, a_recorded_file_reads_its_figures) {
  const std::filesystem::path path =
      std::filesystem::path(STAMPEDE_RESULTS_FIXTURES) / "reports" / "recorded" / "flash_sale_drill.json";
  const json::value doc = json::parse(read_file(path));
  const run_results r = load_results(path.string());
  EXPECT_EQ(r.scenario, "scenarios/flash_sale_drill.lua");
  EXPECT_EQ(r.seed, 1u);
  EXPECT_EQ(r.summary.requests, doc.at("summary").at("requests").as_int64());
  EXPECT_EQ(r.timeseries.size(), doc.at("timeseries").as_array().size());
  ASSERT_FALSE(r.timeseries.empty());
  EXPECT_EQ(r.timeseries[0].vus_max, 15);
}

}  // namespace
}  // namespace stampede::results
