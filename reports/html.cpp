// The HTML report: one self-contained page (inline CSS and SVG, no script, no fetch). Charts are drawn
// here as SVG so the page renders anywhere, prints, and cannot produce script errors.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/hdr_histogram.h"
#include "reports/alerts_report.h"
#include "reports/autoscale_report.h"
#include "reports/analysis.h"
#include "reports/formats.h"
#include "reports/html_metrics.h"
#include "reports/recovery.h"
#include "reports/text_util.h"

namespace stampede::reports {

namespace {

using text::xml_escape;

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
  std::vector<axis_tick> x_ticks;  // for non-time axes
};

constexpr double chart_w = 960, chart_h = 260, margin_l = 62, margin_r = 16, margin_t = 22, margin_b = 34;

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
         (c.y_unit.empty() ? "" : " <span class=\"unit\">(" + xml_escape(c.y_unit) + (log_y ? ", log scale" : "") + ")</span>") +
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
    svg += text::format("<text x=\"%.1f\" y=\"%.1f\">", x0 + 3, margin_t + 11 + 13 * static_cast<double>(line)) +
           xml_escape(b.label) + "</text><title>" + xml_escape(b.label) + "</title></g>\n";
  }
  for (const auto& m : c.alerts) {
    if (m.t_s < c.x_min || m.t_s > c.x_max) continue;
    // Styled inline: reports without alerts keep their stylesheet byte for byte.
    svg += text::format("<line class=\"alert\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"3 2\" "
                        "x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"><title>",
                        m.false_alarm ? "#cf222e" : "#9a6700", sx(m.t_s), sx(m.t_s), margin_t,
                        margin_t + ph) +
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
    svg += text::format("<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">", margin_l - 6, y + 4) + short_number(v) + "</text>\n";
  }
  // X ticks.
  std::vector<axis_tick> x_ticks = c.x_ticks;
  if (c.time_axis) {
    for (double v : nice_ticks(c.x_min, c.x_max, 10)) x_ticks.push_back({v, time_label(v, x_span)});
  }
  for (const auto& t : x_ticks) {
    double x = sx(t.value);
    svg += text::format("<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", x, x, margin_t,
                        margin_t + ph);
    // The last label would be cut by the right edge: end-anchor it.
    const char* cls = x > margin_l + pw - 20 ? "xl end" : "xl";
    svg += text::format("<text class=\"%s\" x=\"%.1f\" y=\"%.1f\">", cls, x, margin_t + ph + 16) +
           xml_escape(t.label) + "</text>\n";
  }
  svg += text::format("<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", margin_l,
                      margin_t, pw, ph);
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
    svg += "<span><i style=\"width:3px;height:12px;background:#9a6700\"></i>alert (red: false alarm)</span>";
  }
  svg += "</div></figure>\n";
  return svg;
}

// Downsamples per-second rows into buckets of k seconds so a long run stays a light page: latencies keep
// the bucket's maximum (spikes must stay visible), counts become per-second means.
struct bucketed_row {
  double t;
  double requests, errors, p50, p90, p99, max, vus, dropped;
  std::map<std::string, double> errors_by_kind;
};

std::vector<bucketed_row> bucketize(const std::vector<timeseries_row>& rows, size_t max_points) {
  std::vector<bucketed_row> out;
  if (rows.empty()) return out;
  size_t k = std::max<size_t>(1, (rows.size() + max_points - 1) / max_points);
  for (size_t i = 0; i < rows.size(); i += k) {
    bucketed_row b{static_cast<double>(rows[i].t), 0, 0, 0, 0, 0, 0, 0, 0, {}};
    size_t n = std::min(k, rows.size() - i);
    for (size_t j = i; j < i + n; ++j) {
      const auto& r = rows[j];
      b.requests += static_cast<double>(r.requests);
      b.errors += static_cast<double>(r.errors);
      b.dropped += static_cast<double>(r.dropped_iterations);
      b.vus = std::max(b.vus, static_cast<double>(r.vus));
      b.p50 = std::max(b.p50, r.p50_ms);
      b.p90 = std::max(b.p90, r.p90_ms);
      b.p99 = std::max(b.p99, r.p99_ms);
      b.max = std::max(b.max, r.max_ms);
      for (const auto& [kind, count] : r.errors_by_kind) b.errors_by_kind[kind] += static_cast<double>(count);
    }
    double nd = static_cast<double>(n);
    b.requests /= nd;
    b.errors /= nd;
    b.dropped /= nd;
    for (auto& [kind, v] : b.errors_by_kind) v /= nd;
    out.push_back(std::move(b));
  }
  return out;
}

const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                               "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};

std::string percentile_label(double nines) {
  // x = log10(1/(1-p)): 0 -> 0%, 1 -> 90%, 2 -> 99%, 3 -> 99.9%...
  if (nines == 0) return "0%";
  double p = 100.0 * (1.0 - std::pow(10.0, -nines));
  return text::num(p, static_cast<int>(nines)) + "%";
}

std::string distribution_chart(const hdr_histogram* corrected, const hdr_histogram* uncorrected) {
  chart c;
  c.id = "chart-distribution";
  c.title = "Latency by percentile (HdrHistogram percentile distribution)";
  c.y_unit = "ms";
  c.time_axis = false;
  int64_t count = std::max(corrected ? corrected->total_count() : 0, uncorrected ? uncorrected->total_count() : 0);
  // Beyond 1/(1-p) = count there is a single sample left: stop there.
  double nines = std::clamp(std::ceil(std::log10(static_cast<double>(std::max<int64_t>(count, 10)))), 1.0, 6.0);
  c.x_min = 0;
  c.x_max = nines;
  for (int i = 0; i <= static_cast<int>(nines); ++i) c.x_ticks.push_back({double(i), percentile_label(i)});
  auto add = [&](const hdr_histogram* h, std::string name, std::string color, bool dashed) {
    if (h == nullptr || h->total_count() == 0) return;
    series s{std::move(name), std::move(color), {}, dashed};
    for (double x = 0; x <= nines + 1e-9; x += nines / 300.0) {
      double p = 100.0 * (1.0 - std::pow(10.0, -x));
      s.points.push_back({x, static_cast<double>(h->value_at_percentile(std::min(p, 100.0))) / 1000.0});
    }
    c.lines.push_back(std::move(s));
  };
  add(corrected, "corrected (from intended send time)", palette[0], false);
  add(uncorrected, "uncorrected (service time)", palette[4], true);
  return render_chart(c);
}

std::string status_class(bool ok) { return ok ? "ok" : "bad"; }

std::string step_row(const step_result& s, std::string_view label, bool total) {
  std::string row = total ? "<tr class=\"total\">" : "<tr>";
  row += "<td class=\"name\">" + std::string(label) + "</td>";
  row += "<td>" + std::to_string(s.requests) + "</td><td>" + text::num(s.rps, 1) + "</td>";
  for (double v : {s.latency.p50, s.latency.p90, s.latency.p95, s.latency.p99, s.latency.p999, s.latency.max}) {
    row += "<td>" + text::ms(v) + "</td>";
  }
  row += "<td" + std::string(s.errors > 0 ? " class=\"bad\"" : "") + ">" + std::to_string(s.errors) +
         (s.errors > 0 ? " <small>(" + text::percent(s.error_rate) + ")</small>" : "") + "</td></tr>\n";
  return row;
}

const char* const css = R"css(
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

}  // namespace

std::string render_html(const run_results& r) {
  bool pass = run_verdict(r) == verdict::pass;
  std::string h;
  h.reserve(256 * 1024);
  std::string title = "Stampede report: " + (r.scenario.empty() ? std::string("run") : r.scenario);
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
       "<link rel=\"icon\" href=\"data:,\">\n<title>" +
       xml_escape(title) + "</title>\n<style>" + css + "</style></head><body><main>\n";
  h += "<h1>" + xml_escape(title) + "</h1>\n<div class=\"meta\">";
  if (!r.target.empty()) h += "target " + xml_escape(r.target) + " · ";
  h += (r.started_at.empty() ? std::string() : "started " + xml_escape(r.started_at) + " · ") + "duration " +
       text::num(r.duration_s, 1) + " s";
  if (r.shard_count > 1) h += " · shard " + std::to_string(r.shard_index) + "/" + std::to_string(r.shard_count);
  h += "</div>\n";

  // 1. Verdict first.
  h += "<section id=\"verdict\" class=\"verdict " + status_class(pass) + "\"><strong>" + (pass ? "PASS" : "FAIL") +
       "</strong>" + xml_escape(verdict_text(r)) + "</section>\n";
  if (r.saturated) {
    h += "<div class=\"warning\"><b>The load generator was saturated</b> (event-loop lag up to " +
         text::ms(r.max_event_loop_lag_ms) + " ms): latency figures are suspect.</div>\n";
  }
  if (r.dropped_iterations > 0) {
    h += "<div class=\"warning\"><b>" + std::to_string(r.dropped_iterations) +
         " iterations were dropped</b>: the configured arrival rate was not sustained.</div>\n";
  }
  if (r.aborted) h += "<div class=\"warning\"><b>Run aborted:</b> " + xml_escape(r.aborted->text()) + "</div>\n";
  if (!r.thresholds.empty()) {
    h += "<table id=\"thresholds\"><tr><th></th><th class=\"name\">metric</th><th class=\"name\">threshold</th>"
         "<th>observed</th></tr>\n";
    for (const auto& t : r.thresholds) {
      std::string observed = "-";
      if (t.observed) {
        bool dur = t.metric.find("_duration") != std::string::npos;
        observed = dur ? text::ms(*t.observed) + " ms" : text::num(*t.observed, 4);
      }
      h += "<tr><td class=\"" + status_class(t.ok) + "\">" + (t.ok ? "✓ pass" : "✗ FAIL") + "</td><td class=\"name\">" +
           xml_escape(t.metric) + "</td><td class=\"name\"><code>" + xml_escape(t.expression) + "</code></td><td>" +
           observed + "</td></tr>\n";
    }
    h += "</table>\n";
  }
  if (r.has_verify) {
    h += "<table id=\"invariants\"><tr><th></th><th class=\"name\">invariant</th><th class=\"name\">detail</th></tr>\n";
    for (const auto& i : r.invariants) {
      std::string cls = !i.ok ? "unknown" : status_class(*i.ok);
      std::string mark = !i.ok ? "? unknown" : (*i.ok ? "✓ held" : "✗ VIOLATED");
      h += "<tr><td class=\"" + cls + "\">" + mark + "</td><td class=\"name\">" + xml_escape(i.name) +
           "</td><td class=\"text\">" + xml_escape(i.detail) + "</td></tr>\n";
    }
    h += "</table>\n";
  }

  // 2. Key figures.
  h += "<div class=\"tiles\">";
  auto tile = [&](const std::string& value, std::string_view label) {
    h += "<div class=\"tile\"><b>" + value + "</b><span>" + std::string(label) + "</span></div>";
  };
  tile(std::to_string(r.summary.requests), "requests");
  tile(text::num(r.summary.rps, 1), "requests/s");
  tile(text::percent(r.summary.error_rate), "error rate");
  tile(text::ms(r.summary.latency.p50) + " ms", "p50 latency");
  tile(text::ms(r.summary.latency.p99) + " ms", "p99 latency");
  tile(text::ms(r.summary.latency.max) + " ms", "max latency");
  tile(std::to_string(r.vus_max), "max VUs");
  h += "</div>\n";

  // 3. Time charts, with fault bands on every one.
  if (!r.timeseries.empty()) {
    auto rows = bucketize(r.timeseries, 900);
    double x_min = static_cast<double>(r.timeseries.front().t);
    double x_max = static_cast<double>(r.timeseries.back().t + 1);
    std::vector<band> bands;
    for (const auto& f : r.chaos) bands.push_back({f.start_s, f.end_s.value_or(x_max), f.label});
    const std::vector<alert_mark> alerts = alert_marks(r);
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
    auto mid = [&](const bucketed_row& b) { return b.t + bucket_s / 2; };
    std::string per = bucket_s > 1 ? " (" + text::num(bucket_s, 0) + " s buckets: mean rates, max latencies)" : "";

    chart tp = base("chart-throughput", "Throughput" + per, "per second");
    series req{"requests/s", palette[0], {}, false}, err{"errors/s", palette[1], {}, false};
    for (const auto& b : rows) {
      req.points.push_back({mid(b), b.requests});
      err.points.push_back({mid(b), b.errors});
    }
    tp.lines = {std::move(req), std::move(err)};
    h += "<h2>Over time</h2>\n" + render_chart(tp);

    chart lat = base("chart-latency", "Latency percentiles per second" + per, "ms");
    lat.log_y = true;
    series p50{"p50", palette[2], {}, false}, p90{"p90", palette[0], {}, false}, p99{"p99", palette[4], {}, false},
        mx{"max", palette[1], {}, true};
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
    if (r.dropped_iterations > 0) {
      series d{"dropped iterations/s", palette[1], {}, true};
      for (const auto& b : rows) d.points.push_back({mid(b), b.dropped});
      vu.lines.push_back(std::move(d));
    }
    h += render_chart(vu);
    if (const auto curve = autoscale_node_curve(r); !curve.empty()) {  // the autoscale game day
      const std::string mode = autoscale_mode(r);
      chart nc =
          base("chart-nodes", "Shop nodes alive (" + (mode == "off" ? "fixed capacity" : mode) + ")", "nodes");
      series n{"nodes", palette[2], {}, false};
      for (const auto& [t, nodes] : curve) n.points.push_back({t, nodes});
      nc.lines.push_back(std::move(n));
      h += render_chart(nc);
    }
  }

  // 4. Per-step table.
  h += "<h2>Steps</h2>\n<p><small>Latency in ms from the intended send time (corrected for coordinated "
       "omission).</small></p>\n<table id=\"steps\"><tr><th class=\"name\">step</th><th>count</th><th>rps</th>"
       "<th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th></tr>\n";
  for (const auto& s : r.steps) {
    const char* prefix = s.kind == "group" ? "<small>group</small> " : s.kind == "tagged" ? "<small>tagged</small> " : "";
    h += step_row(s, prefix + xml_escape(s.name), false);
  }
  h += step_row(r.summary, "all requests", true);
  h += "</table>\n";

  // 5. Distribution, corrected next to uncorrected.
  std::optional<hdr_histogram> corrected, uncorrected;
  if (!r.summary.histogram.empty()) corrected = hdr_histogram::decode_base64(r.summary.histogram);
  if (!r.summary.uncorrected_histogram.empty()) {
    uncorrected = hdr_histogram::decode_base64(r.summary.uncorrected_histogram);
  }
  h += "<h2>Latency distribution</h2>\n";
  if (corrected || uncorrected) {
    h += distribution_chart(corrected ? &*corrected : nullptr, uncorrected ? &*uncorrected : nullptr);
  }
  h += "<table id=\"corrected-vs-uncorrected\"><tr><th class=\"name\">latency (ms)</th><th>min</th><th>mean</th>"
       "<th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n";
  auto lat_row = [&](std::string_view label, const latency_stats& l) {
    h += "<tr><td class=\"name\">" + std::string(label) + "</td>";
    for (double v : {l.min, l.mean, l.p50, l.p90, l.p99, l.p999, l.max}) h += "<td>" + text::ms(v) + "</td>";
    h += "</tr>\n";
  };
  lat_row("corrected (intended send time → last byte)", r.summary.latency);
  lat_row("uncorrected (service time)", r.summary.uncorrected);
  h += "</table>\n";

  // 6. Faults and recovery.
  if (!r.chaos.empty()) {
    const recovery_analysis a = analyse_recovery(r);
    const auto& t = a.tolerances;
    h += "<h2>Faults and recovery</h2>\n<p><small>Judged against the " +
         (a.baseline.available ? std::to_string(a.baseline.seconds) + " s before the first fault (" +
                                     text::num(a.baseline.requests_median, 1) + " requests/s, p99 " +
                                     (a.baseline.p99_ms ? text::ms(*a.baseline.p99_ms) : std::string("-")) + " ms)"
                               : std::string("seconds before the first fault: no baseline, ") + xml_escape(a.baseline.reason)) +
         ". A second is degraded when its errors, its requests slower than " +
         (a.baseline.available ? text::ms(a.baseline.slow_bound_ms) + " ms" : std::string("the slow bound")) +
         ", its throughput or its dropped iterations are worse than the baseline by more than the floors and " +
         "beyond its noise (" + text::num(t.confidence * 100, 3) + "% confidence); seconds with another planned " +
         "load, partial seconds and seconds without data are not judged. Recovered: " +
         std::to_string(t.consecutive_healthy_s) + " healthy seconds in a row after the heal.</small></p>\n"
         "<table id=\"recovery\"><tr><th class=\"name\">fault</th><th class=\"name\">window</th>"
         "<th class=\"name\">verdict</th><th>detected after</th><th>first success after</th>"
         "<th>degraded / judged s</th><th>errors</th><th>p99 before</th><th>p99 during</th><th>p99 after</th>"
         "<th class=\"name\">notes</th></tr>\n";
    auto p99 = [](const std::optional<double>& v) { return v ? text::ms(*v) : std::string("-"); };
    for (const auto& f : a.faults) {
      const bool bad = f.status == recovery_status::not_recovered || f.status == recovery_status::not_healed;
      const bool good = f.status == recovery_status::recovered || f.status == recovery_status::unaffected;
      h += "<tr><td class=\"name\">" + xml_escape(f.label) + "</td><td class=\"text\">" +
           xml_escape(recovery_window_text(f)) + "</td><td class=\"text" + (bad ? " bad" : good ? " ok" : "") + "\">" +
           xml_escape(recovery_verdict_text(f)) + "</td><td>" + xml_escape(recovery_detection_text(f)) + "</td><td>" +
           (f.time_to_first_success_s ? text::num(*f.time_to_first_success_s, 1) + " s" : std::string("-")) +
           "</td><td>" + std::to_string(f.degraded_seconds) + " / " + std::to_string(f.judged_seconds) + "</td><td>" +
           std::to_string(f.errors_during) +
           (f.errors_shared > 0 ? " (+" + std::to_string(f.errors_shared) + " shared)" : "") + "</td><td>" +
           p99(f.p99_baseline_ms) + "</td><td>" + p99(f.p99_during_ms) + "</td><td>" + p99(f.p99_after_ms) +
           "</td><td class=\"text\">" + xml_escape(recovery_notes(f)) + "</td></tr>\n";
    }
    h += "</table>\n";
  }
  h += render_alerts_html(r);  // `stampede drill --observe`: alerts per fault, false alarms, missed faults
  h += render_autoscale_html(r);  // the autoscale game day: time to scale, SLO seconds, node-seconds

  // 7. Errors and checks.
  bool any_error = false;
  for (const auto& [kind, n] : r.summary.errors_by_kind) any_error |= n > 0;
  if (any_error) {
    h += "<h2>Errors by kind</h2>\n<table id=\"errors\"><tr><th class=\"name\">kind</th><th>count</th></tr>\n";
    for (const auto& [kind, n] : r.summary.errors_by_kind) {
      if (n > 0) h += "<tr><td class=\"name\">" + xml_escape(kind) + "</td><td>" + std::to_string(n) + "</td></tr>\n";
    }
    h += "</table>\n";
  }
  if (!r.metrics.empty()) {
    h += "<h2>Custom metrics</h2>\n<table id=\"metrics\"><tr><th class=\"name\">metric</th><th>type</th>"
         "<th class=\"name\">value</th></tr>\n";
    for (const auto& m : r.metrics) {
      h += "<tr><td class=\"name\">" + xml_escape(m.name) + "</td><td>" + m.type + "</td><td class=\"name\">" +
           xml_escape(text::metric_summary(m)) + "</td></tr>\n";
    }
    h += "</table>\n";
  }
  h += custom_metric_charts(r);
  if (!r.checks.empty()) {
    h += "<h2>Checks</h2>\n<table id=\"checks\"><tr><th></th><th class=\"name\">check</th><th>passes</th>"
         "<th>fails</th></tr>\n";
    for (const auto& c : r.checks) {
      h += "<tr><td class=\"" + status_class(c.fails == 0) + "\">" + (c.fails == 0 ? "✓" : "✗") +
           "</td><td class=\"name\">" + xml_escape(c.group.empty() ? c.name : c.group + " › " + c.name) + "</td><td>" +
           std::to_string(c.passes) + "</td><td>" + std::to_string(c.fails) + "</td></tr>\n";
    }
    h += "</table>\n";
  }
  h += "<footer>stampede " + xml_escape(r.stampede_version) + " · " + std::to_string(r.threads) +
       " threads · data sent " + std::to_string(r.data_sent_bytes) + " B, received " +
       std::to_string(r.data_received_bytes) + " B</footer>\n</main></body></html>\n";
  return h;
}

}  // namespace stampede::reports
