// Elasticity in the reports (reports/autoscale_report.h): one run's autoscale table and its nodes chart,
// fixed vs rule vs predictive side by side in Markdown and HTML, a results file without the section refused
// by name, and nothing for results without it.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "reports/autoscale_report.h"
#include "reports/formats.h"
#include "synthetic_results.h"

namespace {

namespace json = boost::json;
using namespace stampede::reports;
namespace synthetic = stampede::reports::testing;

// The game day of the synthetic results with `autoscale` as drill.autoscale.
run_results with_autoscale(const json::value& autoscale) {
  json::value doc = json::parse(synthetic::build_results_text(synthetic::game_day_run()));
  doc.as_object()["drill"] = json::object{{"autoscale", autoscale}};
  return parse_results(json::serialize(doc));
}

const char* const fixed = R"({"measured":true,"mode":"off","initial_nodes":3,"duration_s":60,"step_s":20,
  "slo":{"checkout_step":"POST /api/orders","p99_ms":1000,"error_ratio":0.01},"time_to_scale_s":null,
  "time_to_scale_note":"no node was added","time_to_first_decision_s":null,"time_to_ready_s":null,
  "slo_violation_s":31,"slo_judged_s":60,"node_seconds":180,"peak_nodes":3,"nodes_added":0,"nodes_removed":0,
  "decisions":0,"scale_outs":0,"scale_ins":0,"lost_acknowledged_orders":0,"nodes_over_time":[[0,3],[60,3]]})";

const char* const rule = R"({"measured":true,"mode":"rule","min_nodes":2,"max_nodes":6,"initial_nodes":3,
  "duration_s":60,"step_s":20,"slo":{"checkout_step":"POST /api/orders","p99_ms":1000,"error_ratio":0.01},
  "time_to_scale_s":6.5,"time_to_first_decision_s":2,"time_to_ready_s":6,"slo_violation_s":9,"slo_judged_s":60,
  "node_seconds":251.25,"peak_nodes":6,"nodes_added":3,"nodes_removed":2,"decisions":3,"scale_outs":2,
  "scale_ins":1,"lost_acknowledged_orders":0,"nodes_over_time":[[0,3],[24,5],[30,6],[50,4],[60,4]]})";

TEST(reports_autoscale, one_run_has_its_table_in_markdown_and_html_and_its_nodes_on_a_chart) {
  const auto r = with_autoscale(json::parse(rule));
  const std::string md = render_autoscale_markdown(r);
  EXPECT_NE(md.find("### Autoscaling"), std::string::npos) << md;
  EXPECT_NE(md.find("| rule (2-6 nodes) | 6.5 s | 2 s | 9 of 60 | 251 | 6 | 3 (2 out, 1 in) | 0 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("p99 at most 1000 ms, error ratio at most 1%, no arrival dropped; the load step at 20 s"),
            std::string::npos)
      << md;
  EXPECT_NE(render_markdown(r).find("### Autoscaling"), std::string::npos);
  const std::string html = render_html(r);
  EXPECT_NE(html.find("<table id=\"autoscale\">"), std::string::npos);
  EXPECT_NE(html.find("id=\"chart-nodes\""), std::string::npos);
  EXPECT_NE(html.find("Shop nodes alive (rule)"), std::string::npos);
  // A step curve: each change drawn as a vertical step.
  const auto curve = autoscale_node_curve(r);
  ASSERT_EQ(curve.size(), 8u);
  EXPECT_EQ(curve[1], (std::pair<double, double>{24, 3}));
  EXPECT_EQ(curve[2], (std::pair<double, double>{24, 5}));
  EXPECT_EQ(curve.back(), (std::pair<double, double>{60, 4}));
}

TEST(reports_autoscale, fixed_capacity_says_no_node_was_added) {
  const auto r = with_autoscale(json::parse(fixed));
  const std::string md = render_autoscale_markdown(r);
  EXPECT_NE(
      md.find("| fixed capacity | - (no node was added) | - | 31 of 60 | 180 | 3 | 0 (0 out, 0 in) | 0 |"),
      std::string::npos)
      << md;
  EXPECT_NE(render_html(r).find("Shop nodes alive (fixed capacity)"), std::string::npos);
}

TEST(reports_autoscale, runs_side_by_side_in_markdown_and_html) {
  json::value pred = json::parse(rule);
  pred.as_object()["mode"] = "predictive";
  pred.as_object()["time_to_scale_s"] = 3.0;
  pred.as_object()["nodes_added_before_step"] = 1;  // ahead of the step: said beside the time to scale
  const std::vector<run_results> runs{with_autoscale(json::parse(fixed)), with_autoscale(json::parse(rule)),
                                      with_autoscale(pred)};
  const std::vector<std::string> names{"fixed.json", "rule.json", "predictive.json"};
  const std::string md = render_autoscale_comparison_markdown(runs, names);
  EXPECT_NE(md.find("| fixed.json | fixed capacity | - (no node was added) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| rule.json | rule (2-6 nodes) | 6.5 s |"), std::string::npos) << md;
  EXPECT_NE(md.find("| predictive.json | predictive (2-6 nodes) | 3 s (1 node added before the step) |"),
            std::string::npos)
      << md;
  const std::string html = render_autoscale_comparison_html(runs, names);
  EXPECT_NE(html.find("<table id=\"autoscale-compare\">"), std::string::npos);
  EXPECT_NE(html.find("<td>predictive.json</td><td>predictive (2-6 nodes)</td><td>3 s (1 node added before "
                      "the step)</td>"),
            std::string::npos)
      << html;
  size_t lines = 0;
  for (size_t at = html.find("<polyline"); at != std::string::npos; at = html.find("<polyline", at + 1))
    ++lines;
  EXPECT_EQ(lines, 3u);
}

TEST(reports_autoscale, a_run_without_the_section_is_refused_by_name_and_renders_nothing_alone) {
  const run_results plain = parse_results(synthetic::build_results_text(synthetic::game_day_run()));
  EXPECT_EQ(render_autoscale_markdown(plain), "");
  EXPECT_EQ(render_autoscale_html(plain), "");
  EXPECT_TRUE(autoscale_node_curve(plain).empty());
  EXPECT_EQ(render_html(plain).find("chart-nodes"), std::string::npos);
  try {
    render_autoscale_comparison_markdown({with_autoscale(json::parse(fixed)), plain},
                                         {"fixed.json", "plain.json"});
    FAIL();
  } catch (const results_error& e) {
    EXPECT_STREQ(e.what(), "plain.json: no drill.autoscale (not an autoscale game day's results)");
  }
  const auto failed =
      with_autoscale(json::object{{"measured", false}, {"error", "autoscale not measured: x"}});
  EXPECT_NE(render_autoscale_markdown(failed).find("autoscale not measured: x"), std::string::npos);
  EXPECT_THROW(render_autoscale_comparison_html({failed}, {"failed.json"}), results_error);
}

}  // namespace
