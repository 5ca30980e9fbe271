// The alert webhook receiver (reference_shop/alert_webhook.h): an Alertmanager notification becomes one JSON
// line per alert with the receipt time; a body that is not one is kept as an error line; over HTTP, lines are
// appended in order. Observability config rendering: the scrape targets and the webhook route.
#include "reference_shop/alert_webhook.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "common/http_client.h"
#include "reference_shop/observability.h"
#include "tests/support/child_process.h"

namespace stampede::shop {
namespace {

namespace json = boost::json;

// Alertmanager 0.25's webhook body (version 4), abridged to the fields it always sends.
constexpr std::string_view notification = R"({
  "version": "4", "groupKey": "{}:{alertname=\"ShopNodeDown\"}", "status": "firing", "receiver": "stampede",
  "groupLabels": {"alertname": "ShopNodeDown"}, "commonLabels": {}, "commonAnnotations": {},
  "externalURL": "http://127.0.0.1:9093", "truncatedAlerts": 0,
  "alerts": [
    {"status": "firing", "labels": {"alertname": "ShopNodeDown", "node": "node2", "rules": "drill"},
     "annotations": {"summary": "Shop node node2 does not answer"}, "startsAt": "2026-12-06T18:30:00.5Z",
     "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://x", "fingerprint": "a1"},
    {"status": "resolved", "labels": {"alertname": "ShopEdgeDown"}, "annotations": {},
     "startsAt": "2026-12-06T18:29:00Z", "endsAt": "2026-12-06T18:29:30Z", "generatorURL": "", "fingerprint": "b2"}
  ]})";

std::vector<json::object> parse_lines(const std::string& text) {
  std::vector<json::object> out;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line).as_object());
  return out;
}

TEST(alert_webhook, each_alert_of_a_notification_is_one_line_with_its_times) {
  const std::string text = alert_lines(notification, 1796581801123);  // 2026-12-06T18:30:01.123Z
  ASSERT_EQ(text.back(), '\n');
  const auto lines = parse_lines(text);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].at("received_at"), "2026-12-06T18:30:01.123Z");
  EXPECT_EQ(lines[0].at("received_at_ms").as_int64(), 1796581801123);
  EXPECT_EQ(lines[0].at("status"), "firing");
  EXPECT_EQ(lines[0].at("alertname"), "ShopNodeDown");
  EXPECT_EQ(lines[0].at("starts_at"), "2026-12-06T18:30:00.5Z");
  EXPECT_EQ(lines[0].at("labels").at("node"), "node2");
  EXPECT_EQ(lines[0].at("annotations").at("summary"), "Shop node node2 does not answer");
  EXPECT_EQ(lines[0].at("fingerprint"), "a1");
  EXPECT_EQ(lines[0].at("receiver"), "stampede");
  EXPECT_EQ(lines[1].at("status"), "resolved");
  EXPECT_EQ(lines[1].at("alertname"), "ShopEdgeDown");
  EXPECT_EQ(lines[1].at("ends_at"), "2026-12-06T18:29:30Z");
}

TEST(alert_webhook, a_body_that_is_no_notification_is_kept_as_an_error_line) {
  for (std::string_view body : {std::string_view{"not json"}, std::string_view{R"({"alerts": 3})"}}) {
    const auto lines = parse_lines(alert_lines(body, 0));
    ASSERT_EQ(lines.size(), 1u) << body;
    EXPECT_EQ(lines[0].at("received_at"), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(lines[0].at("body").as_string(), body);
    EXPECT_NE(lines[0].at("error").as_string().find("not an Alertmanager notification"), std::string::npos);
  }
}

TEST(alert_webhook, notifications_over_http_are_appended_to_the_log) {
  testing::temp_dir dir;
  alert_webhook hook{dir.path() / "alerts.jsonl"};
  hook.start();
  ASSERT_NE(hook.port(), 0);
  EXPECT_EQ(hook.url(), "http://127.0.0.1:" + std::to_string(hook.port()) + "/alerts");
  http::blocking_client client{"127.0.0.1", hook.port(), std::chrono::seconds{5}};
  EXPECT_EQ(client.post_json("/alerts", notification).status, 200);
  EXPECT_EQ(client.post_json("/alerts", notification).status, 200);
  EXPECT_EQ(client.get("/alerts").status, 405);
  hook.stop();
  const auto lines = parse_lines(testing::read_text(dir.path() / "alerts.jsonl"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2].at("alertname"), "ShopNodeDown");
  EXPECT_LE(lines[0].at("received_at_ms").as_int64(), lines[3].at("received_at_ms").as_int64());
}

TEST(observability_config, prometheus_scrapes_each_target_with_its_labels_every_second) {
  const std::string text = render_prometheus_config({{"haproxy", "127.0.0.1:9000", {}},
                                                     {"shop_node", "127.0.0.1:9001", {{"node", "node1"}}},
                                                     {"shop_node", "127.0.0.1:9002", {{"node", "node2"}}}},
                                                    "/d/observe/shop_rules_drill.yml", 9093);
  EXPECT_NE(text.find("scrape_interval: 1s"), std::string::npos);
  EXPECT_NE(text.find("  - '/d/observe/shop_rules_drill.yml'"), std::string::npos);
  EXPECT_NE(text.find("targets: ['127.0.0.1:9093']"), std::string::npos);
  EXPECT_NE(text.find("  - job_name: 'haproxy'\n    static_configs:\n      - targets: ['127.0.0.1:9000']\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  - job_name: 'shop_node'\n    static_configs:\n      - targets: ['127.0.0.1:9001']\n"
                      "        labels:\n          node: 'node1'\n      - targets: ['127.0.0.1:9002']\n"),
            std::string::npos)
      << text;
}

TEST(observability_config, the_nodes_job_can_read_its_targets_from_a_file) {
  const std::string text = render_prometheus_config(
      {{"haproxy", "127.0.0.1:9000", {}}, {"shop_node", "127.0.0.1:9001", {{"node", "node1"}}}},
      "/d/observe/rules.yml", 9093, {{"shop_node", "/d/observe/shop_nodes.json"}});
  EXPECT_NE(
      text.find(
          "  - job_name: 'shop_node'\n    file_sd_configs:\n      - files: ['/d/observe/shop_nodes.json']\n"
          "        refresh_interval: 1s\n"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("127.0.0.1:9001"), std::string::npos) << text;  // in the file, not here
  EXPECT_NE(text.find("  - job_name: 'haproxy'\n    static_configs:\n"), std::string::npos) << text;
  EXPECT_EQ(render_file_sd({{"shop_node", "127.0.0.1:9001", {{"node", "node1"}}},
                            {"shop_node", "127.0.0.1:9002", {{"node", "node4"}}}}),
            R"([{"targets":["127.0.0.1:9001"],"labels":{"node":"node1"}},)"
            R"({"targets":["127.0.0.1:9002"],"labels":{"node":"node4"}}])"
            "\n");
  EXPECT_EQ(render_file_sd({}), "[]\n");
}

TEST(observability_config, alertmanager_routes_every_alert_to_the_webhook) {
  const std::string drill = render_alertmanager_config("http://127.0.0.1:5000/alerts", "drill");
  EXPECT_NE(drill.find("url: 'http://127.0.0.1:5000/alerts'"), std::string::npos);
  EXPECT_NE(drill.find("group_wait: 1s"), std::string::npos);
  EXPECT_NE(drill.find("send_resolved: true"), std::string::npos);
  EXPECT_NE(render_alertmanager_config("u", "production").find("group_wait: 30s"), std::string::npos);
}

TEST(observability_config, both_rule_sets_are_compiled_in) {
  EXPECT_TRUE(valid_rule_set("drill"));
  EXPECT_TRUE(valid_rule_set("production"));
  EXPECT_FALSE(valid_rule_set("weekly"));
  EXPECT_NE(shipped_rules("drill").find("name: shop-alerts-drill"), std::string_view::npos);
  EXPECT_NE(shipped_rules("production").find("name: shop-alerts\n"), std::string_view::npos);
  EXPECT_NE(shipped_rules("production").find("alert: ShopNodeDown"), std::string_view::npos);
}

}  // namespace
}  // namespace stampede::shop
