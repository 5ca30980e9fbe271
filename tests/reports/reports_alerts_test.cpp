// Alerts per fault in the reports (reports/alerts_report.h): the table from drill.alerts, false alarms and
// missed faults, "not measured" when Prometheus could not be read, nothing for results without the section.
#include "reports/alerts_report.h"

#include <gtest/gtest.h>

#include <string>

#include <boost/json.hpp>

#include "reports/formats.h"
#include "synthetic_results.h"

namespace {

namespace json = boost::json;
using namespace stampede::reports;
namespace synthetic = stampede::reports::testing;

// The game day of the synthetic results with `alerts` as drill.alerts.
run_results with_alerts(const json::value& alerts) {
  json::value doc = json::parse(synthetic::build_results_text(synthetic::game_day_run()));
  doc.as_object()["drill"] = json::object{{"alerts", alerts}};
  return parse_results(json::serialize(doc));
}

const char* const measured = R"({"measured":true,"step_s":1,"grace_s":22,
  "episodes":[{"alertname":"ShopLatencyP99High","labels":"","first_s":1,"pending_s":1,"firing_s":null},
              {"alertname":"ShopNodeDown","labels":"node=node2","first_s":7,"pending_s":7,"firing_s":9}],
  "faults":[{"fault_id":1,"label":"node2 killed","start_s":5,"window_end_s":30,"first_pending_after_s":2,
             "first_firing_after_s":4,"first_notification_after_s":4.5,"fired":["ShopNodeDown"],
             "alerts":[{"alertname":"ShopNodeDown","labels":"node=node2","started_after_s":2,"pending_after_s":2,
                        "firing_after_s":4,"notified_after_s":4.5}]},
            {"fault_id":2,"label":"payment slow","start_s":40,"window_end_s":70,"first_pending_after_s":null,
             "first_firing_after_s":null,"first_notification_after_s":null,"fired":[],"alerts":[]}],
  "false_alarms":[{"alertname":"ShopLatencyP99High","labels":"","first_s":1,"pending_s":1,"firing_s":null}],
  "missed":[{"fault_id":2,"label":"payment slow"}]})";

TEST(reports_alerts, markdown_and_html_show_alerts_per_fault_false_alarms_and_missed) {
  const auto r = with_alerts(json::parse(measured));
  const std::string md = render_alerts_markdown(r);
  EXPECT_NE(md.find("| node2 killed | 2 s | 4 s | 4.5 s | ShopNodeDown |"), std::string::npos) << md;
  EXPECT_NE(md.find("| payment slow | - | - | - | **missed** |"), std::string::npos) << md;
  EXPECT_NE(md.find("False alarms: 1:\n- ShopLatencyP99High at 1 s (pending only)"), std::string::npos) << md;
  EXPECT_NE(md.find("Missed faults (no alert): 1"), std::string::npos) << md;
  EXPECT_NE(render_markdown(r).find("### Alerts per fault"), std::string::npos);
  const std::string html = render_html(r);
  EXPECT_NE(html.find("<table id=\"alerts\">"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"text bad\">missed</td>"), std::string::npos);
  EXPECT_NE(html.find("<li>ShopLatencyP99High at 1 s (pending only)</li>"), std::string::npos);
  // Marks on the time charts: the node's alert where it fired, the false alarm in red.
  const auto marks = alert_marks(r);
  ASSERT_EQ(marks.size(), 2u);
  EXPECT_EQ(marks[0].label, "ShopLatencyP99High pending");
  EXPECT_TRUE(marks[0].false_alarm);
  EXPECT_EQ(marks[1].label, "ShopNodeDown firing");
  EXPECT_DOUBLE_EQ(marks[1].t_s, 9);
  EXPECT_FALSE(marks[1].false_alarm);
  EXPECT_NE(html.find("<title>ShopNodeDown firing</title></line>"), std::string::npos);
  EXPECT_NE(html.find("<title>ShopLatencyP99High pending (false alarm)</title></line>"), std::string::npos);
}

TEST(reports_alerts, not_measured_says_why_and_no_section_says_nothing) {
  const auto r =
      with_alerts(json::parse(R"({"measured":false,"error":"alerts not measured: Prometheus down"})"));
  EXPECT_NE(render_alerts_markdown(r).find("alerts not measured: Prometheus down"), std::string::npos);
  EXPECT_NE(render_html(r).find("alerts not measured: Prometheus down"), std::string::npos);
  const auto plain = parse_results(synthetic::build_results_text(synthetic::game_day_run()));
  EXPECT_EQ(render_alerts_markdown(plain), "");
  EXPECT_EQ(render_alerts_html(plain), "");
  EXPECT_EQ(render_markdown(plain).find("Alerts per fault"), std::string::npos);
  EXPECT_TRUE(alert_marks(plain).empty());
  EXPECT_EQ(render_html(plain).find("class=\"alert\""), std::string::npos);
}

}  // namespace
