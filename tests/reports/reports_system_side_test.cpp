// The system side in the reports (reports/system_report.h): per-server shares before, during and after the
// fault, the health changes, the queue/cache/database line and the HTML charts from drill.system; nothing
// for results without it; no crash on a section of the wrong shape.
#include "reports/system_report.h"

#include <gtest/gtest.h>

#include <string>

#include <boost/json.hpp>

#include "reports/formats.h"
#include "synthetic_results.h"

namespace {

namespace json = boost::json;
using namespace stampede::reports;
namespace synthetic = stampede::reports::testing;

// The synthetic game day (a fault from 20 s to 30 s) with `system` as drill.system.
run_results with_system(const json::value& system) {
  json::value doc = json::parse(synthetic::build_results_text(synthetic::game_day_run()));
  doc.as_object()["drill"] = json::object{{"system", system}};
  return parse_results(json::serialize(doc));
}

// node1 serves 10 requests a second throughout; node2 10 until 20 s, then none and DOWN (a gap at 35 s);
// the queue holds 7 messages at 25 s; 2 dead letters at the end; 9 cache hits for 1 miss a second.
json::object known_system() {
  json::array node1, node2, seconds;
  for (int t = 1; t <= 40; ++t) {
    node1.push_back(
        json::object{{"t", t}, {"requests", 10}, {"errors_5xx", 0}, {"sessions", 1}, {"status", "UP"}});
    if (t == 35) {
      node2.push_back(json::object{{"t", t}, {"gap", true}});
    } else {
      node2.push_back(json::object{{"t", t},
                                   {"requests", t <= 20 ? 10 : 0},
                                   {"errors_5xx", 0},
                                   {"sessions", 0},
                                   {"status", t <= 20 ? "UP" : "DOWN"}});
    }
    seconds.push_back(json::object{{"t", t},
                                   {"nodes_answered", t <= 20 ? 2 : 1},
                                   {"queue_depth", t == 25 ? 7 : 0},
                                   {"dead_letters", t >= 30 ? 2 : 0},
                                   {"cache_hits", 9},
                                   {"cache_misses", 1},
                                   {"cache_hit_ratio", 0.9},
                                   {"db_running", 0},
                                   {"db_waiting", 0},
                                   {"db_shed", nullptr}});
  }
  return {{"interval_s", 1},
          {"readings", 41},
          {"haproxy_gaps", 0},
          {"servers", json::array{json::object{{"name", "node1"}, {"backend", "nodes"}, {"seconds", node1}},
                                  json::object{{"name", "node2"}, {"backend", "nodes"}, {"seconds", node2}}}},
          {"health_changes", json::array{json::object{{"t", 20.5},
                                                      {"server", "node2"},
                                                      {"backend", "nodes"},
                                                      {"from", "UP"},
                                                      {"to", "DOWN"},
                                                      {"check_status", "L4CON"}}}},
          {"seconds", seconds}};
}

TEST(reports_system_side, markdown_shows_the_traffic_moving_and_the_health_change) {
  const auto r = with_system(known_system());
  const std::string md = render_system_markdown(r);
  EXPECT_NE(md.find("41 readings; HAProxy did not answer 0 of them"), std::string::npos) << md;
  // Rows end at t and cover the second before it: before the fault t <= 20, during it 21..31 (+1 s for the
  // row that ends after the heal), after it 32..40.
  EXPECT_NE(md.find("| node1 | 400 | 0 | 10 | 10 | 10 | UP | 0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| node2 | 200 | 0 | 10 | 0 | 0 | DOWN | 1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 20.5 s | node2 UP → DOWN (L4CON) |"), std::string::npos) << md;
  EXPECT_NE(
      md.find("Order queue depth: peak 7 (at 25 s), at the end 0. Dead letters at the end: 2. Cache hit "
              "ratio: 90%. Database requests waiting for a worker: peak 0; shed: 0."),
      std::string::npos)
      << md;
  EXPECT_NE(render_markdown(r).find("### System side"), std::string::npos);
}

TEST(reports_system_side, html_draws_requests_per_server_with_the_fault_and_the_health_change) {
  const std::string html = render_html(with_system(known_system()));
  EXPECT_NE(html.find("<h2>System side</h2>"), std::string::npos);
  EXPECT_NE(html.find("<figure class=\"chart\" id=\"chart-system-servers\">"), std::string::npos);
  EXPECT_NE(html.find("<figure class=\"chart\" id=\"chart-system-queue\">"), std::string::npos);
  EXPECT_NE(html.find("<title>node1</title></polyline>"), std::string::npos);
  EXPECT_NE(html.find("<figure class=\"chart\" id=\"chart-system-share\">"), std::string::npos);
  EXPECT_NE(html.find("stroke=\"#cf222e\""), std::string::npos);  // the DOWN mark in red
  EXPECT_NE(html.find("<title>node2 UP → DOWN (L4CON)</title></line>"), std::string::npos);
  EXPECT_NE(html.find("health change (red: down, green: up)"), std::string::npos);
  EXPECT_NE(html.find("<table id=\"health-changes\">"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"text bad\">node2 UP → DOWN (L4CON)</td>"), std::string::npos);
}

TEST(reports_system_side, nothing_happened_says_so) {
  json::object system = known_system();
  system["health_changes"] = json::array{};
  const auto r = with_system(system);
  EXPECT_NE(render_system_markdown(r).find("Health changes: none (every server kept its state)."),
            std::string::npos);
  EXPECT_NE(render_html(r).find("<p id=\"health-changes\">Health changes: none"), std::string::npos);
}

TEST(reports_system_side, absent_or_misshapen_sections) {
  const run_results plain = parse_results(synthetic::build_results_text(synthetic::game_day_run()));
  EXPECT_EQ(render_system_markdown(plain), "");
  EXPECT_EQ(render_system_html(plain), "");
  EXPECT_EQ(render_markdown(plain).find("System side"), std::string::npos);
  EXPECT_EQ(render_system_markdown(with_system(json::array{1, 2})), "");
  // Wrong types read as absent: a section with nothing usable, no crash.
  const auto odd = with_system(json::parse(
      R"({"interval_s":"x","readings":-1,"servers":[5,{"name":3,"seconds":[null,{"t":"a"},{"t":1,"requests":"x"}]}],
          "health_changes":[1,"x",{"t":"a"}],"seconds":[null,{"t":"x"},{"t":2,"queue_depth":"deep"}]})"));
  const std::string md = render_system_markdown(odd);
  EXPECT_NE(md.find("### System side"), std::string::npos);
  EXPECT_FALSE(render_system_html(odd).empty());
}

}  // namespace
