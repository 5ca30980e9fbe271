// Alerts per fault (drill/alerts.h): attribution on known series, Prometheus matrices and webhook lines,
// and a dead Prometheus reported, never a crash or a hang.
#include "drill/alerts.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "common/loopback.h"

namespace {

namespace json = boost::json;
using namespace stampede::drill;

const fault_window node_kill{1, "node2 killed", 5.0, 8.0};

TEST(drill_alerts, an_alert_3s_after_a_fault_is_attributed_to_it) {
  const std::vector<alert_episode> episodes{{"ShopNodeDown", "instance=x,node=node2", 8.0, 8.0, 10.0}};
  const std::vector<alert_notification> notes{{"ShopNodeDown", "instance=x,node=node2", "firing", 11.5},
                                              {"ShopNodeDown", "instance=x,node=node2", "resolved", 30}};
  const auto a = attribute_alerts({node_kill}, episodes, notes, 20);
  ASSERT_EQ(a.at("faults").as_array().size(), 1u);
  const auto& f = a.at("faults").at(0);
  EXPECT_EQ(f.at("fault_id"), 1);
  EXPECT_DOUBLE_EQ(f.at("first_pending_after_s").as_double(), 3.0);
  EXPECT_DOUBLE_EQ(f.at("first_firing_after_s").as_double(), 5.0);
  EXPECT_DOUBLE_EQ(f.at("first_notification_after_s").as_double(), 6.5);
  EXPECT_EQ(f.at("fired"), json::array({"ShopNodeDown"}));
  EXPECT_TRUE(a.at("false_alarms").as_array().empty());
  EXPECT_TRUE(a.at("missed").as_array().empty());
}

TEST(drill_alerts, an_alert_without_a_fault_is_a_false_alarm_and_a_fault_without_one_is_missed) {
  // Before the fault, and after its window (heal 8 s + grace 10 s).
  const std::vector<alert_episode> episodes{{"ShopLatencyP99High", "", 2.0, 2.0, std::nullopt},
                                            {"ShopHighErrorRatio", "", 40.0, 40.0, 45.0}};
  const auto a = attribute_alerts({node_kill}, episodes, {}, 10);
  ASSERT_EQ(a.at("false_alarms").as_array().size(), 2u);
  EXPECT_EQ(a.at("false_alarms").at(0).at("alertname"), "ShopLatencyP99High");
  EXPECT_EQ(a.at("false_alarms").at(1).at("alertname"), "ShopHighErrorRatio");
  ASSERT_EQ(a.at("missed").as_array().size(), 1u);
  EXPECT_EQ(a.at("missed").at(0).at("label"), "node2 killed");
  const auto& f = a.at("faults").at(0);
  EXPECT_TRUE(f.at("first_pending_after_s").is_null());
  EXPECT_TRUE(f.at("alerts").as_array().empty());
}

TEST(drill_alerts, the_grace_after_the_heal_still_counts) {
  const std::vector<alert_episode> episodes{{"ShopAvailabilityBudgetBurnSlow", "", 17.0, 17.0, 32.0}};
  EXPECT_TRUE(attribute_alerts({node_kill}, episodes, {}, 10).at("false_alarms").as_array().empty());
  EXPECT_EQ(attribute_alerts({node_kill}, episodes, {}, 5).at("false_alarms").as_array().size(), 1u);
}

TEST(drill_alerts, nothing_happened_reports_nothing) {
  const auto a = attribute_alerts({}, {}, {}, 20);
  EXPECT_TRUE(a.at("faults").as_array().empty());
  EXPECT_TRUE(a.at("false_alarms").as_array().empty());
  EXPECT_TRUE(a.at("missed").as_array().empty());
}

TEST(drill_alerts, episodes_from_a_prometheus_matrix) {
  // Run start at unix 1000. node2: pending 1008-1009, firing 1010-1012; then again pending at 1020 (a gap).
  const json::value result = json::parse(R"([
    {"metric":{"__name__":"ALERTS","alertname":"ShopNodeDown","alertstate":"pending","node":"node2"},
     "values":[[1008,"1"],[1009,"1"],[1020,"1"]]},
    {"metric":{"__name__":"ALERTS","alertname":"ShopNodeDown","alertstate":"firing","node":"node2"},
     "values":[[1010,"1"],[1011,"1"],[1012,"1"]]}])");
  const auto episodes = episodes_from_matrix(result, 1000, 1);
  ASSERT_EQ(episodes.size(), 2u);
  EXPECT_EQ(episodes[0].alertname, "ShopNodeDown");
  EXPECT_EQ(episodes[0].labels, "node=node2");
  EXPECT_DOUBLE_EQ(episodes[0].first_s, 8);
  EXPECT_DOUBLE_EQ(*episodes[0].pending_s, 8);
  EXPECT_DOUBLE_EQ(*episodes[0].firing_s, 10);
  EXPECT_DOUBLE_EQ(episodes[1].first_s, 20);
  EXPECT_FALSE(episodes[1].firing_s.has_value());
  EXPECT_TRUE(episodes_from_matrix(json::array{}, 1000, 1).empty());
  EXPECT_THROW(episodes_from_matrix(json::value("x"), 1000, 1), std::runtime_error);
}

TEST(drill_alerts, notifications_from_webhook_lines) {
  const std::string text =
      R"({"received_at_ms":1011500,"status":"firing","alertname":"ShopNodeDown","labels":{"alertname":"ShopNodeDown","node":"node2"}})"
      "\nnot json\n\n"
      R"({"received_at_ms":1030000,"status":"resolved","alertname":"ShopNodeDown","labels":{"alertname":"ShopNodeDown","node":"node2"}})"
      "\n";
  int skipped = 0;
  const auto n = notifications_from_jsonl(text, 1000, skipped);
  EXPECT_EQ(skipped, 1);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].labels, "node=node2");  // the same key as the ALERTS series
  EXPECT_DOUBLE_EQ(n[0].received_s, 11.5);
  EXPECT_EQ(n[1].status, "resolved");
}

json::value results_with_one_fault() {
  return json::parse(R"({"meta":{"start_unix_ms":1000000,"duration_s":18},
                          "chaos":[{"id":1,"label":"node2 killed","start_s":5,"end_s":8}]})");
}

TEST(drill_alerts, a_dead_prometheus_is_reported_not_a_crash) {
  // A port nothing listens on: connection refused at once.
  const uint16_t port = stampede::free_loopback_port();
  const json::value topology =
      json::parse(R"({"observability":{"rules":"drill","prometheus":{"url":"http://127.0.0.1:)" +
                  std::to_string(port) + R"("},"alert_webhook":{"log":"/nonexistent"}}})");
  const auto a = measure_alerts(results_with_one_fault(), topology, 20, std::chrono::milliseconds{500});
  EXPECT_FALSE(a.at("measured").as_bool());
  EXPECT_EQ(std::string(a.at("error").as_string()).rfind("alerts not measured: Prometheus", 0), 0u) << a;
  EXPECT_FALSE(measure_alerts(results_with_one_fault(), json::object{}).at("measured").as_bool());
}

TEST(drill_alerts, a_silent_prometheus_is_bounded_by_the_call_deadline) {
  // Listens and accepts into the backlog but never answers: the call's deadline ends it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const json::value topology =
      json::parse(R"({"observability":{"prometheus":{"url":"http://127.0.0.1:)" +
                  std::to_string(ntohs(addr.sin_port)) + R"("},"alert_webhook":{"log":""}}})");
  const auto a = measure_alerts(results_with_one_fault(), topology, 20, std::chrono::milliseconds{300});
  ::close(fd);
  EXPECT_FALSE(a.at("measured").as_bool());
  EXPECT_NE(std::string(a.at("error").as_string()).find("alerts not measured"), std::string::npos) << a;
}

}  // namespace
