#include "reports/html_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "common/hdr_histogram.h"
#include "reports/text_util.h"
#include "results/metric_series.h"

namespace stampede::reports {

namespace {

using results::metric_interval;
using results::metric_result;
using text::xml_escape;

constexpr double width = 960, height = 130, left = 62, right = 16, top = 10, bottom = 22;
constexpr size_t max_points = 600;  // more seconds than this are drawn in buckets
constexpr size_t max_charts = 40;   // the rest are listed in the table above only

struct line {
  line(const char* line_name, const char* line_color, bool is_dashed = false)
      : name(line_name), color(line_color), dashed(is_dashed) {}
  const char* name;
  const char* color;
  bool dashed;
  std::vector<std::pair<double, double>> points;  // (t_s, value)
};

// One figure: the lines on a shared linear y axis from 0 (or the lowest value, if negative) to the highest.
std::string figure(const std::string& title, const std::string& unit, double x_max,
                   const std::vector<line>& lines) {
  double lo = 0, hi = 0;
  for (const auto& l : lines) {
    for (const auto& [x, y] : l.points) {
      lo = std::min(lo, y);
      hi = std::max(hi, y);
    }
  }
  if (!(hi > lo)) hi = lo + 1;
  hi += (hi - lo) * 0.05;
  const double pw = width - left - right, ph = height - top - bottom;
  const double span = x_max > 0 ? x_max : 1;
  const auto sx = [&](double x) { return left + x / span * pw; };
  const auto sy = [&](double y) { return top + ph - (y - lo) / (hi - lo) * ph; };
  std::string svg = "<figure class=\"chart small\"><figcaption>" + xml_escape(title) +
                    " <span class=\"unit\">" + xml_escape(unit) + "</span></figcaption>\n";
  svg += text::format("<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", width, height) +
         xml_escape(title) + "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
  svg += text::format("<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", left,
                      top, pw, ph);
  for (const double v : {lo, (lo + hi) / 2, hi}) {
    svg += text::format("<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">", left - 6, sy(v) + 4) + text::num(v, 3) +
           "</text>\n";
  }
  svg += text::format("<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">0s</text>", left, height - 6);
  svg += text::format("<text class=\"xl end\" x=\"%.1f\" y=\"%.1f\">", width - right, height - 6) +
         text::num(x_max, 0) + "s</text>\n";
  for (const auto& l : lines) {
    if (l.points.empty()) continue;
    svg += std::string("<polyline class=\"line") + (l.dashed ? " dashed" : "") + "\" stroke=\"" + l.color +
           "\" points=\"";
    for (const auto& [x, y] : l.points) svg += text::format("%.1f,%.1f ", sx(x), sy(y));
    svg += "\"><title>" + std::string(l.name) + "</title></polyline>\n";
  }
  svg += "</svg>\n<div class=\"legend\">";
  for (const auto& l : lines) {
    svg += "<span><i style=\"background:" + std::string(l.color) + "\"" +
           (l.dashed ? " class=\"dashed\"" : "") + "></i>" + l.name + "</span>";
  }
  return svg + "</div></figure>\n";
}

// The series of one name in buckets of `bucket_s` seconds (merged exactly), by time.
std::vector<metric_interval> bucketed(const std::vector<const metric_interval*>& rows, int64_t bucket_s) {
  std::map<int64_t, metric_interval> out;
  for (const metric_interval* row : rows) {
    const int64_t t = row->t / bucket_s * bucket_s;
    auto [it, inserted] = out.try_emplace(t);
    if (inserted) {
      it->second.name = row->name;
      it->second.type = row->type;
      it->second.t = t;
    }
    results::merge_metric_interval(it->second, *row);
  }
  std::vector<metric_interval> v;
  for (auto& [t, row] : out) v.push_back(std::move(row));
  return v;
}

std::string chart_of(const metric_result& m, const std::vector<metric_interval>& rows, int64_t bucket_s,
                     double x_max) {
  const double half = static_cast<double>(bucket_s) / 2;  // points sit at the middle of their bucket
  const std::string per = bucket_s > 1 ? " (" + std::to_string(bucket_s) + " s buckets)" : "";
  const std::string unit = m.is_time ? "ms" : "";
  if (m.type == "trend") {
    line p50{"p50", "#1a7f37"}, p95{"p95", "#0969da"}, mx{"max", "#cf222e", true};
    for (const auto& r : rows) {
      const auto h = hdr_histogram::decode_base64(r.histogram);
      if (!h || h->total_count() == 0) continue;
      const double x = static_cast<double>(r.t) + half;
      p50.points.emplace_back(x, static_cast<double>(h->value_at_percentile(50)) / 1000.0);
      p95.points.emplace_back(x, static_cast<double>(h->value_at_percentile(95)) / 1000.0);
      mx.points.emplace_back(x, static_cast<double>(h->max()) / 1000.0);
    }
    return figure(m.name + " per second" + per, unit, x_max, {p50, p95, mx});
  }
  if (m.type == "counter") {
    line sum{"sum per second", "#0969da"};
    // A second without a row added nothing: 0, not a gap the line would bridge.
    auto row = rows.begin();
    const int64_t last = rows.empty() ? -1 : rows.back().t;
    for (int64_t t = 0; t <= last; t += bucket_s) {
      while (row != rows.end() && row->t < t) ++row;  // rows are aligned on buckets: never taken
      const bool has = row != rows.end() && row->t == t;
      sum.points.emplace_back(static_cast<double>(t) + half,
                              has ? row->count / static_cast<double>(bucket_s) : 0);
      if (has) ++row;
    }
    return figure(m.name + " per second" + per, "per second", x_max, {sum});
  }
  if (m.type == "rate") {
    line rate{"true / samples", "#0969da"};
    for (const auto& r : rows) {
      rate.points.emplace_back(
          static_cast<double>(r.t) + half,
          static_cast<double>(r.trues) / static_cast<double>(std::max<int64_t>(r.samples, 1)));
    }
    return figure(m.name + " per second" + per, "rate", x_max, {rate});
  }
  line last{"last", "#0969da"}, lo{"min", "#1a7f37", true}, hi{"max", "#cf222e", true};
  for (const auto& r : rows) {
    const double x = static_cast<double>(r.t) + half;
    last.points.emplace_back(x, r.value);
    lo.points.emplace_back(x, r.min);
    hi.points.emplace_back(x, r.max);
  }
  return figure(m.name + " per second" + per, unit, x_max, {last, lo, hi});
}

}  // namespace

std::string custom_metric_charts(const results::run_results& r) {
  if (r.metric_intervals.empty()) return {};
  std::map<std::string, std::vector<const metric_interval*>> by_name;
  int64_t last_t = 0;
  for (const auto& row : r.metric_intervals) {
    by_name[row.name].push_back(&row);
    last_t = std::max(last_t, row.t);
  }
  // t is at most 10^7 (decode checks it); a longer duration_s than that is not a run's: the axis ends there.
  const double x_max = std::clamp(r.duration_s, static_cast<double>(last_t + 1), 1e7 + 1);
  const auto seconds = static_cast<size_t>(std::ceil(x_max));
  const auto bucket_s = static_cast<int64_t>(std::max<size_t>(1, (seconds + max_points - 1) / max_points));
  std::string h = "<h2>Custom metrics over time</h2>\n";
  size_t drawn = 0;
  for (const auto& m :
       r.metrics) {  // in the order of the table: declaration, each metric then its sub-metrics
    const auto it = by_name.find(m.name);
    if (it == by_name.end()) continue;
    if (drawn++ == max_charts) {
      h += "<p><small>" + std::to_string(by_name.size() - max_charts) +
           " more series are not drawn.</small></p>\n";
      break;
    }
    h += chart_of(m, bucketed(it->second, bucket_s), bucket_s, x_max);
  }
  return h;
}

}  // namespace stampede::reports
