#include "reports/formats.h"

#include <cmath>
#include <ctime>
#include <fstream>
#include <map>

#include <boost/json/serialize.hpp>

#include "common/hdr_histogram.h"
#include "reports/alerts_report.h"
#include "reports/autoscale_report.h"
#include "reports/shard_report.h"
#include "reports/analysis.h"
#include "reports/recovery.h"
#include "reports/system_report.h"
#include "reports/text_util.h"

namespace stampede::reports {

namespace json = boost::json;

std::optional<report_format> parse_format(std::string_view name) {
  if (name == "html") return report_format::html;
  if (name == "md" || name == "markdown") return report_format::markdown;
  if (name == "junit" || name == "xml") return report_format::junit;
  if (name == "hgrm") return report_format::hgrm;
  if (name == "hlog") return report_format::hlog;
  if (name == "json") return report_format::json;
  return std::nullopt;
}

std::string_view format_extension(report_format f) {
  switch (f) {
    case report_format::html: return "html";
    case report_format::markdown: return "md";
    case report_format::junit: return "xml";
    case report_format::hgrm: return "hgrm";
    case report_format::hlog: return "hlog";
    case report_format::json: return "json";
  }
  return "txt";
}

namespace {

std::string threshold_observed(const threshold_result& t) {
  if (!t.observed) return "-";
  bool is_duration = t.metric.rfind("http_req_duration", 0) == 0 || t.metric.find("_duration") != std::string::npos;
  return is_duration ? text::ms(*t.observed) + " ms" : text::num(*t.observed, 4);
}

std::string opt_seconds(const std::optional<double>& v, std::string_view none) {
  return v ? text::num(*v, 1) + " s" : std::string(none);
}

std::string nonzero_errors(const counters& c) {
  std::string out;
  for (const auto& [kind, n] : c) {
    if (n == 0) continue;
    if (!out.empty()) out += ", ";
    out += kind + " " + std::to_string(n);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- Markdown

std::string render_markdown(const run_results& r) {
  std::string md;
  bool pass = run_verdict(r) == verdict::pass;
  md += std::string("## ") + (pass ? "✅ " : "❌ ") + text::md_cell(verdict_text(r)) + "\n\n";
  md += "`" + text::md_code(r.scenario.empty() ? "scenario" : r.scenario) + "`";
  if (!r.target.empty()) md += " → " + text::md_cell(r.target);
  md += " · " + std::to_string(r.summary.requests) + " requests in " + text::num(r.duration_s, 1) + " s · " +
        text::num(r.summary.rps, 1) + " req/s · errors " + text::percent(r.summary.error_rate) + " · p99 " +
        text::ms(r.summary.latency.p99) + " ms";
  if (r.shard_count > 1) md += " · shard " + std::to_string(r.shard_index) + "/" + std::to_string(r.shard_count);
  if (!r.started_at.empty()) md += " · " + text::md_cell(r.started_at);
  md += "\n\n";
  if (r.saturated) {
    md += "> **Warning:** the load generator was saturated (event-loop lag up to " +
          text::ms(r.max_event_loop_lag_ms) + " ms): latency figures are suspect.\n\n";
  }
  if (r.dropped_iterations > 0) {
    md += "> **Note:** " + std::to_string(r.dropped_iterations) +
          " iterations were dropped (the arrival rate could not be sustained).\n\n";
  }
  if (!r.thresholds.empty()) {
    md += "### Thresholds\n\n| | metric | threshold | observed |\n|---|---|---|---|\n";
    for (const auto& t : r.thresholds) {
      md += std::string("| ") + (t.ok ? "✅" : "❌") + " | `" + text::md_code(t.metric) + "` | `" +
            text::md_code(t.expression) + "` | " + threshold_observed(t) + " |\n";
    }
    md += "\n";
  }
  if (r.has_verify) {
    md += "### Invariants\n\n| | invariant | detail |\n|---|---|---|\n";
    for (const auto& i : r.invariants) {
      md += std::string("| ") + (!i.ok ? "❔" : (*i.ok ? "✅" : "❌")) + " | " + text::md_cell(i.name) + " | " +
            text::md_cell(i.detail) + " |\n";
    }
    md += "\n";
  }
  md += "### Steps\n\nLatency in ms, from the intended send time (corrected for coordinated omission).\n\n";
  md += "| step | count | rps | p50 | p90 | p95 | p99 | p99.9 | max | errors |\n";
  md += "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  auto row = [&](const step_result& s, std::string_view label) {
    md += "| " + std::string(label) + " | " + std::to_string(s.requests) + " | " + text::num(s.rps, 1) + " | " +
          text::ms(s.latency.p50) + " | " + text::ms(s.latency.p90) + " | " + text::ms(s.latency.p95) + " | " +
          text::ms(s.latency.p99) + " | " + text::ms(s.latency.p999) + " | " + text::ms(s.latency.max) + " | " +
          std::to_string(s.errors) + (s.errors > 0 ? " (" + text::percent(s.error_rate) + ")" : "") + " |\n";
  };
  for (const auto& s : r.steps) {
    row(s, (s.kind == "group" ? "group " : s.kind == "tagged" ? "tagged " : "") + text::md_cell(s.name));
  }
  row(r.summary, "**all requests**");
  md += "\n";
  std::string errors = nonzero_errors(r.summary.errors_by_kind);
  if (!errors.empty()) md += "Errors by kind: " + text::md_cell(errors) + "\n\n";
  if (!r.metrics.empty()) {
    md += "### Custom metrics\n\n| metric | type | value |\n|---|---|---|\n";
    for (const auto& m : r.metrics) {
      md += "| " + text::md_cell(m.name) + " | " + m.type + " | " + text::md_cell(text::metric_summary(m)) + " |\n";
    }
    md += "\n";
  }

  if (!r.chaos.empty()) {
    md += "### Faults and recovery\n\n";
    md += "| fault | window | verdict | detected after | first success after | degraded / judged s | errors | "
          "p99 before / during / after (ms) | notes |\n|---|---|---|--:|--:|--:|--:|--:|---|\n";
    auto p99 = [](const std::optional<double>& v) { return v ? text::ms(*v) : std::string("-"); };
    for (const auto& f : compute_recovery(r)) {
      const bool bad = f.status == recovery_status::not_recovered || f.status == recovery_status::not_healed;
      md += "| " + text::md_cell(f.label) + " | " + recovery_window_text(f) + " | " + (bad ? "**" : "") +
            recovery_verdict_text(f) + (bad ? "**" : "") + " | " + recovery_detection_text(f) + " | " +
            opt_seconds(f.time_to_first_success_s, "-") + " | " + std::to_string(f.degraded_seconds) + " / " +
            std::to_string(f.judged_seconds) + " | " + std::to_string(f.errors_during) +
            (f.errors_shared > 0 ? " (+" + std::to_string(f.errors_shared) + " shared)" : "") + " | " +
            p99(f.p99_baseline_ms) + " / " + p99(f.p99_during_ms) + " / " + p99(f.p99_after_ms) + " | " +
            text::md_cell(recovery_notes(f)) + " |\n";
    }
    md += "\n";
  }
  md += render_system_markdown(r);  // `stampede drill`: HAProxy's servers, queue, cache, database
  md += render_alerts_markdown(r);  // `stampede drill --observe`
  md += render_autoscale_markdown(r);  // the autoscale game day (results.drill.autoscale)
  md += render_shards_markdown(r);     // the shard game days (results.drill.shards)
  if (!r.checks.empty()) {
    md += "### Checks\n\n| | check | passes | fails |\n|---|---|--:|--:|\n";
    for (const auto& c : r.checks) {
      md += std::string("| ") + (c.fails == 0 ? "✅" : "❌") + " | " +
            text::md_cell(c.group.empty() ? c.name : c.group + " › " + c.name) + " | " + std::to_string(c.passes) +
            " | " + std::to_string(c.fails) + " |\n";
    }
    md += "\n";
  }
  return md;
}

// ---------------------------------------------------------------------------------------------- JUnit

std::string render_junit(const run_results& r) {
  size_t threshold_failures = 0, invariant_failures = 0, invariant_skipped = 0;
  for (const auto& t : r.thresholds) threshold_failures += t.ok ? 0 : 1;
  for (const auto& i : r.invariants) {
    if (!i.ok) ++invariant_skipped;
    else if (!*i.ok) ++invariant_failures;
  }
  size_t tests = r.thresholds.size() + r.invariants.size() + (r.aborted ? 1 : 0);
  size_t failures = threshold_failures + invariant_failures + (r.aborted ? 1 : 0);
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += "<testsuites name=\"stampede\" tests=\"" + std::to_string(tests) + "\" failures=\"" +
       std::to_string(failures) + "\" errors=\"0\" time=\"" + text::num(r.duration_s, 3) + "\">\n";
  std::string scenario = text::xml_escape(r.scenario);
  x += "  <testsuite name=\"stampede.thresholds\" tests=\"" + std::to_string(r.thresholds.size()) +
       "\" failures=\"" + std::to_string(threshold_failures) + "\" errors=\"0\" skipped=\"0\" time=\"0\">\n";
  if (!r.scenario.empty()) {
    x += "    <properties><property name=\"scenario\" value=\"" + scenario + "\"/><property name=\"target\" value=\"" +
         text::xml_escape(r.target) + "\"/></properties>\n";
  }
  for (const auto& t : r.thresholds) {
    std::string name = text::xml_escape(t.metric + " " + t.expression);
    x += "    <testcase classname=\"stampede.thresholds\" name=\"" + name + "\" time=\"0\"";
    if (t.ok) {
      x += "/>\n";
    } else {
      std::string msg = text::xml_escape("observed " + threshold_observed(t) + ", threshold " + t.expression);
      x += ">\n      <failure type=\"threshold\" message=\"" + msg + "\">" + text::xml_escape(t.metric) + ": " + msg +
           (t.abort_on_fail ? " (abort_on_fail)" : "") + "</failure>\n    </testcase>\n";
    }
  }
  x += "  </testsuite>\n";
  if (r.has_verify) {
    x += "  <testsuite name=\"stampede.invariants\" tests=\"" + std::to_string(r.invariants.size()) +
         "\" failures=\"" + std::to_string(invariant_failures) + "\" errors=\"0\" skipped=\"" +
         std::to_string(invariant_skipped) + "\" time=\"0\">\n";
    for (const auto& i : r.invariants) {
      x += "    <testcase classname=\"stampede.invariants\" name=\"" + text::xml_escape(i.name) + "\" time=\"0\"";
      if (i.ok && *i.ok) {
        x += "/>\n";
      } else if (!i.ok) {
        x += ">\n      <skipped message=\"indeterminate: " + text::xml_escape(i.detail) + "\"/>\n    </testcase>\n";
      } else {
        x += ">\n      <failure type=\"invariant\" message=\"" + text::xml_escape(i.detail) + "\">" +
             text::xml_escape(i.detail) + "</failure>\n    </testcase>\n";
      }
    }
    x += "  </testsuite>\n";
  }
  if (r.aborted) {
    x += "  <testsuite name=\"stampede.run\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"0\">\n"
         "    <testcase classname=\"stampede.run\" name=\"run completed\" time=\"0\">\n"
         "      <failure type=\"aborted\" message=\"" +
         text::xml_escape(r.aborted->text()) + "\"/>\n    </testcase>\n  </testsuite>\n";
  }
  x += "</testsuites>\n";
  return x;
}

// ---------------------------------------------------------------------------------------------- hgrm

std::string render_hgrm(const run_results& r, std::string_view step, bool uncorrected) {
  const step_result* s = &r.summary;
  if (!step.empty()) {
    s = r.find_step(step);
    if (s == nullptr) throw results_error("no step named \"" + std::string(step) + "\"");
  }
  const std::string& encoded = uncorrected ? s->uncorrected_histogram : s->histogram;
  hdr_histogram h = decode_histogram(encoded, std::string(step.empty() ? "summary" : step) +
                                                  (uncorrected ? " (uncorrected)" : ""));
  return h.percentile_distribution(5, 1000.0);
}

// ---------------------------------------------------------------------------------------------- hlog

std::string render_hlog(const run_results& r) {
  std::string out;
  out.reserve(r.intervals.size() * 200 + 1024);
  double start = static_cast<double>(r.start_unix_ms) / 1000.0;
  out += "#[Logged with stampede " + (r.stampede_version.empty() ? std::string("?") : r.stampede_version) +
         " (stampede report), values in microseconds, Interval_Max in milliseconds]\n";
  out += "#[Histogram log format version 1.3]\n";
  out += "#[StartTime: " + text::format("%.3f", start) + " (seconds since epoch), " + r.started_at + "]\n";
  out += "#[BaseTime: " + text::format("%.3f", start) + " (seconds since epoch)]\n";
  // Tags cannot carry spaces or commas; say which step each tag stands for.
  std::map<std::string, std::string> tag_of;
  for (const auto& s : r.steps) {
    std::string tag = (s.kind == "group" ? "group." : "") + text::slug(s.name);
    tag_of.emplace(s.name, tag);
    out += "#[Tag " + tag + ": " + text::md_cell(s.name) + "]\n";
  }
  for (const auto& m : r.metrics) {
    if (m.type == "trend" && m.is_time && !m.histogram.empty()) {
      out += "#[Tag metric." + text::slug(m.name) + ": custom trend " + text::md_cell(m.name) + ", the whole run]\n";
    }
  }
  out += "#[Untagged lines: all request steps added]\n";
  out += "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

  // Rows are written in time order; within a second the untagged sum first, then steps in document order.
  std::map<int64_t, std::vector<const interval_row*>> by_t;
  for (const auto& row : r.intervals) by_t[row.t].push_back(&row);
  for (const auto& [t, rows] : by_t) {
    hdr_histogram all;
    double length = 1.0;
    std::string tagged;
    for (const interval_row* row : rows) {
      hdr_histogram h = decode_histogram(row->histogram, "intervals (" + row->step + ", t=" + std::to_string(t) + ")");
      length = row->interval_s;
      const step_result* s = r.find_step(row->step);
      if (s == nullptr || (s->kind != "group" && s->kind != "tagged")) all.add(h);
      auto it = tag_of.find(row->step);
      std::string tag = it != tag_of.end() ? it->second : text::slug(row->step);
      tagged += "Tag=" + tag + "," + text::format("%.3f,%.3f,%.3f,", static_cast<double>(t), row->interval_s,
                                                   static_cast<double>(h.max()) / 1000.0) +
                row->histogram + "\n";
    }
    out += text::format("%.3f,%.3f,%.3f,", static_cast<double>(t), length, static_cast<double>(all.max()) / 1000.0) +
           all.encode_compressed_base64() + "\n";
    out += tagged;
  }
  // Custom time trends (metrics.trend(name, true)) have one histogram for the whole run: one line each.
  for (const auto& m : r.metrics) {
    if (m.type != "trend" || !m.is_time || m.histogram.empty()) continue;
    hdr_histogram h = decode_histogram(m.histogram, "metrics (" + m.name + ")");
    out += "Tag=metric." + text::slug(m.name) + "," +
           text::format("%.3f,%.3f,%.3f,", 0.0, r.duration_s, static_cast<double>(h.max()) / 1000.0) + m.histogram +
           "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- JSON

namespace {

json::object latency_json(const latency_stats& l) {
  return json::object{{"min", l.min}, {"mean", l.mean}, {"p50", l.p50}, {"p90", l.p90}, {"p95", l.p95},
                      {"p99", l.p99}, {"p999", l.p999}, {"max", l.max}};
}

json::object step_json(const step_result& s) {
  json::object o{{"name", s.name}, {"kind", s.kind}, {"requests", s.requests}, {"rps", s.rps},
                 {"errors", s.errors}, {"error_rate", s.error_rate}};
  o["latency_ms"] = latency_json(s.latency);
  o["uncorrected_latency_ms"] = latency_json(s.uncorrected);
  return o;
}

json::value opt_json(const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); }

}  // namespace

std::string render_json(const run_results& r) {
  json::object o;
  o["schema"] = "stampede-report";
  o["version"] = 1;
  o["verdict"] = run_verdict(r) == verdict::pass ? "pass" : "fail";
  o["verdict_text"] = verdict_text(r);
  o["scenario"] = r.scenario;
  o["target"] = r.target;
  o["started_at"] = r.started_at;
  o["duration_s"] = r.duration_s;
  o["saturated"] = r.saturated;
  o["aborted"] = r.aborted ? json::value(r.aborted->text()) : json::value(nullptr);
  json::array thresholds;
  for (const auto& t : r.thresholds) {
    thresholds.push_back(json::object{{"metric", t.metric}, {"expression", t.expression},
                                      {"observed", opt_json(t.observed)}, {"ok", t.ok}});
  }
  o["thresholds"] = std::move(thresholds);
  json::array invariants;
  for (const auto& i : r.invariants) {
    invariants.push_back(json::object{{"name", i.name},
                                      {"ok", i.ok ? json::value(*i.ok) : json::value(nullptr)},
                                      {"detail", i.detail}});
  }
  o["invariants"] = std::move(invariants);
  o["summary"] = step_json(r.summary);
  json::array steps;
  for (const auto& s : r.steps) steps.push_back(step_json(s));
  o["steps"] = std::move(steps);
  json::array faults;
  for (const auto& f : compute_recovery(r)) {
    faults.push_back(json::object{{"label", f.label},
                                  {"start_s", f.start_s},
                                  {"end_s", opt_json(f.end_s)},
                                  {"heal_s", opt_json(f.heal_s)},
                                  {"status", to_string(f.status)},
                                  {"reason", f.reason},
                                  {"detected", f.detected ? json::value(*f.detected) : json::value(nullptr)},
                                  {"time_to_detect_s", opt_json(f.time_to_detect_s)},
                                  {"time_to_recover_s", opt_json(f.time_to_recover_s)},
                                  {"time_to_first_success_s", opt_json(f.time_to_first_success_s)},
                                  {"judged_seconds", f.judged_seconds},
                                  {"degraded_seconds", f.degraded_seconds},
                                  {"errors_during", f.errors_during},
                                  {"errors_shared", f.errors_shared},
                                  {"p99_baseline_ms", opt_json(f.p99_baseline_ms)},
                                  {"p99_during_ms", opt_json(f.p99_during_ms)},
                                  {"p99_after_ms", opt_json(f.p99_after_ms)}});
  }
  o["faults"] = std::move(faults);
  return json::serialize(o) + "\n";
}

std::string render(const run_results& r, report_format f) {
  switch (f) {
    case report_format::html: return render_html(r);
    case report_format::markdown: return render_markdown(r);
    case report_format::junit: return render_junit(r);
    case report_format::hgrm: return render_hgrm(r);
    case report_format::hlog: return render_hlog(r);
    case report_format::json: return render_json(r);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------- directory

namespace {

void write_file(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path.string() + ": cannot create");
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) throw std::runtime_error(path.string() + ": write failed");
}

}  // namespace

std::vector<std::filesystem::path> write_report_directory(const run_results& r, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::vector<std::filesystem::path> written;
  auto put = [&](const std::filesystem::path& p, std::string_view content) {
    write_file(p, content);
    written.push_back(p);
  };
  put(dir / "report.html", render_html(r));
  put(dir / "summary.md", render_markdown(r));
  put(dir / "junit.xml", render_junit(r));
  put(dir / "summary.json", render_json(r));
  if (!r.intervals.empty()) put(dir / "results.hlog", render_hlog(r));
  if (!r.summary.histogram.empty()) put(dir / "latency.hgrm", render_hgrm(r));
  if (!r.summary.uncorrected_histogram.empty()) put(dir / "latency.uncorrected.hgrm", render_hgrm(r, {}, true));
  bool made_dir = false;
  std::map<std::string, int> used;  // two names may share a slug
  for (const auto& s : r.steps) {
    if (s.histogram.empty() && s.uncorrected_histogram.empty()) continue;
    if (!made_dir) {
      std::filesystem::create_directories(dir / "hgrm");
      made_dir = true;
    }
    std::string base = (s.kind == "group" ? "group." : "") + text::slug(s.name);
    int n = used[base]++;
    if (n > 0) base += "-" + std::to_string(n + 1);
    if (!s.histogram.empty()) put(dir / "hgrm" / (base + ".hgrm"), render_hgrm(r, s.name));
    if (!s.uncorrected_histogram.empty()) {
      put(dir / "hgrm" / (base + ".uncorrected.hgrm"), render_hgrm(r, s.name, true));
    }
  }
  return written;
}

std::vector<std::filesystem::path> write_report_directory(const json::value& results,
                                                          const std::filesystem::path& dir) {
  return write_report_directory(parse_results(results), dir);
}

}  // namespace stampede::reports
