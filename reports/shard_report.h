// The shard game days in the reports (results.drill.shards of a drill on `stampede shop --shards K`,
// docs/RESULTS.md): cross-shard orders per outcome (committed, aborted, compensated, resolved by recovery,
// still in doubt) and how long transactions stayed in doubt, in the Markdown and HTML reports. Empty strings
// when a results file has no such section. Internal to stampede::reports.
#pragma once

#include <string>

#include "reports/results.h"

namespace stampede::reports {

std::string render_shards_markdown(const run_results& r);
std::string render_shards_html(const run_results& r);

}  // namespace stampede::reports
