// The system side of `stampede drill` end to end (the real binary, a real shop behind HAProxy, no
// Prometheus): node2 killed under load shows in results.drill.system (its requests drop to 0, HAProxy marks
// it DOWN, the other servers go on) and in the reports; a run without a fault has no health change.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/drill_process.h"

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

using stampede::testing::read_text;
using stampede::testing::temp_dir;

// A drill on a fresh 3-node shop (up to 15 s of quiet wait) and the reports it wrote.
struct reported_run : stampede::testing::drill_run {
  std::string markdown, html;
};

reported_run drill(const std::string& scenario, const temp_dir& dir, const std::vector<std::string>& env) {
  std::vector<std::string> args{"--nodes", "3", "--quiet", "--quiet-timeout", "15s"};
  for (const auto& e : env) args.insert(args.end(), {"-e", e});
  reported_run r{stampede::testing::run_drill({.scenario = scenario,
                                               .dir = dir.path(),
                                               .args = std::move(args),
                                               .bound = std::chrono::seconds{90}}),
                 {},
                 {}};
  r.markdown = read_text(r.out / "summary.md");
  r.html = read_text(r.out / "report.html");
  return r;
}

const json::array& server_rows(const json::object& system, std::string_view name) {
  for (const auto& s : system.at("servers").as_array()) {
    if (s.at("name").as_string() == name) return s.at("seconds").as_array();
  }
  ADD_FAILURE() << "no server " << name << " in " << json::serialize(system.at("servers"));
  static const json::array none;
  return none;
}

// Requests of a server's rows whose second ends in (from, to].
int64_t requests_between(const json::array& rows, double from, double to) {
  int64_t sum = 0;
  for (const auto& row : rows) {
    const double t = row.at("t").to_number<double>();
    if (t > from && t <= to && !row.as_object().contains("gap"))
      sum += row.at("requests").to_number<int64_t>();
  }
  return sum;
}

TEST(drill_system_side, node_kill_shows_the_node_going_down_and_the_traffic_moving) {
  temp_dir dir{"stampede-system-side"};
  const auto r = drill(std::string(STAMPEDE_SOURCE_DIR) + "/scenarios/gameday_node_kill.lua", dir,
                       {"DURATION=12s", "FAULT_AT=4s", "FAULT_FOR=3s"});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_NE(r.code, 98) << r.log;
  const double kill_s = r.results.at("chaos").at(0).at("start_s").to_number<double>();
  const auto& system = r.results.at("drill").at("system").as_object();
  EXPECT_EQ(system.at("servers").as_array().size(), 3u) << json::serialize(system);
  const auto& node2 = server_rows(system, "node2");
  EXPECT_GT(requests_between(node2, 0, kill_s), 0) << json::serialize(node2);
  // From 2 s after the kill (HAProxy: down after 2 failed checks 250 ms apart) node2 serves nothing: every
  // row is 0 requests and DOWN.
  int after_rows = 0;
  for (const auto& row : node2) {
    if (row.at("t").to_number<double>() <= kill_s + 2.5 || row.as_object().contains("gap")) continue;
    ++after_rows;
    EXPECT_EQ(row.at("requests"), 0) << json::serialize(row);
    EXPECT_EQ(row.at("status"), "DOWN") << json::serialize(row);
  }
  EXPECT_GE(after_rows, 5) << json::serialize(node2);
  // node1 and node3 go on serving after the kill.
  for (const char* other : {"node1", "node3"}) {
    EXPECT_GT(requests_between(server_rows(system, other), kill_s + 2.5, kill_s + 8), 10) << other;
  }
  // One health change: node2 UP -> DOWN, within 3 s of the kill; nothing else changed.
  const auto& changes = system.at("health_changes").as_array();
  ASSERT_EQ(changes.size(), 1u) << json::serialize(changes);
  EXPECT_EQ(changes[0].at("server"), "node2");
  EXPECT_EQ(changes[0].at("from"), "UP");
  EXPECT_EQ(changes[0].at("to"), "DOWN");
  const double down_s = changes[0].at("t").to_number<double>();
  EXPECT_GE(down_s, kill_s - 0.5);
  EXPECT_LE(down_s, kill_s + 3);
  // Every node's /metrics answered before the kill; node2's not after it.
  for (const auto& row : system.at("seconds").as_array()) {
    const double t = row.at("t").to_number<double>();
    if (t < kill_s - 0.5) {
      EXPECT_EQ(row.at("nodes_answered"), 3) << json::serialize(row);
    } else if (t > kill_s + 1) {
      EXPECT_EQ(row.at("nodes_answered"), 2) << json::serialize(row);
      EXPECT_TRUE(row.at("queue_depth").is_number()) << json::serialize(row);
    }
  }
  // The reports show it.
  EXPECT_NE(r.markdown.find("### System side"), std::string::npos);
  EXPECT_NE(r.markdown.find("node2 UP → DOWN"), std::string::npos) << r.markdown;
  EXPECT_NE(r.html.find("id=\"chart-system-servers\""), std::string::npos);
  EXPECT_NE(r.html.find("<title>node2 UP → DOWN"), std::string::npos);
  EXPECT_NE(r.html.find("id=\"health-changes\""), std::string::npos);
}

TEST(drill_system_side, a_run_without_a_fault_has_no_health_change) {
  temp_dir dir{"stampede-system-side"};
  const auto r =
      drill(std::string(STAMPEDE_DRILL_TEST_SCENARIOS) + "/system_side_quiet.lua", dir, {"DURATION=6s"});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  const auto& system = r.results.at("drill").at("system").as_object();
  EXPECT_TRUE(system.at("health_changes").as_array().empty()) << json::serialize(system.at("health_changes"));
  EXPECT_EQ(system.at("haproxy_gaps"), 0);
  for (const char* node : {"node1", "node2", "node3"}) {
    const auto& rows = server_rows(system, node);
    EXPECT_GT(requests_between(rows, 0, 1e9), 0) << node;
    // "UP 1/2" (a check slow on a busy machine) is still up.
    for (const auto& row : rows) {
      EXPECT_EQ(std::string(row.at("status").as_string()).substr(0, 2), "UP")
          << node << " " << json::serialize(row);
    }
  }
  EXPECT_NE(r.markdown.find("Health changes: none"), std::string::npos) << r.markdown;
  // The quiet wait asked HAProxy before the queue: nothing still ran at the nodes at its end.
  const auto& quiet = r.results.at("drill").at("quiet");
  EXPECT_TRUE(quiet.at("drained").as_bool()) << json::serialize(quiet);
  EXPECT_EQ(quiet.at("sessions_at_nodes"), 0) << json::serialize(quiet);
}

}  // namespace
