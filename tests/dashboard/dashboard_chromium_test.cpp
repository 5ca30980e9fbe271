// The live dashboard end to end, through the real binary: `stampede run --dashboard 127.0.0.1:0` of a short
// scenario against the test server (dashboard_run.h) watched in headless Chromium
// (tests/interop/dashboard_chromium_check.js): the page fills in, its figures change between two reads, fault
// bands and tables show, the end names the outcome and links to the report; no console error, nothing
// fetched from elsewhere; the screenshot is kept in this test's build directory (dashboard_live.png).
// The same page served by `stampede coordinate --dashboard` for two local agents: the merged figures and the
// shards' states (screenshot distributed_live.png); and `stampede drill --target --dashboard`'s page with its
// chaos fault band (drill_live.png).
// Skipped when node or /usr/bin/chromium is missing; ctest label `chromium` (`ctest -LE chromium`).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/dashboard/dashboard_run.h"
#include "tests/distributed/distributed_run.h"

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

using stampede::testing::distributed_run;

// Runs tests/interop/dashboard_chromium_check.js on `url`; its JSON, or a failure with its output.
json::object watch(const std::string& url, const fs::path& png, const fs::path& log) {
  fs::remove(png);
  const int check = stampede::testing::run_bounded(
      {"/usr/bin/env", "node", (interop_dir / "dashboard_chromium_check.js").string(), "/usr/bin/chromium",
       url, png.string()},
      log, 50s);
  const std::string out = read_text(log);
  EXPECT_EQ(check, 0) << out;
  const size_t at = out.rfind("{\"errors\"");
  if (check != 0 || at == std::string::npos) return {};
  return json::parse(out.substr(at)).as_object();
}

TEST_F(distributed_run, a_coordinator_serves_the_merged_live_view_and_the_shards_states) {
  if (!have_chromium()) GTEST_SKIP() << "node or /usr/bin/chromium missing (apt-get install chromium nodejs)";
  const path lua = write_script(R"lua(
options = { vus = 4, duration = "8s", thresholds = { http_req_duration = { "p(95)<5000" } } }
function default()
  http.get("/hello", { name = "hello" })
  sleep(0.05)
end
)lua");
  const pid_t coordinator = start_coordinator(lua, 2,
                                              {"--register-timeout", "20s", "--dashboard", "127.0.0.1:0",
                                               "--report", (dir.path() / "report").string()});
  ASSERT_FALSE(url.empty());
  const int port = stampede::testing::dashboard_port(coordinator_log());
  ASSERT_GT(port, 0) << read_text(coordinator_log());
  std::vector<pid_t> agents;
  for (int i = 0; i < 2; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  const json::object r = watch("http://127.0.0.1:" + std::to_string(port) + "/",
                               screenshot_dir / "distributed_live.png", dir.path() / "chromium.log");
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 30s), 0) << read_text(agent_log(i));
  EXPECT_EQ(stampede::testing::wait_bounded(coordinator, 30s), 0) << read_text(coordinator_log());
  ASSERT_FALSE(r.empty());

  EXPECT_TRUE(r.at("errors").as_array().empty()) << json::serialize(r.at("errors"));
  EXPECT_TRUE(r.at("foreign_requests").as_array().empty()) << json::serialize(r.at("foreign_requests"));
  const auto requests = [](const json::value& f) {
    return std::stoll(std::string(f.at("tiles").at("requests").as_string()));
  };
  const json::object& first = r.at("first").as_object();
  const json::object& second = r.at("second").as_object();
  EXPECT_TRUE(second.at("ended").is_null()) << "the browser came too late to see the run going";
  EXPECT_GT(requests(second), requests(first));
  // Both shards run while the load does, with their agents.
  const json::array& running = second.at("shards").as_array();
  ASSERT_EQ(running.size(), 2u) << json::serialize(second);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(running[i].as_array()[0].as_string(), std::to_string(i));
    EXPECT_EQ(running[i].as_array()[1].as_string(), "a" + std::to_string(i));
    EXPECT_EQ(running[i].as_array()[2].as_string(), "running");
  }

  const json::object& ended = r.at("ended").as_object();
  EXPECT_EQ(ended.at("ended").as_string(), "The run ended: passed");
  for (const auto& row : ended.at("shards").as_array()) EXPECT_EQ(row.as_array()[2].as_string(), "done");
  ASSERT_EQ(ended.at("thresholds").as_array().size(), 1u);
  EXPECT_EQ(ended.at("thresholds").as_array()[0].as_array()[0].as_string(), "✓");
  ASSERT_EQ(ended.at("steps").as_array().size(), 1u);
  EXPECT_EQ(ended.at("steps").as_array()[0].as_array()[0].as_string(), "hello");
  // The page's final count is the merged results' (every agent's last second reached the live merge).
  const json::object merged = stampede::testing::load(dir.path() / "merged.json");
  EXPECT_EQ(requests(ended), merged.at("summary").at("requests").to_number<int64_t>());
  const json::array& links = ended.at("links").as_array();
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].as_string(), "file://" + fs::canonical(dir.path() / "report" / "report.html").string());
  EXPECT_EQ(links[1].as_string(), "file://" + fs::canonical(dir.path() / "merged.json").string());
  EXPECT_GT(fs::file_size(screenshot_dir / "distributed_live.png"), 10'000u);
}

// `stampede drill --target URL --dashboard`: a game day on a running system (here the test server) draws its
// chaos fault (a latency fault on the drill's `edge` proxy) as a band on the live page.
TEST(dashboard_e2e, a_drill_s_page_shows_its_chaos_fault_band) {
  if (!have_chromium()) GTEST_SKIP() << "node or /usr/bin/chromium missing (apt-get install chromium nodejs)";
  stampede::testing::test_server server;
  stampede::testing::temp_dir dir{"stampede-dashboard-drill"};
  {
    std::ofstream(dir.path() / "drill.lua") << R"lua(
options = {
  vus = 4, duration = "8s",
  chaos = { { at = "2s", duration = "2s", fault = "latency", target = "edge", latency = 30, label = "edge +30ms" } },
}
function default()
  http.get("/hello", { name = "hello" })
  sleep(0.05)
end
)lua";
  }
  const pid_t pid = stampede::testing::spawn(
      {binary, "drill", (dir.path() / "drill.lua").string(), "--target", server.base_url(), "--dashboard",
       "127.0.0.1:0", "--out", (dir.path() / "out").string(), "--quiet-timeout", "10s"},
      dir.path() / "drill.log");
  ASSERT_GT(pid, 0);
  const int port = stampede::testing::dashboard_port(dir.path() / "drill.log");
  ASSERT_GT(port, 0) << read_text(dir.path() / "drill.log");
  const json::object r = watch("http://127.0.0.1:" + std::to_string(port) + "/",
                               screenshot_dir / "drill_live.png", dir.path() / "chromium.log");
  EXPECT_EQ(stampede::testing::wait_bounded(pid, 60s, 2s), 0) << read_text(dir.path() / "drill.log");
  ASSERT_FALSE(r.empty());
  EXPECT_TRUE(r.at("errors").as_array().empty()) << json::serialize(r.at("errors"));
  EXPECT_TRUE(r.at("foreign_requests").as_array().empty()) << json::serialize(r.at("foreign_requests"));
  const json::object& ended = r.at("ended").as_object();
  EXPECT_EQ(ended.at("ended").as_string(), "The run ended: passed");
  EXPECT_GT(ended.at("fault_bands").to_number<int64_t>(), 0);
  ASSERT_EQ(ended.at("faults").as_array().size(), 1u);
  EXPECT_EQ(ended.at("faults").as_array()[0].as_array()[0].as_string(), "edge +30ms");
  EXPECT_TRUE(ended.at("shards").as_array().empty());  // one process: no shards table
  EXPECT_GT(fs::file_size(screenshot_dir / "drill_live.png"), 10'000u);
}

}  // namespace
