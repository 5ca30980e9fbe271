// Charts of `stampede capacity`: an SVG with two panels sharing the offered-rate axis (completed against
// offered iterations; the SLO's latency on a log scale with the SLO bound), and the terminal table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "common/hdr_histogram.h"
#include "drill/capacity.h"

namespace stampede::drill {

namespace {

template <typename... Args>
std::string format(const char* fmt, Args... args) {
  char text[512];
  std::snprintf(text, sizeof text, fmt, args...);
  return text;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// "950", "12k", "12.5k", "1.2M".
std::string rate_label(double v) {
  auto trimmed = [](double x, const char* unit) {
    std::string s = format("%.1f", x);
    if (s.size() > 2 && s.substr(s.size() - 2) == ".0") s.resize(s.size() - 2);
    return s + unit;
  };
  if (v >= 1e6) return trimmed(v / 1e6, "M");
  if (v >= 1e4 || (v >= 1e3 && std::fmod(v, 100) == 0)) return trimmed(v / 1e3, "k");
  return format("%g", v);
}

std::string ms_label(double v) {
  if (v >= 1000) return format("%g s", v / 1000);
  return format("%g ms", v);
}

// A 1-2-5 step giving about `target` intervals over [0, top].
double nice_step(double top, int target) {
  const double raw = top / target;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * magnitude) return m * magnitude;
  }
  return 10 * magnitude;
}

// The latency the SLO judges (its first latency term), per stage.
struct latency_series {
  std::string label = "p99";
  std::optional<double> bound;
  std::string bound_text;
  double value(const stage_result& s) const {
    if (metric == "avg") return s.mean_ms;
    if (metric == "max") return s.max_ms;
    if (metric == "p" && percentile != 99 && !s.histogram.empty()) {
      if (auto h = hdr_histogram::decode_base64(s.histogram)) {
        return static_cast<double>(h->value_at_percentile(percentile)) / 1000.0;
      }
    }
    return s.p99_ms;
  }
  std::string metric = "p";
  double percentile = 99;
};

latency_series series_for(const std::string& slo_text) {
  latency_series out;
  std::vector<slo_term> slo;
  try {
    slo = parse_slo(slo_text);
  } catch (const std::invalid_argument&) {
    return out;
  }
  for (const auto& t : slo) {
    if (t.metric == "error_rate") continue;
    out.metric = t.metric;
    out.percentile = t.percentile;
    out.label = t.metric == "p" ? format("p%g", t.percentile) : t.metric;
    out.bound = t.bound;
    out.bound_text = "SLO " + t.text;
    break;
  }
  return out;
}

std::string short_cause(stage_cause c) {
  switch (c) {
    case stage_cause::generator_saturated: return "generator";
    case stage_cause::dropped_iterations: return "dropped";
    case stage_cause::errors: return "errors";
    case stage_cause::latency: return "latency";
    case stage_cause::throughput: return "throughput";
    case stage_cause::none: break;
  }
  return "failed";
}

struct rate_point {
  double completed = 0;  // completed iterations per second of the stage (the worst stage at this rate)
  double latency = 0;    // the worst stage's
  bool ok = true;
};

}  // namespace

std::string render_capacity_svg(const capacity_outcome& outcome) {
  std::vector<stage_result> s = outcome.curve;
  std::stable_sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.rate < b.rate; });
  const latency_series series = series_for(outcome.slo_text);
  const double w = 900, h = 600, left = 80, right = 40;
  const double a_top = 70, a_bottom = 270, b_top = 310, b_bottom = 500;  // panels: completed, latency
  double max_x = 1, max_y = 1, lat_lo = std::numeric_limits<double>::infinity(), lat_hi = 0;
  std::map<double, rate_point> per_rate;
  for (const auto& x : s) {
    const double completed = x.iterations_per_s;
    const double lat = series.value(x);
    max_x = std::max(max_x, x.rate);
    max_y = std::max({max_y, x.rate, completed});
    if (lat > 0) lat_lo = std::min(lat_lo, lat), lat_hi = std::max(lat_hi, lat);
    auto [it, fresh] = per_rate.try_emplace(x.rate, rate_point{completed, lat, x.ok});
    if (!fresh) it->second = {std::min(it->second.completed, completed), std::max(it->second.latency, lat), it->second.ok && x.ok};
  }
  if (series.bound && *series.bound > 0) lat_lo = std::min(lat_lo, *series.bound), lat_hi = std::max(lat_hi, *series.bound);
  if (!std::isfinite(lat_lo)) lat_lo = 1, lat_hi = 10;
  // Whole decades, with room above the highest value so that the SLO line never sits on the frame.
  const double decade_lo = std::floor(std::log10(lat_lo)), decade_hi = std::floor(std::log10(lat_hi * 1.2)) + 1;
  const double x_step = nice_step(max_x, 8), y_step = nice_step(max_y, 5);
  const double x_top = std::ceil(max_x / x_step) * x_step, y_top = std::ceil(max_y / y_step) * y_step;
  auto px = [&](double rate) { return left + (w - left - right) * rate / x_top; };
  auto py_a = [&](double v) { return a_bottom - (a_bottom - a_top) * v / y_top; };
  auto py_b = [&](double ms) {
    const double l = std::log10(std::max(ms, std::pow(10, decade_lo)));
    return b_bottom - (b_bottom - b_top) * (l - decade_lo) / (decade_hi - decade_lo);
  };

  std::string svg = format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
                           "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                           w, h, w, h);
  std::string title = outcome.knee_rate > 0
                          ? format("Capacity: sustainable %s%s/s, recommended %s/s", outcome.lower_bound ? "at least " : "",
                                   rate_label(outcome.knee_rate).c_str(), rate_label(outcome.recommended.rate).c_str())
                          : std::string("Capacity: no rate met the SLO");
  svg += format("<text x=\"%g\" y=\"24\" font-size=\"16\" font-weight=\"bold\">%s</text>\n", left, xml_escape(title).c_str());
  svg += format("<text x=\"%g\" y=\"44\" fill=\"#555\">SLO %s; %zu stages; limit: %s</text>\n", left,
                xml_escape(outcome.slo_text).c_str(), s.size(),
                xml_escape(outcome.limited_by.empty() ? "-" : outcome.limited_by).c_str());

  // Grids, ticks and axis titles.
  for (double x = 0; x <= x_top + x_step / 2; x += x_step) {
    for (auto [top, bottom] : {std::pair{a_top, a_bottom}, std::pair{b_top, b_bottom}}) {
      svg += format("<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#eee\"/>\n", px(x), top, px(x), bottom);
    }
    svg += format("<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%s</text>\n", px(x), b_bottom + 18, rate_label(x).c_str());
  }
  for (double y = 0; y <= y_top + y_step / 2; y += y_step) {
    svg += format("<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#eee\"/>\n", left, py_a(y), w - right, py_a(y));
    svg += format("<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", left - 6, py_a(y) + 4, rate_label(y).c_str());
  }
  for (double d = decade_lo; d <= decade_hi; ++d) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10, d);
      if (std::log10(v) > decade_hi + 1e-9) break;
      svg += format("<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"%s\"/>\n", left, py_b(v), w - right, py_b(v),
                    m == 1 ? "#ddd" : "#f3f3f3");
      if (m == 1) {
        svg += format("<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", left - 6, py_b(v) + 4, ms_label(v).c_str());
      }
    }
  }
  for (auto [top, bottom] : {std::pair{a_top, a_bottom}, std::pair{b_top, b_bottom}}) {
    svg += format("<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#999\"/>\n", left, top,
                  w - left - right, bottom - top);
  }
  svg += format("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">offered arrivals per second</text>\n",
                (left + w - right) / 2, b_bottom + 40);
  svg += format("<text transform=\"translate(18 %g) rotate(-90)\" text-anchor=\"middle\">completed iterations/s</text>\n",
                (a_top + a_bottom) / 2);
  svg += format("<text transform=\"translate(18 %g) rotate(-90)\" text-anchor=\"middle\">%s latency (log)</text>\n",
                (b_top + b_bottom) / 2, xml_escape(series.label).c_str());

  // The offered line (everything delivered) and the SLO bound.
  svg += format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"5 4\"/>\n", px(0), py_a(0),
                px(std::min(x_top, y_top)), py_a(std::min(x_top, y_top)));
  if (series.bound && *series.bound > 0) {
    const double y = py_b(*series.bound);
    svg += format("<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>\n", left, y,
                  w - right, y);
    svg += format("<text x=\"%g\" y=\"%.1f\" fill=\"#d62728\">%s</text>\n", left + 6, y - 5,
                  xml_escape(series.bound_text).c_str());
  }

  // Curves through the worst stage of each rate, then every stage as a point (x: failed).
  std::string completed_line, latency_line;
  for (const auto& [rate, p] : per_rate) {
    completed_line += format("%.1f,%.1f ", px(rate), py_a(p.completed));
    latency_line += format("%.1f,%.1f ", px(rate), py_b(p.latency));
  }
  svg += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"" + completed_line + "\"/>\n";
  svg += "<polyline fill=\"none\" stroke=\"#ff7f0e\" stroke-width=\"2\" points=\"" + latency_line + "\"/>\n";
  for (const auto& x : s) {
    const double completed = x.iterations_per_s;
    const std::string tip = xml_escape(format("%.1f/s offered: %.1f iterations/s completed, %.1f req/s, %s %.4g ms, errors %.2f%%",
                                              x.rate, completed, x.throughput, series.label.c_str(), series.value(x),
                                              100 * x.error_rate) +
                                       (x.ok ? std::string() : " - failed: " + x.failed));
    for (auto [cy, color] : {std::pair{py_a(completed), "#1f77b4"}, std::pair{py_b(series.value(x)), "#ff7f0e"}}) {
      if (x.ok) {
        svg += format("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>%s</title></circle>\n", px(x.rate), cy, color,
                      tip.c_str());
      } else {
        svg += format("<path d=\"M%.1f %.1fl8 8m0 -8l-8 8\" stroke=\"#d62728\" stroke-width=\"2\"><title>%s</title></path>\n",
                      px(x.rate) - 4, cy - 4, tip.c_str());
      }
    }
  }

  // What failed, under the failed points of the top panel (skipped where it would overlap the previous one).
  double last_cause_end = -1e9;
  for (const auto& [rate, p] : per_rate) {
    if (p.ok) continue;
    std::string cause;
    for (const auto& x : s) {
      if (x.rate == rate && !x.ok) cause = short_cause(x.cause);
    }
    const double width = 6.0 * static_cast<double>(cause.size());
    const double x0 = std::min(px(rate) - width / 2, w - right - width);
    if (x0 <= last_cause_end + 4) continue;
    last_cause_end = x0 + width;
    svg += format("<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#d62728\">%s</text>\n", x0,
                  std::min(py_a(p.completed) + 18, a_bottom - 4), cause.c_str());
  }

  // Sustainable and recommended rates across both panels; labels above the top panel's curve, on the side
  // with room, one row lower when they would overlap (about 7 px per character at 12 px).
  std::vector<std::pair<double, double>> placed;  // label extents already drawn, per row (index = row)
  for (auto [rate, color, text] : {std::tuple{outcome.recommended.rate, "#9467bd", std::string("recommended ")},
                                   std::tuple{outcome.knee_rate, "#2ca02c",
                                              std::string(outcome.lower_bound ? "sustainable >= " : "sustainable ")}}) {
    if (!(rate > 0)) continue;
    const double x = px(rate);
    svg += format("<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n", x,
                  a_top, x, b_bottom, color);
    const std::string label = text + rate_label(rate) + "/s";
    const double width = 7.0 * static_cast<double>(label.size());
    // Rightwards unless that leaves the plot or crosses the other marker's line (and leftwards fits).
    const double other = px(rate == outcome.knee_rate ? outcome.recommended.rate : outcome.knee_rate);
    const bool crosses = other > x && other < x + 4 + width;
    const bool leftwards = x + 4 + width > w - right || (crosses && x - 4 - width >= left);
    const double x0 = leftwards ? x - 4 - width : x + 4, x1 = x0 + width;
    size_t row = 0;
    while (row < placed.size() && !(x1 < placed[row].first || x0 > placed[row].second)) ++row;
    if (row == placed.size()) placed.emplace_back(x0, x1);
    else placed[row] = {std::min(placed[row].first, x0), std::max(placed[row].second, x1)};
    svg += format("<text x=\"%.1f\" y=\"%g\" fill=\"%s\" text-anchor=\"%s\">%s</text>\n", leftwards ? x - 4 : x + 4,
                  a_top + 16 + 16 * static_cast<double>(row), color, leftwards ? "end" : "start", xml_escape(label).c_str());
  }

  // Legend.
  const double ly = h - 40;
  double lx = left;
  auto legend = [&](const std::string& mark, const std::string& text) {
    svg += mark + format("<text x=\"%g\" y=\"%g\">%s</text>\n", lx + 22, ly + 4, xml_escape(text).c_str());
    lx += 22 + 7.0 * static_cast<double>(text.size()) + 24;
  };
  legend(format("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#1f77b4\" stroke-width=\"2\"/>", lx, ly, lx + 16, ly),
         "completed");
  legend(format("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#999\" stroke-dasharray=\"5 4\"/>", lx, ly, lx + 16, ly),
         "offered");
  legend(format("<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>", lx, ly, lx + 16, ly),
         series.label + " latency");
  legend(format("<path d=\"M%g %gl8 8m0 -8l-8 8\" stroke=\"#d62728\" stroke-width=\"2\"/>", lx + 4, ly - 4), "stage failed");
  svg += "</svg>\n";
  return svg;
}

std::string render_capacity_text(const capacity_outcome& outcome) {
  std::vector<stage_result> s = outcome.curve;
  std::stable_sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.rate < b.rate; });
  const latency_series series = series_for(outcome.slo_text);
  double top = 1;
  for (const auto& x : s) top = std::max(top, x.rate);
  constexpr int width = 32;
  std::string out = format("    %10s %10s %10s %10s  %-*s  %s\n", "offered/s", "done it/s", "req/s", (series.label + " ms").c_str(),
                           width, "completed (# done, . offered)", "verdict");
  for (const auto& x : s) {
    const double completed = x.iterations_per_s;
    const int done = std::clamp(static_cast<int>(std::lround(width * completed / top)), 0, width);
    const int offered = std::clamp(static_cast<int>(std::lround(width * x.rate / top)), done, width);
    std::string bar = std::string(static_cast<size_t>(done), '#') + std::string(static_cast<size_t>(offered - done), '.');
    std::string verdict = x.ok ? "ok" : "x " + std::string(to_string(x.cause));
    if (x.ok && x.rate == outcome.knee_rate) verdict += "  <- sustainable";
    out += format("    %10.1f %10.1f %10.1f %10.4g  %-*s  %s\n", x.rate, completed, x.throughput, series.value(x), width,
                  bar.c_str(), verdict.c_str());
  }
  if (series.bound) out += format("    (%s)\n", series.bound_text.c_str());
  return out;
}

}  // namespace stampede::drill
