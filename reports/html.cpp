// The HTML report: one self-contained page (inline CSS and SVG, no script, no fetch). Charts are drawn
// here as SVG so the page renders anywhere, prints, and cannot produce script errors.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/hdr_histogram.h"
#include "reports/alerts_report.h"
#include "reports/autoscale_report.h"
#include "reports/shard_report.h"
#include "reports/analysis.h"
#include "reports/formats.h"
#include "reports/html_chart.h"
#include "reports/html_metrics.h"
#include "reports/recovery.h"
#include "reports/svg_chart.h"
#include "reports/system_report.h"
#include "reports/text_util.h"

namespace stampede::reports {

namespace {

using text::xml_escape;

// Downsamples per-second rows into buckets of k seconds so a long run stays a light page: latencies keep
// the bucket's maximum (spikes must stay visible), counts become per-second means.
std::vector<time_row> bucketize(const std::vector<timeseries_row>& rows, size_t max_points) {
  std::vector<time_row> out;
  if (rows.empty()) return out;
  size_t k = std::max<size_t>(1, (rows.size() + max_points - 1) / max_points);
  for (size_t i = 0; i < rows.size(); i += k) {
    time_row b{static_cast<double>(rows[i].t), 0, 0, 0, 0, 0, 0, 0, 0, {}};
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
       xml_escape(title) + "</title>\n<style>" + report_css + "</style></head><body><main>\n";
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
    h += "<h2>Over time</h2>\n";
    std::vector<band> bands;
    const double x_max = static_cast<double>(r.timeseries.back().t + 1);
    for (const auto& f : r.chaos) bands.push_back({f.start_s, f.end_s.value_or(x_max), f.label});
    h += render_over_time_charts({.rows = std::move(rows),
                                  .x_min = x_min,
                                  .x_max = x_max,
                                  .bands = std::move(bands),
                                  .alerts = alert_marks(r),
                                  .show_dropped = r.dropped_iterations > 0});
    if (const auto curve = autoscale_node_curve(r); !curve.empty()) {  // the autoscale game day
      const std::string mode = autoscale_mode(r);
      chart nc;
      nc.id = "chart-nodes";
      nc.title = "Shop nodes alive (" + (mode == "off" ? "fixed capacity" : mode) + ")";
      nc.y_unit = "nodes";
      nc.x_min = x_min;
      nc.x_max = x_max;
      for (const auto& f : r.chaos) nc.bands.push_back({f.start_s, f.end_s.value_or(x_max), f.label});
      series n{"nodes", palette[2], {}, false};
      for (const auto& [t, nodes] : curve) n.points.push_back({t, nodes});
      nc.lines.push_back(std::move(n));
      h += render_chart(nc);
    }
  }
  h += render_system_html(r);  // `stampede drill`: the system's side (HAProxy, queue, cache, database)

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
  h += render_shards_html(r);     // the shard game days: orders per outcome, in-doubt seconds

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

std::string render_time_chart(const run_results& r, const time_chart_spec& spec) {
  chart c;
  c.id = spec.id;
  c.title = spec.title;
  c.y_unit = spec.unit;
  c.x_min = spec.x_min;
  c.x_max = spec.x_max;
  for (const auto& f : r.chaos) c.bands.push_back({f.start_s, f.end_s.value_or(spec.x_max), f.label});
  c.alerts = spec.marks;
  c.alerts_legend = spec.marks_legend;
  for (const auto& l : spec.lines) {
    series s{l.name, palette[c.lines.size() % std::size(palette)], {}, l.dashed};
    for (const auto& [x, y] : l.points) s.points.push_back({x, y});
    c.lines.push_back(std::move(s));
  }
  return render_chart(c);
}

}  // namespace stampede::reports
