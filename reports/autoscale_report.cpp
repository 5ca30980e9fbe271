#include "reports/autoscale_report.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "reports/text_util.h"

namespace stampede::reports {

namespace {

namespace json = boost::json;

// results.drill.autoscale, or null.
const json::object* autoscale_section(const run_results& r) {
  const auto* root = r.document.if_object();
  const auto* drill = root != nullptr ? root->if_contains("drill") : nullptr;
  const auto* a =
      drill != nullptr && drill->is_object() ? drill->as_object().if_contains("autoscale") : nullptr;
  return a != nullptr && a->is_object() ? &a->as_object() : nullptr;
}

bool measured(const json::object& a) {
  const auto* m = a.if_contains("measured");
  return m != nullptr && m->is_bool() && m->as_bool();
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string number(const json::object& o, std::string_view key, int decimals, std::string_view unit = {}) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return "-";
  return text::num(v->to_number<double>(), decimals) + std::string(unit);
}

std::string mode_text(const json::object& a) {
  const std::string mode = str(a, "mode");
  std::string out = mode == "off" || mode.empty() ? "fixed capacity" : mode;
  if (a.contains("min_nodes") && a.contains("max_nodes")) {
    out += " (" + number(a, "min_nodes", 0) + "-" + number(a, "max_nodes", 0) + " nodes)";
  }
  return out;
}

// Time to scale, and the nodes added before the step (a predictive autoscaler ahead of it, or noise), which
// it leaves out.
std::string time_to_scale(const json::object& a) {
  std::string before;
  if (const auto* n = a.if_contains("nodes_added_before_step"); n != nullptr && n->is_number()) {
    if (const auto count = n->to_number<int64_t>(); count > 0) {
      before = "; " + std::to_string(count) + (count == 1 ? " node" : " nodes") + " added before the step";
    }
  }
  if (const auto* v = a.if_contains("time_to_scale_s"); v != nullptr && v->is_number()) {
    return number(a, "time_to_scale_s", 1, " s") + (before.empty() ? "" : " (" + before.substr(2) + ")");
  }
  const std::string note = str(a, "time_to_scale_note");
  return note.empty() ? "-" : "- (" + note + before + ")";
}

std::string violations(const json::object& a) {
  return number(a, "slo_violation_s", 0) + " of " + number(a, "slo_judged_s", 0);
}

std::string decisions(const json::object& a) {
  return number(a, "decisions", 0) + " (" + number(a, "scale_outs", 0) + " out, " +
         number(a, "scale_ins", 0) + " in)";
}

std::string slo_text(const json::object& a) {
  const auto* slo = a.if_contains("slo");
  if (slo == nullptr || !slo->is_object()) return {};
  const auto& s = slo->as_object();
  const auto* ratio = s.if_contains("error_ratio");
  const std::string step = str(s, "checkout_step");
  return "SLO per second: checkout (" + step + ") p99 at most " + number(s, "p99_ms", 0) +
         " ms, error ratio" + (step.rfind("::", 0) == 0 ? " of the second's requests" : "") + " at most " +
         (ratio != nullptr && ratio->is_number() ? text::percent(ratio->to_number<double>(), 1) : "-") +
         ", no arrival dropped; the load step at " + number(a, "step_s", 1, " s") +
         "; time to scale: the step -> the first request a node added at or after "
         "it served.";
}

// One run's cells, in the order of `header`.
const char* const header[] = {
    "mode",       "time to scale", "first decision after step", "SLO-violation s (of judged)", "node-seconds",
    "peak nodes", "decisions",     "lost acknowledged orders"};

std::vector<std::string> cells(const json::object& a) {
  return {mode_text(a),
          time_to_scale(a),
          number(a, "time_to_first_decision_s", 1, " s"),
          violations(a),
          number(a, "node_seconds", 0),
          number(a, "peak_nodes", 0),
          decisions(a),
          number(a, "lost_acknowledged_orders", 0)};
}

const json::object& measured_section(const run_results& r, const std::string& name) {
  const json::object* a = autoscale_section(r);
  if (a == nullptr) throw results_error(name + ": no drill.autoscale (not an autoscale game day's results)");
  if (!measured(*a)) throw results_error(name + ": " + str(*a, "error"));
  return *a;
}

std::vector<std::pair<double, double>> curve_of(const json::object& a) {
  std::vector<std::pair<double, double>> out;
  const auto* pts = a.if_contains("nodes_over_time");
  if (pts == nullptr || !pts->is_array()) return out;
  for (const auto& p : pts->as_array()) {
    if (!p.is_array() || p.as_array().size() != 2 || !p.as_array()[0].is_number() ||
        !p.as_array()[1].is_number()) {
      continue;
    }
    const double t = p.as_array()[0].to_number<double>(), n = p.as_array()[1].to_number<double>();
    if (!out.empty() && out.back().second != n) out.emplace_back(t, out.back().second);  // the step
    out.emplace_back(t, n);
  }
  return out;
}

}  // namespace

std::string autoscale_mode(const run_results& r) {
  const json::object* a = autoscale_section(r);
  return a == nullptr ? std::string() : str(*a, "mode");
}

std::vector<std::pair<double, double>> autoscale_node_curve(const run_results& r) {
  const json::object* a = autoscale_section(r);
  if (a == nullptr || !measured(*a)) return {};
  return curve_of(*a);
}

std::string render_autoscale_markdown(const run_results& r) {
  const json::object* a = autoscale_section(r);
  if (a == nullptr) return {};
  std::string md = "### Autoscaling\n\n";
  if (!measured(*a)) return md + text::md_cell(str(*a, "error")) + "\n\n";
  md += slo_text(*a) + "\n\n|";
  std::string rule = "|";
  for (const char* h : header) {
    md += std::string(" ") + h + " |";
    rule += "---|";
  }
  md += "\n" + rule + "\n|";
  for (const auto& c : cells(*a)) md += " " + text::md_cell(c) + " |";
  return md + "\n\n";
}

std::string render_autoscale_html(const run_results& r) {
  const json::object* a = autoscale_section(r);
  if (a == nullptr) return {};
  std::string h = "<h2>Autoscaling</h2>\n";
  if (!measured(*a)) return h + "<p class=\"bad\">" + text::xml_escape(str(*a, "error")) + "</p>\n";
  h += "<p><small>" + text::xml_escape(slo_text(*a)) + "</small></p>\n<table id=\"autoscale\"><tr>";
  for (const char* c : header) h += std::string("<th>") + c + "</th>";
  h += "</tr>\n<tr>";
  for (const auto& c : cells(*a)) h += "<td>" + text::xml_escape(c) + "</td>";
  return h + "</tr>\n</table>\n";
}

std::string render_autoscale_comparison_markdown(const std::vector<run_results>& runs,
                                                 const std::vector<std::string>& names) {
  std::string md = "## Autoscaling side by side\n\n";
  std::string head = "| run |", rule = "|---|";
  for (const char* h : header) {
    head += std::string(" ") + h + " |";
    rule += "---|";
  }
  md += head + "\n" + rule + "\n";
  std::string slo;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& a = measured_section(runs[i], names[i]);
    if (slo.empty()) slo = slo_text(a);
    md += "| " + text::md_cell(names[i]) + " |";
    for (const auto& c : cells(a)) md += " " + text::md_cell(c) + " |";
    md += "\n";
  }
  return md + "\n" + slo + " Node-seconds: the nodes alive integrated over the run (the cost).\n";
}

std::string render_autoscale_comparison_html(const std::vector<run_results>& runs,
                                             const std::vector<std::string>& names) {
  static const char* const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Autoscaling side by "
      "side</title>"
      "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:4px "
      "8px;text-align:right}td:first-child,th:first-child{text-align:left}"
      "</style></head><body>\n<h1>Autoscaling side by side</h1>\n<table "
      "id=\"autoscale-compare\"><tr><th>run</th>";
  for (const char* c : header) h += std::string("<th>") + c + "</th>";
  h += "</tr>\n";
  std::string slo;
  double t_max = 1, n_max = 1;
  std::vector<std::vector<std::pair<double, double>>> curves;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& a = measured_section(runs[i], names[i]);
    if (slo.empty()) slo = slo_text(a);
    h += "<tr><td>" + text::xml_escape(names[i]) + "</td>";
    for (const auto& c : cells(a)) h += "<td>" + text::xml_escape(c) + "</td>";
    h += "</tr>\n";
    curves.push_back(curve_of(a));
    for (const auto& [t, n] : curves.back()) {
      t_max = std::max(t_max, t);
      n_max = std::max(n_max, n);
    }
  }
  h += "</table>\n<p><small>" + text::xml_escape(slo) +
       " Node-seconds: the nodes alive integrated over the run (the cost).</small></p>\n";
  // Nodes over time, one line per run (a step curve), on one chart.
  constexpr double w = 960, ht = 240, ml = 40, mr = 10, mt = 10, mb = 30;
  const double top = std::ceil(n_max) + 1;
  const auto sx = [&](double t) { return ml + t / t_max * (w - ml - mr); };
  const auto sy = [&](double n) { return mt + (1 - n / top) * (ht - mt - mb); };
  h += text::format(
      "<h2>Nodes over time</h2>\n<svg id=\"autoscale-nodes\" viewBox=\"0 0 %.0f %.0f\" "
      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"nodes over time\">\n",
      w, ht);
  for (int n = 0; n <= static_cast<int>(top); ++n) {
    h += text::format(
        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%d</text>\n",
        ml, w - mr, sy(n), sy(n), ml - 4, sy(n) + 4, n);
  }
  h += text::format(
      "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">0 s</text><text x=\"%.1f\" y=\"%.1f\" "
      "font-size=\"11\" text-anchor=\"end\">%.0f s</text>\n",
      ml, ht - 8, w - mr, ht - 8, t_max);
  for (size_t i = 0; i < curves.size(); ++i) {
    h += std::string("<polyline fill=\"none\" stroke-width=\"2\" stroke=\"") + colors[i % std::size(colors)] +
         "\" points=\"";
    for (const auto& [t, n] : curves[i]) h += text::format("%.1f,%.1f ", sx(t), sy(n));
    h += "\"><title>" + text::xml_escape(names[i]) + "</title></polyline>\n";
  }
  h += "</svg>\n<p>";
  for (size_t i = 0; i < curves.size(); ++i) {
    h += std::string("<span style=\"color:") + colors[i % std::size(colors)] + "\">&#9644; " +
         text::xml_escape(names[i]) + "</span> ";
  }
  return h + "</p>\n</body></html>\n";
}

}  // namespace stampede::reports
