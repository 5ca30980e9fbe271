// Elasticity in the reports (results.drill.autoscale of the autoscale game day, docs/RESULTS.md): one run's
// figures (time to scale, SLO-violation seconds, node-seconds, peak nodes, decisions, lost acknowledged
// orders) in its Markdown/HTML report and its nodes over time on the HTML time charts; and several runs
// side by side (`stampede report --autoscale FIXED.json RULE.json PREDICTIVE.json`). Empty strings / no
// points when a results file has no such section (older files, other drills). Internal to stampede::reports.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "reports/results.h"

namespace stampede::reports {

std::string render_autoscale_markdown(const run_results& r);
std::string render_autoscale_html(const run_results& r);

// The nodes alive as a step curve over the run's seconds ([t, nodes] points, a vertical step at each change);
// empty without results.drill.autoscale.
std::vector<std::pair<double, double>> autoscale_node_curve(const run_results& r);
// "rule", "predictive", "off" (fixed capacity); empty without the section.
std::string autoscale_mode(const run_results& r);

// Runs side by side, one row each, named by `names` (for example the files' paths): a Markdown table or a
// self-contained HTML page with the table and every run's nodes over time. Throws results_error naming the
// run whose results have no measured results.drill.autoscale.
std::string render_autoscale_comparison_markdown(const std::vector<run_results>& runs,
                                                 const std::vector<std::string>& names);
std::string render_autoscale_comparison_html(const std::vector<run_results>& runs,
                                             const std::vector<std::string>& names);

}  // namespace stampede::reports
