// The report's charts and stylesheet (svg_chart.h), drawn the same way for the HTML report and the live
// dashboard.
#include "reports/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "reports/text_util.h"

namespace stampede::reports {

using text::xml_escape;

const char* const palette[10] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                 "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};

const char* const report_css = R"css(
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);
 background:#f6f8fa;margin:0}
main{max-width:1010px;margin:0 auto;padding:20px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.meta{color:var(--muted);margin-bottom:14px}
.verdict{border-radius:8px;padding:14px 18px;margin:10px 0 14px;color:#fff}
.verdict.ok{background:var(--ok)}.verdict.bad{background:var(--bad)}
.verdict strong{font-size:22px;display:block}
.warning{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:8px 0}
table{border-collapse:collapse;width:100%;background:var(--bg);margin:6px 0}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:right;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.name,th.name,td.text{text-align:left}
td.ok{color:var(--ok);font-weight:600}td.bad{color:var(--bad);font-weight:600}td.unknown{color:var(--warn);font-weight:600}
tr.total td{font-weight:600;background:#f6f8fa}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px;margin:10px 0}
.tile{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 10px}
.tile b{display:block;font-size:20px}.tile span{color:var(--muted);font-size:12px}
figure.chart{background:var(--bg);border:1px solid var(--line);border-radius:6px;margin:10px 0;padding:8px 10px}
figcaption{font-weight:600}.unit{color:var(--muted);font-weight:400}
svg{width:100%;height:auto;display:block}
svg .grid{stroke:#eaeef2;stroke-width:1}svg .frame{fill:none;stroke:#afb8c1}
svg text{font-size:11px;fill:#59636e}svg .yl{text-anchor:end}svg .xl{text-anchor:middle}svg .xl.end{text-anchor:end}
svg .line{fill:none;stroke-width:1.6;stroke-linejoin:round}svg .dashed{stroke-dasharray:6 4}
svg .fault rect{fill:#cf222e;fill-opacity:.12;stroke:#cf222e;stroke-opacity:.5}svg .fault text{fill:#a40e26;font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:14px;color:var(--muted);font-size:12px}
.legend i{display:inline-block;width:16px;height:3px;margin-right:5px;vertical-align:middle}
.legend i.dashed{background-image:linear-gradient(90deg,transparent 50%,#fff 50%)!important;background-size:8px 3px}
.legend i.faultkey{height:10px;background:rgba(207,34,46,.15);border:1px solid rgba(207,34,46,.5)}
footer{color:var(--muted);margin-top:30px;font-size:12px}
small{color:var(--muted)}
)css";

namespace {

// Ticks at 1, 2, 5 x 10^k covering [lo, hi] with about `target` ticks.
std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> out;
  if (!(hi > lo)) hi = lo + 1;
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push_back(v);
  return out;
}

std::string time_label(double s, double span) {
  if (span <= 180) return text::num(s, 0) + "s";
  long total = std::lround(s);
  return std::to_string(total / 60) + ":" + text::format("%02ld", total % 60);
}

std::string short_number(double v) {
  double a = std::fabs(v);
  if (a >= 1e6) return text::num(v / 1e6, 1) + "M";
  if (a >= 1e4) return text::num(v / 1e3, 1) + "k";
  return text::num(v, a < 10 ? 2 : 0);
}

constexpr double chart_w = 960, chart_h = 260, margin_l = 62, margin_r = 16, margin_t = 22, margin_b = 34;

}  // namespace

std::string render_chart(const chart& c) {
  double y_max = 0, y_min_pos = INFINITY;
  size_t total_points = 0;
  for (const auto& s : c.lines) {
    for (const auto& p : s.points) {
      if (!std::isfinite(p.y)) continue;
      y_max = std::max(y_max, p.y);
      if (p.y > 0) y_min_pos = std::min(y_min_pos, p.y);
      ++total_points;
    }
  }
  bool log_y = c.log_y && std::isfinite(y_min_pos) && y_max / y_min_pos > 20;
  double lo = 0, hi = y_max > 0 ? y_max * 1.08 : 1;
  if (log_y) {
    lo = std::pow(10.0, std::floor(std::log10(y_min_pos)));
    hi = std::pow(10.0, std::ceil(std::log10(y_max * 1.01)));
  }
  double pw = chart_w - margin_l - margin_r, ph = chart_h - margin_t - margin_b;
  double x_span = c.x_max > c.x_min ? c.x_max - c.x_min : 1;
  auto sx = [&](double x) { return margin_l + (x - c.x_min) / x_span * pw; };
  auto sy = [&](double y) {
    if (log_y) {
      double v = std::log10(std::max(y, lo));
      return margin_t + ph - (v - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * ph;
    }
    return margin_t + ph - (y - lo) / (hi - lo) * ph;
  };

  std::string svg;
  svg.reserve(total_points * 16 + 4096);
  svg += "<figure class=\"chart\" id=\"" + c.id + "\"><figcaption>" + xml_escape(c.title) +
         (c.y_unit.empty() ? ""
                           : " <span class=\"unit\">(" + xml_escape(c.y_unit) + (log_y ? ", log scale" : "") +
                                 ")</span>") +
         "</figcaption>\n";
  svg += text::format("<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", chart_w, chart_h) +
         xml_escape(c.title) + "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
  // Fault bands under everything else. Labels go on the first line where they do not run into an earlier
  // label (faults with the same window would otherwise print over each other).
  std::vector<double> line_ends;  // per label line: where its last label ends
  for (const auto& b : c.bands) {
    double x0 = sx(std::clamp(b.from, c.x_min, c.x_max)), x1 = sx(std::clamp(b.to, c.x_min, c.x_max));
    const double label_w = 6.5 * static_cast<double>(b.label.size()) + 6;  // ~11px bold text
    size_t line = 0;
    while (line < line_ends.size() && line_ends[line] > x0) ++line;
    if (line == line_ends.size()) line_ends.push_back(0);
    line_ends[line] = x0 + label_w;
    svg += text::format("<g class=\"fault\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", x0,
                        margin_t, std::max(1.5, x1 - x0), ph);
    svg +=
        text::format("<text x=\"%.1f\" y=\"%.1f\">", x0 + 3, margin_t + 11 + 13 * static_cast<double>(line)) +
        xml_escape(b.label) + "</text><title>" + xml_escape(b.label) + "</title></g>\n";
  }
  for (const auto& m : c.alerts) {
    if (m.t_s < c.x_min || m.t_s > c.x_max) continue;
    // Styled inline: reports without alerts keep their stylesheet byte for byte.
    const char* color = !m.color.empty() ? m.color.c_str() : m.false_alarm ? "#cf222e" : "#9a6700";
    svg += text::format(
               "<line class=\"alert\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"3 2\" "
               "x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"><title>",
               color, sx(m.t_s), sx(m.t_s), margin_t, margin_t + ph) +
           xml_escape(m.label + (m.false_alarm ? " (false alarm)" : "")) + "</title></line>\n";
  }
  // Y grid and labels.
  std::vector<double> y_ticks;
  if (log_y) {
    for (double v = lo; v <= hi * 1.0001; v *= 10) y_ticks.push_back(v);
  } else {
    y_ticks = nice_ticks(lo, hi, 5);
  }
  for (double v : y_ticks) {
    double y = sy(v);
    svg += text::format("<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", margin_l,
                        margin_l + pw, y, y);
    svg += text::format("<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">", margin_l - 6, y + 4) + short_number(v) +
           "</text>\n";
  }
  // X ticks.
  std::vector<axis_tick> x_ticks = c.x_ticks;
  if (c.time_axis) {
    for (double v : nice_ticks(c.x_min, c.x_max, 10)) x_ticks.push_back({v, time_label(v, x_span)});
  }
  for (const auto& t : x_ticks) {
    double x = sx(t.value);
    svg += text::format("<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x, x,
                        margin_t, margin_t + ph);
    // The last label would be cut by the right edge: end-anchor it.
    const char* cls = x > margin_l + pw - 20 ? "xl end" : "xl";
    svg += text::format("<text class=\"%s\" x=\"%.1f\" y=\"%.1f\">", cls, x, margin_t + ph + 16) +
           xml_escape(t.label) + "</text>\n";
  }
  svg += text::format("<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                      margin_l, margin_t, pw, ph);
  for (const auto& s : c.lines) {
    if (s.points.empty()) continue;
    svg += "<polyline class=\"line" + std::string(s.dashed ? " dashed" : "") + "\" stroke=\"" + s.color +
           "\" points=\"";
    for (const auto& p : s.points) {
      if (!std::isfinite(p.y)) continue;
      svg += text::format("%.1f,%.1f ", sx(p.x), sy(p.y));
    }
    svg += "\"><title>" + xml_escape(s.name) + "</title></polyline>\n";
  }
  svg += "</svg>\n<div class=\"legend\">";
  for (const auto& s : c.lines) {
    svg += "<span><i style=\"background:" + s.color + "\"" + (s.dashed ? " class=\"dashed\"" : "") + "></i>" +
           xml_escape(s.name) + "</span>";
  }
  if (!c.bands.empty()) svg += "<span><i class=\"faultkey\"></i>fault injected</span>";
  if (!c.alerts.empty()) {
    svg += std::string("<span><i style=\"width:3px;height:12px;background:") +
           (c.alerts_legend.empty() ? "#9a6700\"></i>alert (red: false alarm)"
                                    : "#cf222e\"></i>" + xml_escape(c.alerts_legend)) +
           "</span>";
  }
  svg += "</div></figure>\n";
  return svg;
}

std::string render_over_time_charts(const over_time_input& in) {
  if (in.rows.empty()) return {};
  const auto& rows = in.rows;
  const double x_min = in.x_min, x_max = in.x_max;
  const auto& bands = in.bands;
  const auto& alerts = in.alerts;
  std::string h;
  auto base = [&](std::string id, std::string title, std::string unit) {
    chart c;
    c.id = std::move(id);
    c.title = std::move(title);
    c.y_unit = std::move(unit);
    c.x_min = x_min;
    c.x_max = x_max;
    c.bands = bands;
    c.alerts = alerts;
    return c;
  };
  // Points sit at the middle of their second.
  double bucket_s = rows.size() > 1 ? rows[1].t - rows[0].t : 1.0;
  auto mid = [&](const time_row& b) { return b.t + bucket_s / 2; };
  std::string per =
      bucket_s > 1 ? " (" + text::num(bucket_s, 0) + " s buckets: mean rates, max latencies)" : "";

  chart tp = base("chart-throughput", "Throughput" + per, "per second");
  series req{"requests/s", palette[0], {}, false}, err{"errors/s", palette[1], {}, false};
  for (const auto& b : rows) {
    req.points.push_back({mid(b), b.requests});
    err.points.push_back({mid(b), b.errors});
  }
  tp.lines = {std::move(req), std::move(err)};
  h += render_chart(tp);

  chart lat = base("chart-latency", "Latency percentiles per second" + per, "ms");
  lat.log_y = true;
  series p50{"p50", palette[2], {}, false}, p90{"p90", palette[0], {}, false},
      p99{"p99", palette[4], {}, false}, mx{"max", palette[1], {}, true};
  for (const auto& b : rows) {
    if (b.requests <= 0) continue;  // no latency in a second without responses
    p50.points.push_back({mid(b), b.p50});
    p90.points.push_back({mid(b), b.p90});
    p99.points.push_back({mid(b), b.p99});
    mx.points.push_back({mid(b), b.max});
  }
  lat.lines = {std::move(p50), std::move(p90), std::move(p99), std::move(mx)};
  h += render_chart(lat);

  chart er = base("chart-errors", "Errors per second by kind" + per, "per second");
  std::set<std::string> kinds;
  for (const auto& b : rows) {
    for (const auto& [kind, v] : b.errors_by_kind) {
      if (v > 0) kinds.insert(kind);
    }
  }
  size_t color = 1;
  for (const auto& kind : kinds) {
    series s{kind, palette[color++ % std::size(palette)], {}, false};
    for (const auto& b : rows) {
      auto it = b.errors_by_kind.find(kind);
      s.points.push_back({mid(b), it == b.errors_by_kind.end() ? 0.0 : it->second});
    }
    er.lines.push_back(std::move(s));
  }
  if (kinds.empty()) {
    series s{"errors (none)", palette[1], {}, false};
    for (const auto& b : rows) s.points.push_back({mid(b), b.errors});
    er.lines.push_back(std::move(s));
  }
  h += render_chart(er);

  chart vu = base("chart-vus", "Active virtual users" + per, "VUs");
  series v{"active VUs", palette[3], {}, false};
  for (const auto& b : rows) v.points.push_back({mid(b), b.vus});
  vu.lines.push_back(std::move(v));
  if (in.show_dropped) {
    series d{"dropped iterations/s", palette[1], {}, true};
    for (const auto& b : rows) d.points.push_back({mid(b), b.dropped});
    vu.lines.push_back(std::move(d));
  }
  h += render_chart(vu);
  return h;
}

}  // namespace stampede::reports
