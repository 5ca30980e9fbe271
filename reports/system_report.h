// The system's side of a drill in the reports (results.drill.system of `stampede drill`, docs/RESULTS.md):
// requests per HAProxy server per second with the faults and the servers' health changes, a table of those
// changes, each server's share before, during and after the faults, and the order queue, cache and database
// per second. Empty strings when the results have no such section (runs, older files, own-system drills).
// Internal to stampede::reports.
#pragma once

#include <string>

#include "reports/results.h"

namespace stampede::reports {

std::string render_system_markdown(const run_results& r);
std::string render_system_html(const run_results& r);

}  // namespace stampede::reports
