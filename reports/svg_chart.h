// The report's charts (inline SVG: axes, fault bands, marks, legend) and stylesheet, shared by the HTML
// report (html.cpp, system_report.cpp) and the live dashboard (dashboard/), which draws the same charts
// from a run still going. A library of its own (stampede::report_charts) so that the dashboard, which
// loadgen links, does not pull in the reports.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace stampede::reports {

// A vertical mark on a time chart: an alert episode at its firing time (alerts_report.h), or another event
// drawn the same way (a server's health change).
struct alert_mark {
  double t_s = 0;
  std::string label;  // "ShopNodeDown firing"
  bool false_alarm = false;
  std::string color;  // other marks drawn the same way (a server's health change); empty: the alerts' colours
};

struct point {
  double x, y;
};

struct series {
  std::string name;
  std::string color;
  std::vector<point> points;
  bool dashed = false;
};

struct band {
  double from, to;
  std::string label;
};

struct axis_tick {
  double value;
  std::string label;
};

struct chart {
  std::string id;
  std::string title;
  std::string y_unit;
  double x_min = 0, x_max = 1;
  bool log_y = false;
  bool time_axis = true;
  std::vector<series> lines;
  std::vector<band> bands;
  std::vector<alert_mark> alerts;  // `drill --observe`: a line where each alert fired
  std::string alerts_legend;       // other marks (render_time_chart); empty: the alerts' legend
  std::vector<axis_tick> x_ticks;  // for non-time axes
};

// The chart's figure: inline SVG and its legend.
std::string render_chart(const chart& c);

// The report's line colours, in order.
extern const char* const palette[10];

// The report's stylesheet (the dashboard's page uses it as is).
extern const char* const report_css;

// One point of the "over time" charts: a second, or a bucket of k seconds (rates: per-second means,
// latencies: the bucket's maximum), at `t` seconds since the start.
struct time_row {
  double t;
  double requests, errors, p50, p90, p99, max, vus, dropped;
  std::map<std::string, double> errors_by_kind;
};

struct over_time_input {
  std::vector<time_row> rows;  // in time order, equally spaced
  double x_min = 0, x_max = 1;
  std::vector<band> bands;         // faults
  std::vector<alert_mark> alerts;  // marks
  bool show_dropped = false;       // the dropped iterations' line on the VUs' chart
};

// The four time charts of the report's "Over time" section: throughput, latency percentiles, errors by
// kind, VUs (with the bands and marks on each). Empty without rows.
std::string render_over_time_charts(const over_time_input& in);

}  // namespace stampede::reports
