#include "reports/system_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include <boost/json.hpp>

#include "reports/html_chart.h"
#include "reports/text_util.h"

namespace stampede::reports {

namespace {

namespace json = boost::json;

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// results.drill.system read defensively (a results file may have been edited): wrong types read as absent.
struct server_row {
  double t = 0;
  bool gap = false;
  double requests = 0, errors_5xx = 0;
  std::string status;
};
struct server_view {
  std::string name;
  std::vector<server_row> rows;
};
struct health_change {
  double t = 0;
  std::string server, from, to, check;
};
struct system_row {
  double t = 0;
  double answered = 0;
  double queue = nan, dead = nan, hits = nan, misses = nan, ratio = nan, running = nan, waiting = nan,
         shed = nan;
};
struct system_view {
  double interval_s = 1;
  double readings = 0, gaps = 0;
  std::vector<server_view> servers;
  std::vector<health_change> changes;
  std::vector<system_row> seconds;
};

double number(const json::object& o, std::string_view key, double otherwise = nan) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? v->to_number<double>() : otherwise;
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

const json::array& array_at(const json::object& o, std::string_view key) {
  static const json::array none;
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? v->as_array() : none;
}

std::optional<system_view> system_of(const run_results& r) {
  const auto* root = r.document.if_object();
  const auto* drill = root != nullptr ? root->if_contains("drill") : nullptr;
  const auto* sys =
      drill != nullptr && drill->is_object() ? drill->as_object().if_contains("system") : nullptr;
  if (sys == nullptr || !sys->is_object()) return std::nullopt;
  const auto& s = sys->as_object();
  system_view v;
  v.interval_s = number(s, "interval_s", 1);
  if (!(v.interval_s > 0)) v.interval_s = 1;
  v.readings = number(s, "readings", 0);
  v.gaps = number(s, "haproxy_gaps", 0);
  for (const auto& sv : array_at(s, "servers")) {
    if (!sv.is_object()) continue;
    server_view server{str(sv.as_object(), "name"), {}};
    for (const auto& row : array_at(sv.as_object(), "seconds")) {
      if (!row.is_object()) continue;
      const auto& o = row.as_object();
      const auto* gap = o.if_contains("gap");
      server_row out{number(o, "t", 0), gap != nullptr && gap->is_bool() && gap->as_bool(),
                     number(o, "requests", 0), number(o, "errors_5xx", 0), str(o, "status")};
      if (std::isfinite(out.t)) server.rows.push_back(std::move(out));
    }
    v.servers.push_back(std::move(server));
  }
  for (const auto& c : array_at(s, "health_changes")) {
    if (!c.is_object()) continue;
    const auto& o = c.as_object();
    v.changes.push_back(
        {number(o, "t", 0), str(o, "server"), str(o, "from"), str(o, "to"), str(o, "check_status")});
  }
  for (const auto& row : array_at(s, "seconds")) {
    if (!row.is_object()) continue;
    const auto& o = row.as_object();
    system_row out{number(o, "t", 0),
                   number(o, "nodes_answered", 0),
                   number(o, "queue_depth"),
                   number(o, "dead_letters"),
                   number(o, "cache_hits"),
                   number(o, "cache_misses"),
                   number(o, "cache_hit_ratio"),
                   number(o, "db_running"),
                   number(o, "db_waiting"),
                   number(o, "db_shed")};
    if (std::isfinite(out.t)) v.seconds.push_back(out);
  }
  return v;
}

// Where a second falls relative to the run's faults.
enum class phase { before, during, after };

phase phase_of(const run_results& r, double t, double end_s) {
  bool after_first = false;
  for (const auto& f : r.chaos) {
    if (t >= f.start_s) after_first = true;
    if (t >= f.start_s && t <= f.end_s.value_or(end_s) + 1) return phase::during;  // +1: the row ends at t
  }
  return after_first ? phase::after : phase::before;
}

struct server_summary {
  std::string name;
  double requests = 0, errors = 0;
  double rate[3] = {nan, nan, nan};  // requests per second before, during and after the faults
  std::string last_status;
  int gaps = 0;
};

std::vector<server_summary> summarise(const run_results& r, const system_view& v, double end_s) {
  std::vector<server_summary> out;
  for (const auto& s : v.servers) {
    server_summary sum;
    sum.name = s.name;
    double requests[3] = {0, 0, 0}, seconds[3] = {0, 0, 0};
    double prev_t = nan;
    for (const auto& row : s.rows) {
      const double dt = std::isfinite(prev_t) && row.t > prev_t ? row.t - prev_t : v.interval_s;
      prev_t = row.t;
      if (row.gap) {
        ++sum.gaps;
        continue;
      }
      sum.requests += row.requests;
      sum.errors += row.errors_5xx;
      sum.last_status = row.status;
      const auto p = static_cast<size_t>(phase_of(r, row.t - dt / 2, end_s));
      requests[p] += row.requests;
      seconds[p] += dt;
    }
    for (size_t p = 0; p < 3; ++p) {
      if (seconds[p] > 0) sum.rate[p] = requests[p] / seconds[p];
    }
    out.push_back(std::move(sum));
  }
  return out;
}

std::string rate_text(double v) { return std::isfinite(v) ? text::num(v, 1) : std::string("-"); }

std::string change_text(const health_change& c) {
  return c.server + " " + c.from + " → " + c.to + (c.check.empty() ? "" : " (" + c.check + ")");
}

// The highest value of a figure and when, or "-".
std::string peak(const system_view& v, double system_row::*field) {
  double best = nan, when = 0;
  for (const auto& row : v.seconds) {
    const double x = row.*field;
    if (std::isfinite(x) && !(x <= best)) best = x, when = row.t;
  }
  if (!std::isfinite(best)) return "-";
  return text::num(best, 2) + (best > 0 ? " (at " + text::num(when, 1) + " s)" : std::string());
}

std::string overall_hit_ratio(const system_view& v) {
  double hits = 0, misses = 0;
  for (const auto& row : v.seconds) {
    if (std::isfinite(row.hits)) hits += row.hits;
    if (std::isfinite(row.misses)) misses += row.misses;
  }
  return hits + misses > 0 ? text::percent(hits / (hits + misses)) : std::string("-");
}

std::string last_value(const system_view& v, double system_row::*field) {
  for (auto it = v.seconds.rbegin(); it != v.seconds.rend(); ++it) {
    if (std::isfinite((*it).*field)) return text::num((*it).*field, 2);
  }
  return "-";
}

double total(const system_view& v, double system_row::*field) {
  double sum = 0;
  for (const auto& row : v.seconds) sum += std::isfinite(row.*field) ? row.*field : 0;
  return sum;
}

std::string source_note(const system_view& v) {
  return "Read by the drill itself every " + text::num(v.interval_s, 1) +
         " s: HAProxy's per-server counters and health (\"show stat\" on its runtime API) and each node's "
         "/metrics. " +
         text::num(v.readings, 0) + " readings; HAProxy did not answer " + text::num(v.gaps, 0) +
         " of them (gaps).";
}

std::string figures_line(const system_view& v) {
  return "Order queue depth: peak " + peak(v, &system_row::queue) + ", at the end " +
         last_value(v, &system_row::queue) +
         ". Dead letters at the end: " + last_value(v, &system_row::dead) +
         ". Cache hit ratio: " + overall_hit_ratio(v) + ". Database requests waiting for a worker: peak " +
         peak(v, &system_row::waiting) + "; shed: " + text::num(total(v, &system_row::shed), 0) + ".";
}

double end_of(const run_results& r, const system_view& v) {
  double end = r.duration_s;
  for (const auto& row : v.seconds) end = std::max(end, row.t);
  for (const auto& s : v.servers) {
    if (!s.rows.empty()) end = std::max(end, s.rows.back().t);
  }
  return end;
}

// Each server's share of the requests per second (%): a server taken out drops to 0 and the others' shares
// rise, whatever the load does (a spike would flatten the requests chart).
time_chart_spec share_chart(const system_view& v, double x_max, const std::vector<alert_mark>& marks) {
  time_chart_spec chart{"chart-system-share",
                        "Share of the requests per server (HAProxy)",
                        "% of each second's",
                        0,
                        x_max,
                        {},
                        marks,
                        "health change (red: down, green: up)"};
  std::map<double, double> totals;  // per row's time: the requests of every server
  for (const auto& s : v.servers) {
    for (const auto& row : s.rows) totals[row.t] += row.gap ? 0 : row.requests;
  }
  for (const auto& s : v.servers) {
    time_chart_line line{s.name, {}, false};
    for (const auto& row : s.rows) {
      const double total = totals[row.t];
      line.points.emplace_back(row.t - v.interval_s / 2,
                               row.gap || total <= 0 ? nan : row.requests / total * 100);
    }
    chart.lines.push_back(std::move(line));
  }
  return chart;
}

}  // namespace

std::string render_system_markdown(const run_results& r) {
  const auto v = system_of(r);
  if (!v) return {};
  const double end_s = end_of(r, *v);
  std::string md = "### System side\n\n" + source_note(*v) + "\n\n";
  const bool faults = !r.chaos.empty();
  md += faults
            ? "| server | requests | 5xx | req/s before the faults | during | after | last status | gaps |\n"
              "|---|--:|--:|--:|--:|--:|---|--:|\n"
            : "| server | requests | 5xx | req/s | last status | gaps |\n|---|--:|--:|--:|---|--:|\n";
  for (const auto& s : summarise(r, *v, end_s)) {
    md += "| " + text::md_cell(s.name) + " | " + text::num(s.requests, 0) + " | " + text::num(s.errors, 0) +
          " | ";
    md += faults ? rate_text(s.rate[0]) + " | " + rate_text(s.rate[1]) + " | " + rate_text(s.rate[2])
                 : rate_text(s.rate[0]);
    md += " | " + text::md_cell(s.last_status) + " | " + std::to_string(s.gaps) + " |\n";
  }
  if (v->changes.empty()) {
    md += "\nHealth changes: none (every server kept its state).\n\n";
  } else {
    md += "\n| at | health change |\n|--:|---|\n";
    for (const auto& c : v->changes)
      md += "| " + text::num(c.t, 2) + " s | " + text::md_cell(change_text(c)) + " |\n";
    md += "\n";
  }
  return md + figures_line(*v) + "\n\n";
}

std::string render_system_html(const run_results& r) {
  const auto v = system_of(r);
  if (!v) return {};
  const double end_s = end_of(r, *v);
  std::string h = "<h2>System side</h2>\n<p><small>" + text::xml_escape(source_note(*v)) + "</small></p>\n";
  double x_max = std::max(end_s, 1.0);
  if (!r.timeseries.empty()) x_max = std::max(x_max, static_cast<double>(r.timeseries.back().t + 1));

  time_chart_spec requests{"chart-system-servers",
                           "Requests per server per second (HAProxy)",
                           "per second",
                           0,
                           x_max,
                           {},
                           {},
                           "health change (red: down, green: up)"};
  bool any_5xx = false;
  for (const auto& s : v->servers) {
    time_chart_line line{s.name, {}, false};
    double prev_t = nan;
    for (const auto& row : s.rows) {
      const double dt = std::isfinite(prev_t) && row.t > prev_t ? row.t - prev_t : v->interval_s;
      prev_t = row.t;
      line.points.emplace_back(row.t - dt / 2, row.gap ? nan : row.requests / dt);
      any_5xx = any_5xx || row.errors_5xx > 0;
    }
    requests.lines.push_back(std::move(line));
  }
  if (any_5xx) {
    for (const auto& s : v->servers) {
      time_chart_line line{s.name + " 5xx", {}, true};
      double prev_t = nan;
      for (const auto& row : s.rows) {
        const double dt = std::isfinite(prev_t) && row.t > prev_t ? row.t - prev_t : v->interval_s;
        prev_t = row.t;
        line.points.emplace_back(row.t - dt / 2, row.gap ? nan : row.errors_5xx / dt);
      }
      requests.lines.push_back(std::move(line));
    }
  }
  for (const auto& c : v->changes) {
    const char* color = c.to == "DOWN" ? "#cf222e" : c.to == "UP" ? "#1a7f37" : "#9a6700";
    requests.marks.push_back({c.t, change_text(c), false, color});
  }
  h += render_time_chart(r, requests);
  if (v->servers.size() > 1) h += render_time_chart(r, share_chart(*v, x_max, requests.marks));

  h += "<table id=\"system-servers\"><tr><th class=\"name\">server</th><th>requests</th><th>5xx</th>";
  const bool faults = !r.chaos.empty();
  h += faults ? "<th>req/s before the faults</th><th>during</th><th>after</th>" : "<th>req/s</th>";
  h += "<th class=\"name\">last status</th><th>gaps</th></tr>\n";
  for (const auto& s : summarise(r, *v, end_s)) {
    h += "<tr><td class=\"name\">" + text::xml_escape(s.name) + "</td><td>" + text::num(s.requests, 0) +
         "</td><td>" + text::num(s.errors, 0) + "</td><td>" + rate_text(s.rate[0]) + "</td>";
    if (faults) h += "<td>" + rate_text(s.rate[1]) + "</td><td>" + rate_text(s.rate[2]) + "</td>";
    h += "<td class=\"text\">" + text::xml_escape(s.last_status) + "</td><td>" + std::to_string(s.gaps) +
         "</td></tr>\n";
  }
  h += "</table>\n";
  if (v->changes.empty()) {
    h += "<p id=\"health-changes\">Health changes: none (every server kept its state).</p>\n";
  } else {
    h += "<table id=\"health-changes\"><tr><th>at</th><th class=\"name\">health change</th></tr>\n";
    for (const auto& c : v->changes) {
      h += "<tr><td>" + text::num(c.t, 2) + " s</td><td class=\"text" + (c.to == "DOWN" ? " bad" : "") +
           "\">" + text::xml_escape(change_text(c)) + "</td></tr>\n";
    }
    h += "</table>\n";
  }

  time_chart_spec queue{"chart-system-queue",
                        "Order queue, database and cache per second",
                        "count; hit ratio in %",
                        0,
                        x_max,
                        {},
                        {},
                        {}};
  const auto add = [&](std::string name, double system_row::*field, double scale, bool dashed) {
    time_chart_line line{std::move(name), {}, dashed};
    bool any = false;
    for (const auto& row : v->seconds) {
      const double x = row.*field;
      any = any || std::isfinite(x);
      line.points.emplace_back(row.t, std::isfinite(x) ? x * scale : nan);
    }
    if (any) queue.lines.push_back(std::move(line));
  };
  add("queue depth", &system_row::queue, 1, false);
  add("dead letters", &system_row::dead, 1, false);
  add("database requests waiting", &system_row::waiting, 1, false);
  add("database requests shed", &system_row::shed, 1, false);
  add("nodes answering /metrics", &system_row::answered, 1, true);
  add("cache hit ratio %", &system_row::ratio, 100, true);
  if (!queue.lines.empty()) h += render_time_chart(r, queue);
  h += "<p>" + text::xml_escape(figures_line(*v)) + "</p>\n";
  return h;
}

}  // namespace stampede::reports
