// A time chart of the HTML report (html.cpp draws it as every other time chart: the run's fault bands,
// the same axes and palette) for sections rendered elsewhere (system_report.cpp). Internal to
// stampede::reports.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "reports/alerts_report.h"
#include "reports/results.h"

namespace stampede::reports {

struct time_chart_line {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (seconds since the start, value); NaN: no value
  bool dashed = false;
};

struct time_chart_spec {
  std::string id, title, unit;
  double x_min = 0, x_max = 1;
  std::vector<time_chart_line> lines;  // coloured in the report's palette, in order
  std::vector<alert_mark> marks;       // vertical marks (alert_mark::color when set)
  std::string marks_legend;            // the legend of the marks (empty: the alerts' legend)
};

// The chart's figure (inline SVG and legend), with a band per fault of `r`.
std::string render_time_chart(const run_results& r, const time_chart_spec& spec);

}  // namespace stampede::reports
