// `stampede coordinate` with three local `stampede agent` processes (127.0.0.1), through the real binary:
// the barrier (start skew), the exact merge (equal to `stampede merge` of the agents' own results), central
// abortOnFail stopping every agent, a killed agent reported with its shard, a registration timeout naming the
// missing shards, and a bad token refused. Each case is bounded; all of them take ~20 s.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tests/distributed/distributed_run.h"
#include "tests/support/sanitizers.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using stampede::testing::distributed_run;
using stampede::testing::eventually;
using stampede::testing::load;
using stampede::testing::read_text;

// setup() and teardown() run once, on the coordinator; every agent gets setup()'s data (the path it
// requests).
constexpr const char* steady_script = R"lua(
options = { vus = 3, duration = "2s", thresholds = { http_req_duration = { "p(99)<10000" } } }
function setup()
  http.get("/status/201")
  return { path = "/hello" }
end
function default(data)
  http.get(data.path)
  sleep(0.02)
end
function teardown(data)
  http.get("/status/202")
end
)lua";

// A threshold no run can hold, judged on the merged view with abortOnFail: the coordinator stops the agents.
constexpr const char* aborting_script = R"lua(
options = { vus = 3, duration = "30s",
            thresholds = { http_req_duration = { { threshold = "p(99)<0.001", abortOnFail = true } } } }
function default()
  http.get("/hello")
  sleep(0.02)
end
)lua";

constexpr const char* long_script = R"lua(
options = { vus = 3, duration = "30s" }
function default()
  http.get("/hello")
  sleep(0.05)
end
)lua";

TEST_F(distributed_run, three_agents_start_together_and_merge_exactly) {
  const fs::path lua = write_script(steady_script);
  const pid_t coordinator =
      start_coordinator(lua, 3, {"--register-timeout", "20s", "--report", (dir.path() / "report").string()});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 30s), 0) << read_text(agent_log(i));
  ASSERT_EQ(stampede::testing::wait_bounded(coordinator, 30s), 0) << read_text(coordinator_log());

  const json::object merged = load(dir.path() / "merged.json");
  const json::object& d = merged.at("distributed").as_object();
  EXPECT_TRUE(d.at("complete").as_bool());
  // Start skew from each agent's recorded actual start (one clock here, so also from their own files).
  std::vector<int64_t> starts;
  int64_t requests = 0;
  for (int i = 0; i < 3; ++i) {
    const json::object shard = load(dir.path() / ("shard" + std::to_string(i) + ".json"));
    EXPECT_EQ(shard.at("meta").at("shard").at("index").as_int64(), i);
    EXPECT_EQ(shard.at("meta").at("shard").at("count").as_int64(), 3);
    starts.push_back(shard.at("meta").at("start_unix_ms").as_int64());
    requests += shard.at("summary").at("requests").as_int64();
  }
  const int64_t skew =
      *std::max_element(starts.begin(), starts.end()) - *std::min_element(starts.begin(), starts.end());
  EXPECT_LT(static_cast<double>(skew), 50.0 + stampede::testing::sanitizer_overhead_ms);
  EXPECT_LT(d.at("start_skew_ms").to_number<double>(), 50.0 + stampede::testing::sanitizer_overhead_ms);
  EXPECT_GT(requests, 100);
  EXPECT_EQ(merged.at("summary").at("requests").as_int64(), requests);
  EXPECT_EQ(server.hits("/hello"), static_cast<uint64_t>(requests));
  EXPECT_EQ(server.hits("/status/201"), 1u);              // setup(), once
  EXPECT_EQ(server.hits("/status/202"), 1u);              // teardown(), once
  EXPECT_EQ(d.at("live_requests").as_int64(), requests);  // the live merge saw every request
  EXPECT_NE(read_text(dir.path() / "report" / "report.html").find("<svg"), std::string::npos);

  // The same as `stampede merge` of the agents' own results: histogram and figures.
  const fs::path again = dir.path() / "again.json";
  ASSERT_EQ(stampede::testing::run_bounded({binary, "merge", (dir.path() / "shard0.json").string(),
                                            (dir.path() / "shard1.json").string(),
                                            (dir.path() / "shard2.json").string(), "-o", again.string()},
                                           dir.path() / "merge.log", 20s),
            0)
      << read_text(dir.path() / "merge.log");
  const json::object reference = load(again);
  EXPECT_EQ(merged.at("summary").at("histogram"), reference.at("summary").at("histogram"));
  EXPECT_EQ(merged.at("summary").at("latency_ms"), reference.at("summary").at("latency_ms"));
  EXPECT_EQ(merged.at("steps"), reference.at("steps"));
  EXPECT_EQ(merged.at("thresholds"), reference.at("thresholds"));
}

TEST_F(distributed_run, abort_on_fail_on_the_merged_view_stops_every_agent_within_two_seconds) {
  const fs::path lua = write_script(aborting_script);
  const pid_t coordinator = start_coordinator(lua, 3, {"--register-timeout", "20s"});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 20s), 0) << read_text(agent_log(i));
  ASSERT_EQ(stampede::testing::wait_bounded(coordinator, 20s), 99) << read_text(coordinator_log());

  const json::object merged = load(dir.path() / "merged.json");
  const json::object& d = merged.at("distributed").as_object();
  EXPECT_NE(std::string(d.at("stopped").as_string()).find("p(99)<0.001 crossed on the merged view"),
            std::string::npos);
  const double stopped_at = d.at("stopped_at_s").to_number<double>();
  for (int i = 0; i < 3; ++i) {
    const json::object shard = load(dir.path() / ("shard" + std::to_string(i) + ".json"));
    const double ran = shard.at("meta").at("duration_s").to_number<double>();
    EXPECT_LT(ran - stopped_at, 2.0 + stampede::testing::sanitizer_overhead_ms / 1000 * 10) << "shard " << i;
    EXPECT_EQ(shard.at("meta").at("aborted").at("reason").as_string(), "threshold");
  }
  EXPECT_LT(merged.at("meta").at("duration_s").to_number<double>(), 10.0);
}

TEST_F(distributed_run, a_killed_agent_is_reported_with_its_shard) {
  const fs::path lua = write_script(long_script);
  const pid_t coordinator = start_coordinator(lua, 3, {"--register-timeout", "20s", "--agent-timeout", "1s"});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  ASSERT_TRUE(eventually(
      [&] { return read_text(coordinator_log()).find("the load starts") != std::string::npos; }, 20s));
  std::this_thread::sleep_for(1500ms);
  ASSERT_EQ(kill(agents[1], SIGKILL), 0);
  EXPECT_EQ(stampede::testing::wait_bounded(agents[1], 5s), -1);
  EXPECT_EQ(stampede::testing::wait_bounded(coordinator, 15s), 110) << read_text(coordinator_log());
  for (int i : {0, 2})
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 10s), 0) << read_text(agent_log(i));
  const std::string log = read_text(coordinator_log());
  EXPECT_NE(log.find("shard 1 (agent a1) lost: no report for 1000 ms"), std::string::npos) << log;
  const json::object merged = load(dir.path() / "merged.json");
  const json::object& d = merged.at("distributed").as_object();
  EXPECT_FALSE(d.at("complete").as_bool());
  EXPECT_EQ(d.at("agents").at(1).at("state").as_string(), "lost");
  EXPECT_EQ(d.at("agents").at(0).at("state").as_string(), "finished");
  EXPECT_LT(merged.at("meta").at("duration_s").to_number<double>(), 10.0);  // the others were stopped
}

TEST_F(distributed_run, ctrl_c_on_the_coordinator_stops_every_agent_and_still_merges) {
  const fs::path lua = write_script(long_script);
  const pid_t coordinator = start_coordinator(lua, 3, {"--register-timeout", "20s"});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  ASSERT_TRUE(eventually(
      [&] { return read_text(coordinator_log()).find("the load starts") != std::string::npos; }, 20s));
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(kill(coordinator, SIGINT), 0);
  EXPECT_EQ(stampede::testing::wait_bounded(coordinator, 15s), 105) << read_text(coordinator_log());
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 10s), 0) << read_text(agent_log(i));
  const json::object merged = load(dir.path() / "merged.json");
  EXPECT_TRUE(merged.at("distributed").at("complete").as_bool());
  EXPECT_EQ(merged.at("distributed").at("stopped").as_string(), "coordinator: interrupted by a signal");
  EXPECT_LT(merged.at("meta").at("duration_s").to_number<double>(), 10.0);
  for (int i = 0; i < 3; ++i) {
    const json::object shard = load(dir.path() / ("shard" + std::to_string(i) + ".json"));
    EXPECT_EQ(shard.at("meta").at("aborted").at("reason").as_string(), "coordinator");
  }
}

TEST_F(distributed_run, sigterm_on_an_agent_stops_its_shard_which_still_hands_in) {
  const fs::path lua = write_script(R"lua(
options = { vus = 3, duration = "3s" }
function default()
  http.get("/hello")
  sleep(0.05)
end
)lua");
  const pid_t coordinator = start_coordinator(lua, 3, {"--register-timeout", "20s"});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  ASSERT_TRUE(eventually(
      [&] { return read_text(coordinator_log()).find("the load starts") != std::string::npos; }, 20s));
  std::this_thread::sleep_for(2s);  // the start delay (1 s), then a second of load
  ASSERT_EQ(kill(agents[0], SIGTERM), 0);
  EXPECT_EQ(stampede::testing::wait_bounded(agents[0], 10s), 105) << read_text(agent_log(0));
  for (int i : {1, 2})
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 10s), 0) << read_text(agent_log(i));
  EXPECT_EQ(stampede::testing::wait_bounded(coordinator, 10s), 105) << read_text(coordinator_log());
  const json::object merged = load(dir.path() / "merged.json");
  EXPECT_TRUE(merged.at("distributed").at("complete").as_bool());
  EXPECT_EQ(merged.at("distributed").at("agents").at(0).at("exit_code").as_int64(), 105);
  const json::object shard0 = load(dir.path() / "shard0.json");
  EXPECT_EQ(shard0.at("meta").at("aborted").at("reason").as_string(), "signal");
  EXPECT_LT(shard0.at("meta").at("duration_s").to_number<double>(), 2.5);
}

TEST_F(distributed_run, a_shard_that_aborts_stops_every_agent) {
  // Shard 0 holds VU 1 (VU ids are split over the shards); it aborts after a second of load.
  const fs::path lua = write_script(R"lua(
options = { vus = 3, duration = "30s" }
function default()
  http.get("/hello")
  if vu.id == 1 and vu.iteration >= 20 then stampede.abort("enough") end
  sleep(0.05)
end
)lua");
  const pid_t coordinator = start_coordinator(lua, 3, {"--register-timeout", "20s"});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 3; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  for (int i = 0; i < 3; ++i) stampede::testing::wait_bounded(agents[i], 20s);
  EXPECT_EQ(stampede::testing::wait_bounded(coordinator, 20s), 108) << read_text(coordinator_log());
  const json::object merged = load(dir.path() / "merged.json");
  const std::string stopped(merged.at("distributed").at("stopped").as_string());
  EXPECT_NE(stopped.find("aborted: "), std::string::npos) << stopped;
  EXPECT_NE(stopped.find("enough"), std::string::npos) << stopped;
  EXPECT_LT(merged.at("meta").at("duration_s").to_number<double>(), 10.0);
  for (int i = 0; i < 3; ++i) {
    const json::object shard = load(dir.path() / ("shard" + std::to_string(i) + ".json"));
    EXPECT_LT(shard.at("meta").at("duration_s").to_number<double>(), 10.0) << "shard " << i;
  }
}

TEST_F(distributed_run, a_registration_timeout_names_the_missing_shards) {
  const fs::path lua = write_script(steady_script);
  const pid_t coordinator = start_coordinator(lua, 3, {"--register-timeout", "1s"});
  ASSERT_FALSE(url.empty());
  const pid_t agent = start_agent(1, {"--shard-hint", "1"});
  EXPECT_EQ(stampede::testing::wait_bounded(coordinator, 10s), 110);
  EXPECT_EQ(stampede::testing::wait_bounded(agent, 10s), 110) << read_text(agent_log(1));
  EXPECT_NE(
      read_text(coordinator_log()).find("1 of 3 agents registered within 1000 ms; missing shards: 0, 2"),
      std::string::npos)
      << read_text(coordinator_log());
  EXPECT_NE(read_text(agent_log(1)).find("missing shards: 0, 2"), std::string::npos)
      << read_text(agent_log(1));
  EXPECT_EQ(server.total_hits(), 0u);  // nothing ran
}

TEST_F(distributed_run, a_bad_token_is_refused) {
  const fs::path lua = write_script(steady_script);
  const pid_t coordinator = start_coordinator(lua, 1, {"--register-timeout", "2s", "--token", "right"});
  ASSERT_FALSE(url.empty());
  const pid_t agent = start_agent(0, {"--token", "wrong"});
  EXPECT_EQ(stampede::testing::wait_bounded(agent, 10s), 111);
  EXPECT_NE(read_text(agent_log(0)).find("refused by the coordinator: a missing or wrong token"),
            std::string::npos)
      << read_text(agent_log(0));
  EXPECT_EQ(stampede::testing::wait_bounded(coordinator, 10s), 110);
  EXPECT_NE(read_text(coordinator_log()).find("missing shards: 0"), std::string::npos);
  EXPECT_EQ(server.total_hits(), 0u);
}

TEST_F(distributed_run, a_data_file_the_scenario_opens_reaches_every_agent) {
  // data/codes.csv sits beside the scenario on the coordinator only; each agent requests what it lists.
  fs::create_directories(dir.path() / "data");
  { std::ofstream(dir.path() / "data" / "codes.csv") << "code\n203\n204\n"; }
  const fs::path lua = write_script(R"lua(
local codes = csv.parse(open("data/codes.csv"))
options = { vus = 2, iterations = 8 }
function default()
  http.get("/status/" .. codes[(vu.iteration % #codes) + 1].code)
end
)lua");
  const pid_t coordinator = start_coordinator(lua, 2, {"--register-timeout", "20s"});
  ASSERT_FALSE(url.empty());
  std::vector<pid_t> agents;
  for (int i = 0; i < 2; ++i) agents.push_back(start_agent(i, {"--shard-hint", std::to_string(i)}));
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(stampede::testing::wait_bounded(agents[i], 30s), 0) << read_text(agent_log(i));
  ASSERT_EQ(stampede::testing::wait_bounded(coordinator, 30s), 0) << read_text(coordinator_log());
  EXPECT_NE(read_text(coordinator_log()).find("1 data file(s) read by the scenario go to every agent"),
            std::string::npos);
  EXPECT_EQ(server.hits("/status/203") + server.hits("/status/204"), 8u);
  EXPECT_GT(server.hits("/status/203"), 0u);
  EXPECT_GT(server.hits("/status/204"), 0u);
}

TEST_F(distributed_run, a_data_file_over_the_bound_is_refused_before_any_agent_runs) {
  { std::ofstream(dir.path() / "big.bin") << std::string(33u * 1024 * 1024, 'x'); }
  const fs::path lua = write_script(R"lua(
local big = open("big.bin")
options = { vus = 1, iterations = 1 }
function default() http.get("/hello") end
)lua");
  const fs::path log = dir.path() / "refused.log";
  EXPECT_EQ(stampede::testing::run_bounded({binary, "coordinate", lua.string(), "--shards", "1", "--listen",
                                            "127.0.0.1:0", "--register-timeout", "1s"},
                                           log, 20s),
            104);
  EXPECT_NE(
      read_text(log).find("the scenario's data files take 34603008 bytes, more than the 33554432 bytes"),
      std::string::npos)
      << read_text(log);
}

}  // namespace
