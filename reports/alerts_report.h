// Alerts per fault in the reports (results.drill.alerts of `stampede drill --observe`, docs/RESULTS.md):
// a table of the alerts each fault raised (first pending, firing, notification after its start), the false
// alarms and the missed faults. Empty strings when the results have no such section (older files, runs
// without --observe). Internal to stampede::reports.
#pragma once

#include <string>
#include <vector>

#include "reports/results.h"
#include "reports/svg_chart.h"

namespace stampede::reports {

std::string render_alerts_markdown(const run_results& r);
std::string render_alerts_html(const run_results& r);

// Marks for the time charts: each alert episode at its firing time (its pending time when it never fired),
// in seconds since the run's start; false_alarm when it started outside every fault's window.
std::vector<alert_mark> alert_marks(const run_results& r);

}  // namespace stampede::reports
