#include "reports/alerts_report.h"

#include <algorithm>

#include <boost/json.hpp>

#include "reports/text_util.h"

namespace stampede::reports {

namespace {

namespace json = boost::json;

// results.drill.alerts, or null.
const json::object* alerts_section(const run_results& r) {
  const auto* root = r.document.if_object();
  const auto* drill = root != nullptr ? root->if_contains("drill") : nullptr;
  const auto* alerts =
      drill != nullptr && drill->is_object() ? drill->as_object().if_contains("alerts") : nullptr;
  return alerts != nullptr && alerts->is_object() ? &alerts->as_object() : nullptr;
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string secs(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? text::num(v->to_number<double>(), 1) + " s" : std::string("-");
}

bool measured(const json::object& a) {
  const auto* m = a.if_contains("measured");
  return m != nullptr && m->is_bool() && m->as_bool();
}

const json::array& array_at(const json::object& o, std::string_view key) {
  static const json::array none;
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? v->as_array() : none;
}

// "ShopNodeDown (node=node2), ..." of a fault's alerts.
std::string alert_names(const json::object& fault) {
  std::string out;
  for (const auto& a : array_at(fault, "alerts")) {
    const auto& ao = a.as_object();
    out += (out.empty() ? "" : ", ") + str(ao, "alertname");
    if (ao.at("firing_after_s").is_null()) out += " (pending only)";
  }
  return out.empty() ? "none" : out;
}

std::string alarm_text(const json::object& e) {
  std::string labels = str(e, "labels");
  return str(e, "alertname") + (labels.empty() ? "" : " {" + labels + "}") + " at " + secs(e, "first_s") +
         (e.at("firing_s").is_null() ? " (pending only)" : ", firing at " + secs(e, "firing_s"));
}

std::string grace_note(const json::object& a) {
  return "A fault's window runs from its start to its heal + " + secs(a, "grace_s") +
         " of grace; times are after the fault's start (Prometheus ALERTS at a " + secs(a, "step_s") +
         " step, notifications from the webhook log).";
}

}  // namespace

std::string render_alerts_markdown(const run_results& r) {
  const json::object* a = alerts_section(r);
  if (a == nullptr) return {};
  std::string md = "### Alerts per fault\n\n";
  if (!measured(*a)) return md + text::md_cell(str(*a, "error")) + "\n\n";
  md += grace_note(*a) + "\n\n";
  md +=
      "| fault | first pending after | first firing after | first notification after | alerts |\n"
      "|---|--:|--:|--:|---|\n";
  for (const auto& f : array_at(*a, "faults")) {
    const auto& fo = f.as_object();
    const bool missed = array_at(fo, "alerts").empty();
    md += "| " + text::md_cell(str(fo, "label")) + " | " + secs(fo, "first_pending_after_s") + " | " +
          secs(fo, "first_firing_after_s") + " | " + secs(fo, "first_notification_after_s") + " | " +
          (missed ? "**missed**" : text::md_cell(alert_names(fo))) + " |\n";
  }
  const auto& alarms = array_at(*a, "false_alarms");
  md += "\nFalse alarms: " + std::to_string(alarms.size()) + (alarms.empty() ? "" : ":") + "\n";
  for (const auto& e : alarms) md += "- " + text::md_cell(alarm_text(e.as_object())) + "\n";
  md += "\nMissed faults (no alert): " + std::to_string(array_at(*a, "missed").size()) + "\n\n";
  return md;
}

std::string render_alerts_html(const run_results& r) {
  const json::object* a = alerts_section(r);
  if (a == nullptr) return {};
  std::string h = "<h2>Alerts per fault</h2>\n";
  if (!measured(*a)) return h + "<p class=\"bad\">" + text::xml_escape(str(*a, "error")) + "</p>\n";
  h += "<p><small>" + text::xml_escape(grace_note(*a)) + "</small></p>\n";
  h += "<table id=\"alerts\"><tr><th class=\"name\">fault</th><th>first pending after</th>"
       "<th>first firing after</th><th>first notification after</th><th class=\"name\">alerts</th></tr>\n";
  for (const auto& f : array_at(*a, "faults")) {
    const auto& fo = f.as_object();
    const bool missed = array_at(fo, "alerts").empty();
    h += "<tr><td class=\"name\">" + text::xml_escape(str(fo, "label")) + "</td><td>" +
         secs(fo, "first_pending_after_s") + "</td><td>" + secs(fo, "first_firing_after_s") + "</td><td>" +
         secs(fo, "first_notification_after_s") + "</td><td class=\"text" +
         (missed ? " bad\">missed" : " ok\">" + text::xml_escape(alert_names(fo))) + "</td></tr>\n";
  }
  h += "</table>\n";
  const auto& alarms = array_at(*a, "false_alarms");
  h += "<p>False alarms: <b>" + std::to_string(alarms.size()) + "</b>; missed faults (no alert): <b>" +
       std::to_string(array_at(*a, "missed").size()) + "</b></p>\n";
  if (!alarms.empty()) {
    h += "<ul id=\"false-alarms\">\n";
    for (const auto& e : alarms) h += "<li>" + text::xml_escape(alarm_text(e.as_object())) + "</li>\n";
    h += "</ul>\n";
  }
  return h;
}

std::vector<alert_mark> alert_marks(const run_results& r) {
  const json::object* a = alerts_section(r);
  if (a == nullptr || !measured(*a)) return {};
  const auto key = [](const json::object& e) {
    return str(e, "alertname") + "|" + str(e, "labels") + "|" + json::serialize(e.at("first_s"));
  };
  std::vector<std::string> false_alarms;
  for (const auto& e : array_at(*a, "false_alarms")) false_alarms.push_back(key(e.as_object()));
  std::vector<alert_mark> marks;
  for (const auto& e : array_at(*a, "episodes")) {
    const auto& eo = e.as_object();
    const bool fired = eo.at("firing_s").is_number();
    const auto& t = fired ? eo.at("firing_s") : eo.at("first_s");
    if (!t.is_number()) continue;
    marks.push_back({t.to_number<double>(), str(eo, "alertname") + (fired ? " firing" : " pending"),
                     std::find(false_alarms.begin(), false_alarms.end(), key(eo)) != false_alarms.end()});
  }
  return marks;
}

}  // namespace stampede::reports
