// handleSummary(data) (loadgen/summary_hook.h, scenarios/summary.lua): the hook sees the end-of-test data,
// its outputs replace the built-in summary, files stay inside the output directory, and a failing hook
// (a Lua error, its deadline) names where and loses nothing: the results JSON is written first.
#include "loadgen/summary_hook.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::scenario;
using test::temp_dir;

using testing::read_text;

class summary_hook : public ::testing::Test {
 protected:
  run_result run_case(const std::string& name, std::map<std::string, std::string> env = {}) {
    env["CASE"] = name;
    return run_scenario(make_request(scenario("summary.lua"), server_.base_url(), std::move(env)), out_);
  }

  testing::test_server server_;
  temp_dir root_;  // outside out_: where an absolute name points
  temp_dir out_;   // the results JSON's directory: the hook's files go there
};

TEST_F(summary_hook, its_files_and_stdout_replace_the_built_in_summary) {
  const auto r = run_case("files");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(r.has_results());  // the results JSON stays the source of truth
  EXPECT_NE(r.out.find("custom summary: 3 requests\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("TOTAL RESULTS"), std::string::npos) << r.out;
  EXPECT_EQ(read_text(out_.path() / "sub" / "dir" / "report.txt"), "p95 under 5 s\n");
  const json::value seen = json::parse(read_text(out_.path() / "seen.json"));
  EXPECT_EQ(seen.at("requests").to_number<int64_t>(), 3);
  EXPECT_EQ(seen.at("trend_type").as_string(), "trend");
  EXPECT_GT(seen.at("p95").to_number<double>(), 0.0);
  EXPECT_DOUBLE_EQ(seen.at("p95").to_number<double>(),
                   r.summary().at("latency_ms").at("p95").to_number<double>());
  EXPECT_TRUE(seen.at("p95_threshold_ok").as_bool());
  EXPECT_EQ(seen.at("failed_rate").to_number<double>(), 0.0);
  EXPECT_EQ(seen.at("checks_rate").to_number<double>(), 1.0);
  EXPECT_EQ(seen.at("check_name").as_string(), "hello is 200");
  EXPECT_GT(seen.at("duration_ms").to_number<double>(), 0.0);
  EXPECT_EQ(seen.at("seed").to_number<int64_t>(), 1);
  EXPECT_EQ(seen.at("thresholds").to_number<int64_t>(), 2);
}

TEST_F(summary_hook, a_file_outside_the_output_directory_is_refused_by_name) {
  const fs::path absolute = root_.path() / "absolute.txt";
  const auto r = run_case("escape", {{"ABSOLUTE", absolute.string()}});
  EXPECT_EQ(r.exit_code, exit_script_error) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_NE(r.err.find("'../escape.txt' leads outside the output directory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'" + absolute.string() + "' is an absolute path"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out_.path().parent_path() / "escape.txt"));
  EXPECT_FALSE(fs::exists(absolute));
  EXPECT_EQ(read_text(out_.path() / "kept.txt"), "in");  // the others are still written
}

TEST_F(summary_hook, a_lua_error_names_file_and_line_and_keeps_the_results) {
  const auto r = run_case("lua_error");
  EXPECT_EQ(r.exit_code, exit_script_error) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_EQ(r.summary_int("requests"), 3);
  EXPECT_NE(r.err.find("handleSummary() failed: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("summary.lua:47:"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("TOTAL RESULTS"), std::string::npos) << r.out;  // the built-in summary instead
}

TEST_F(summary_hook, a_hook_that_never_returns_is_stopped_at_its_deadline) {
  const auto started = std::chrono::steady_clock::now();
  const auto r = run_case("endless");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.exit_code, exit_script_error) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_NE(r.err.find("handleSummary() did not finish within its timeout"), std::string::npos) << r.err;
  EXPECT_LT(took, std::chrono::seconds(10));  // teardownTimeout is 1 s
}

TEST(summary_paths, a_symbolic_link_out_of_the_directory_is_refused) {
  temp_dir outside;
  temp_dir base;
  fs::create_directory_symlink(outside.path(), base.path() / "link");
  EXPECT_THROW(confined_summary_path(base.path(), "link/x.txt"), std::invalid_argument);
  EXPECT_THROW(confined_summary_path(base.path(), "a/../../x.txt"), std::invalid_argument);
  EXPECT_THROW(confined_summary_path(base.path(), ""), std::invalid_argument);
  EXPECT_EQ(confined_summary_path(base.path(), "a/./b/../c.txt"), base.path() / "a" / "c.txt");
  EXPECT_TRUE(fs::is_directory(base.path() / "a"));
  fs::create_symlink(outside.path() / "target.txt", base.path() / "file-link.txt");
  EXPECT_THROW(confined_summary_path(base.path(), "file-link.txt"), std::invalid_argument);
}

}  // namespace
}  // namespace stampede::loadgen

namespace stampede::loadgen {
namespace {

// The script's custom metrics reach data.metrics in k6's shapes (known values in, the same values out),
// with the thresholds set on them; a results file without custom metrics adds none.
TEST(summary_hook_data, custom_metrics_appear_in_k6_shapes_with_their_thresholds) {
  const auto results = boost::json::parse(R"({
    "meta": {"duration_s": 10}, "summary": {"requests": 4, "errors": 0},
    "metrics": [
      {"name": "login_time", "metric": "login_time", "type": "trend", "samples": 3, "is_time": true,
       "stats": {"min": 1, "mean": 2, "p50": 2, "p90": 3, "p95": 3, "p99": 3, "p999": 3, "max": 3}},
      {"name": "login_time{flow:buy}", "metric": "login_time", "type": "trend", "samples": 1, "is_time": true,
       "stats": {"min": 3, "mean": 3, "p50": 3, "p90": 3, "p95": 3, "p99": 3, "p999": 3, "max": 3}},
      {"name": "orders", "metric": "orders", "type": "counter", "samples": 5, "count": 5, "rate": 0.5},
      {"name": "login_ok", "metric": "login_ok", "type": "rate", "samples": 4, "trues": 3, "rate": 0.75},
      {"name": "queue", "metric": "queue", "type": "gauge", "samples": 2, "value": 7, "min": 2, "max": 7}
    ],
    "thresholds": [{"metric": "orders", "expression": "count>10", "ok": false}]
  })");
  const auto data = boost::json::parse(summary_hook_data(results, false, false)).as_object();
  const auto& m = data.at("metrics").as_object();
  EXPECT_EQ(m.at("login_time").at("contains"), "time");
  EXPECT_EQ(m.at("login_time").at("values").at("avg").to_number<double>(), 2.0);
  EXPECT_EQ(m.at("login_time").at("values").at("p(95)").to_number<double>(), 3.0);
  EXPECT_EQ(m.at("login_time{flow:buy}").at("values").at("min").to_number<double>(), 3.0);
  EXPECT_EQ(m.at("orders").at("type"), "counter");
  EXPECT_EQ(m.at("orders").at("values").at("count").to_number<int64_t>(), 5);
  EXPECT_EQ(m.at("orders").at("thresholds").at("count>10").at("ok"), false);
  EXPECT_EQ(m.at("login_ok").at("values").at("passes").to_number<int64_t>(), 3);
  EXPECT_EQ(m.at("login_ok").at("values").at("fails").to_number<int64_t>(), 1);
  EXPECT_EQ(m.at("queue").at("values").at("value").to_number<int64_t>(), 7);
  EXPECT_EQ(m.at("queue").at("values").at("min").to_number<int64_t>(), 2);

  const auto plain = boost::json::parse(summary_hook_data(
      boost::json::parse(R"({"meta": {"duration_s": 1}, "summary": {"requests": 0, "errors": 0}})"), false, false));
  EXPECT_FALSE(plain.at("metrics").as_object().contains("orders"));
}

}  // namespace
}  // namespace stampede::loadgen
