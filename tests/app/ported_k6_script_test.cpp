// A k6 checkout journey ported to Stampede (scenarios/k6_ported_checkout.lua) against a real reference shop:
// custom metrics of the four types, run/scenario/request tags, thresholds on sub-metrics by status, name,
// flow, scenario and group, setup() data, CSV data, groups, checks, http.batch and handleSummary. Known
// answers both ways: on an idle shop every threshold holds (exit 0); with STRICT=1 every threshold has a
// bound nothing meets, and every one of them fails (exit 99).
#include <gtest/gtest.h>

#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/child_process.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using stampede::testing::temp_dir;

const std::string binary = STAMPEDE_BINARY;
const std::string scenario = std::string(STAMPEDE_SOURCE_DIR) + "/scenarios/k6_ported_checkout.lua";

// The thresholds the script declares, by metric key.
const std::vector<std::string> threshold_keys{
    "http_req_duration",
    "http_req_duration{status:200}",
    "http_req_duration{name:GET /api/products/{}}",
    "http_req_failed{flow:buy}",
    "http_reqs{scenario:browse}",
    "group_duration{group:::checkout}",
    "checks",
    "checks{scenario:browse}",
    "iteration_duration{scenario:checkout}",
    "login_duration",
    "login_duration{flow:buy}",
    "orders_placed",
    "order_ok",
    "cart_lines",
};

// The shop's entry URL: the first line of its output that is one.
std::string entry_url(const std::string& log) {
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("http://127.0.0.1:", 0) == 0) return line;
  }
  return {};
}

class ported_k6_script : public ::testing::Test {
 protected:
  void SetUp() override {
    shop_ = stampede::testing::spawn({binary, "shop", "--port", "0", "--nodes", "2", "--kdf", "minimal", "--data",
                                      (dir_.path() / "shop").string()},
                                     dir_.path() / "shop.log");
    ASSERT_GT(shop_, 0);
    ASSERT_TRUE(stampede::testing::eventually(
        [&] { return !(entry_ = entry_url(stampede::testing::read_text(dir_.path() / "shop.log"))).empty(); }, 60s))
        << stampede::testing::read_text(dir_.path() / "shop.log");
  }
  void TearDown() override {
    if (shop_ > 0) {
      ::kill(shop_, SIGTERM);
      EXPECT_EQ(stampede::testing::wait_bounded(shop_, 30s), 0) << "the shop did not stop cleanly";
    }
  }

  struct outcome {
    int code = -1;
    json::object results;
    std::string log;
  };
  outcome run(const std::string& name, std::vector<std::string> extra) {
    const fs::path out = dir_.path() / name;
    fs::create_directories(out);
    std::vector<std::string> args{binary, "run", scenario, "--target", entry_, "--out",
                                  (out / "results.json").string(), "--seed", "7", "-e", "DURATION=5s"};
    args.insert(args.end(), extra.begin(), extra.end());
    outcome o;
    o.code = stampede::testing::run_bounded(args, out / "run.log", 120s);
    o.log = stampede::testing::read_text(out / "run.log");
    const std::string text = stampede::testing::read_text(out / "results.json");
    if (!text.empty()) o.results = json::parse(text).as_object();
    return o;
  }

  temp_dir dir_{"stampede-ported-k6"};
  pid_t shop_ = -1;
  std::string entry_;
};

std::map<std::string, json::object> thresholds_by_metric(const json::object& results) {
  std::map<std::string, json::object> out;
  for (const auto& t : results.at("thresholds").as_array()) {
    out[std::string(t.at("metric").as_string())] = t.as_object();
  }
  return out;
}

const json::object& custom_metric(const json::object& results, const std::string& name) {
  for (const auto& m : results.at("metrics").as_array()) {
    if (m.at("name").as_string() == name) return m.as_object();
  }
  throw std::runtime_error("no custom metric " + name + " in the results");
}

TEST_F(ported_k6_script, every_threshold_holds_on_an_idle_shop) {
  const auto r = run("normal", {});
  ASSERT_FALSE(r.results.empty()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  const auto thresholds = thresholds_by_metric(r.results);
  for (const auto& key : threshold_keys) {
    SCOPED_TRACE(key);
    ASSERT_TRUE(thresholds.contains(key)) << json::serialize(r.results.at("thresholds"));
    EXPECT_TRUE(thresholds.at(key).at("ok").as_bool()) << json::serialize(thresholds.at(key));
    EXPECT_FALSE(thresholds.at(key).at("no_data").as_bool()) << json::serialize(thresholds.at(key));
  }
  // The custom metrics measured what the journey did.
  const auto orders = custom_metric(r.results, "orders_placed").at("count").to_number<int64_t>();
  EXPECT_GT(orders, 0);
  const auto& ok = custom_metric(r.results, "order_ok");
  EXPECT_EQ(ok.at("trues").to_number<int64_t>(), orders) << "one true per order placed";
  const auto& lines = custom_metric(r.results, "cart_lines");
  EXPECT_GE(lines.at("min").to_number<double>(), 1.0);
  EXPECT_LE(lines.at("max").to_number<double>(), 3.0);
  EXPECT_GT(custom_metric(r.results, "login_duration{flow:buy}").at("samples").to_number<int64_t>(), 0);
  // handleSummary's outputs replace the built-in summary: its line on stdout, its file next to --out.
  EXPECT_NE(r.log.find("ported checkout: " + std::to_string(orders) + " orders"), std::string::npos) << r.log;
  EXPECT_EQ(stampede::testing::read_text(dir_.path() / "normal" / "ported-summary.txt"),
            "orders " + std::to_string(orders) + "\n");
}

TEST_F(ported_k6_script, strict_bounds_make_every_threshold_fail_with_exit_99) {
  const auto r = run("strict", {"-e", "STRICT=1"});
  ASSERT_FALSE(r.results.empty()) << r.log;
  EXPECT_EQ(r.code, 99) << r.log;
  const auto thresholds = thresholds_by_metric(r.results);
  for (const auto& key : threshold_keys) {
    SCOPED_TRACE(key);
    ASSERT_TRUE(thresholds.contains(key));
    EXPECT_FALSE(thresholds.at(key).at("ok").as_bool()) << json::serialize(thresholds.at(key));
    EXPECT_FALSE(thresholds.at(key).at("no_data").as_bool()) << "failed on data, not for lack of it";
  }
}

}  // namespace
