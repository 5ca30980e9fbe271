// The live dashboard end to end, through the real binary: `stampede run --dashboard 127.0.0.1:0` of a short
// scenario against the test server (dashboard_run.h) watched in headless Chromium
// (tests/interop/dashboard_chromium_check.js): the page fills in, its figures change between two reads, fault
// bands and tables show, the end names the outcome and links to the report; no console error, nothing
// fetched from elsewhere; the screenshot is kept in this test's build directory (dashboard_live.png).
// Skipped when node or /usr/bin/chromium is missing; ctest label `chromium` (`ctest -LE chromium`).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/dashboard/dashboard_run.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using stampede::testing::read_text;

const std::string binary = STAMPEDE_BINARY;
const fs::path interop_dir = STAMPEDE_INTEROP_DIR;
const fs::path screenshot_dir = STAMPEDE_SCREENSHOT_DIR;

bool have_chromium() {
  return fs::exists("/usr/bin/chromium") && std::system("node --version >/dev/null 2>&1") == 0;
}

TEST(dashboard_e2e, the_page_updates_live_in_headless_chromium_and_links_the_report_at_the_end) {
  if (!have_chromium()) GTEST_SKIP() << "node or /usr/bin/chromium missing (apt-get install chromium nodejs)";
  stampede::testing::dashboard_run run(binary);
  ASSERT_GT(run.pid, 0);
  ASSERT_GT(run.port, 0) << run.log();
  const fs::path png = screenshot_dir / "dashboard_live.png";
  fs::remove(png);
  const std::string url = "http://127.0.0.1:" + std::to_string(run.port) + "/";
  const int check = stampede::testing::run_bounded(
      {"/usr/bin/env", "node", (interop_dir / "dashboard_chromium_check.js").string(), "/usr/bin/chromium",
       url, png.string()},
      run.dir.path() / "chromium.log", 50s);
  const std::string out = read_text(run.dir.path() / "chromium.log");
  EXPECT_EQ(run.wait(), 0) << run.log();
  ASSERT_EQ(check, 0) << out;
  const json::object r = json::parse(out.substr(out.rfind("{\"errors\""))).as_object();

  EXPECT_TRUE(r.at("errors").as_array().empty()) << json::serialize(r.at("errors"));
  EXPECT_TRUE(r.at("foreign_requests").as_array().empty()) << json::serialize(r.at("foreign_requests"));

  // Two reads two seconds apart: more requests, more points on the throughput chart.
  const json::object& first = r.at("first").as_object();
  const json::object& second = r.at("second").as_object();
  const auto requests = [](const json::object& f) {
    return std::stoll(std::string(f.at("tiles").at("requests").as_string()));
  };
  EXPECT_TRUE(second.at("ended").is_null()) << "the browser came too late to see the run going";
  EXPECT_GT(requests(first), 0);
  EXPECT_GT(requests(second), requests(first));
  EXPECT_NE(first.at("status").as_string(), second.at("status").as_string());
  EXPECT_GT(second.at("points").as_array().at(0).to_number<int64_t>(),
            first.at("points").as_array().at(0).to_number<int64_t>());
  EXPECT_GE(second.at("polylines").to_number<int64_t>(), 4);  // throughput x2, latency x4, errors, VUs

  const json::object& ended = r.at("ended").as_object();
  EXPECT_EQ(ended.at("ended").as_string(), "The run ended: passed");
  EXPECT_GT(ended.at("fault_bands").to_number<int64_t>(), 0);  // the latency fault on the charts
  ASSERT_EQ(ended.at("faults").as_array().size(), 1u);
  EXPECT_EQ(ended.at("faults").as_array()[0].as_array()[0].as_string(), "target +30ms");
  ASSERT_EQ(ended.at("thresholds").as_array().size(), 2u);
  for (const auto& row : ended.at("thresholds").as_array()) EXPECT_EQ(row.as_array()[0].as_string(), "✓");
  ASSERT_EQ(ended.at("steps").as_array().size(), 1u);
  EXPECT_EQ(ended.at("steps").as_array()[0].as_array()[0].as_string(), "hello");
  // The final requests equal the results file's.
  const json::object results = json::parse(read_text(run.dir.path() / "results.json")).as_object();
  EXPECT_EQ(requests(ended), results.at("summary").at("requests").to_number<int64_t>());
  const json::array& links = ended.at("links").as_array();
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].as_string(),
            "file://" + fs::canonical(run.dir.path() / "report" / "report.html").string());
  EXPECT_EQ(links[1].as_string(), "file://" + fs::canonical(run.dir.path() / "results.json").string());

  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 10'000u);
}

}  // namespace
