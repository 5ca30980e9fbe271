#include "drill/autoscale_analysis.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "common/hdr_histogram.h"

namespace stampede::drill {

namespace json = boost::json;

namespace {

json::value opt(const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); }

std::string string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

const json::object* object_at(const json::value& v, std::string_view key) {
  const auto* o = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  return o != nullptr && o->is_object() ? &o->as_object() : nullptr;
}

const json::array* array_at(const json::value& v, std::string_view key) {
  const auto* a = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  return a != nullptr && a->is_array() ? &a->as_array() : nullptr;
}

bool is_added(const std::string& node, int initial_nodes) {
  for (int i = 1; i <= initial_nodes; ++i) {
    if (node == "node" + std::to_string(i)) return false;
  }
  return true;
}

// A positive finite number from "KEY=VALUE", or an error naming the word.
double positive_number(const std::string& word, const std::string& value) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || !std::isfinite(v) || v <= 0) {
    throw std::invalid_argument("--@autoscale " + word + ": expected a positive number");
  }
  return v;
}

}  // namespace

std::vector<autoscale_event> autoscale_events_from_jsonl(const std::string& text, double start_unix_ms,
                                                         int& skipped) {
  std::vector<autoscale_event> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec);
    const json::object* o = !ec && v.is_object() ? &v.as_object() : nullptr;
    const json::value* ms = o != nullptr ? o->if_contains("t_unix_ms") : nullptr;
    if (ms == nullptr || !ms->is_number() || string_at(*o, "event").empty()) {
      ++skipped;
      continue;
    }
    autoscale_event e;
    e.t_s = (ms->to_number<double>() - start_unix_ms) / 1000.0;
    e.event = string_at(*o, "event");
    e.node = string_at(*o, "node");
    e.action = string_at(*o, "action");
    if (const auto* f = o->if_contains("from"); f != nullptr && f->is_number())
      e.from = f->to_number<int64_t>();
    if (const auto* t = o->if_contains("to"); t != nullptr && t->is_number()) e.to = t->to_number<int64_t>();
    out.push_back(std::move(e));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const autoscale_event& a, const autoscale_event& b) { return a.t_s < b.t_s; });
  return out;
}

json::object analyse_autoscale(const autoscale_inputs& in) {
  const double end = std::max(0.0, in.duration_s);
  // Nodes alive over [0, end]: node1..nodeN from the start, then each node_started / node_removed (a set,
  // so a repeated line or an event before the run about an initial node changes nothing).
  std::set<std::string> alive;
  for (int i = 1; i <= in.initial_nodes; ++i) alive.insert("node" + std::to_string(i));
  std::set<std::string> added, removed;
  json::array over_time;
  double node_seconds = 0, last_t = 0;
  size_t peak = alive.size();
  bool started = false;  // the curve's first point [0, n] is written
  for (const auto& e : in.events) {
    if (e.event != "node_started" && e.event != "node_removed") continue;
    if (e.t_s > end) continue;  // after the run (the quiet wait): no part of its figures
    if (e.event == "node_started" && is_added(e.node, in.initial_nodes)) added.insert(e.node);
    if (e.event == "node_removed") removed.insert(e.node);
    const double t = std::max(0.0, e.t_s);
    if (t > 0 && !started) {
      over_time.push_back(json::array{0.0, alive.size()});
      started = true;
    }
    node_seconds += static_cast<double>(alive.size()) * (t - last_t);
    last_t = t;
    const size_t before = alive.size();
    if (e.event == "node_started")
      alive.insert(e.node);
    else
      alive.erase(e.node);
    if (alive.size() != before) {
      if (started && !over_time.empty() && over_time.back().as_array()[0].to_number<double>() == t) {
        over_time.back().as_array()[1] = alive.size();  // several changes in the same instant: the last
      } else {
        over_time.push_back(json::array{t, alive.size()});
      }
      started = true;
    }
    peak = std::max(peak, alive.size());
  }
  if (!started) over_time.push_back(json::array{0.0, alive.size()});
  node_seconds += static_cast<double>(alive.size()) * (end - last_t);
  over_time.push_back(json::array{end, alive.size()});

  // Decisions during the run.
  int64_t decisions = 0, scale_outs = 0, scale_ins = 0;
  for (const auto& e : in.events) {
    if (e.event != "decision" || e.t_s < 0 || e.t_s > end) continue;
    ++decisions;
    if (e.action == "scale_out") ++scale_outs;
    if (e.action == "scale_in") ++scale_ins;
  }

  // Time to scale: the step -> the first request served by a node added at or after it.
  std::optional<double> to_scale, to_decision, to_ready;
  std::string note;
  int64_t added_before_step = 0;
  if (!in.step_s) {
    note = "no load step: " +
           (in.step_note.empty() ? std::string("the scenario's planned load has none") : in.step_note);
  } else {
    const double step = *in.step_s;
    std::set<std::string> added_after_step;
    for (const auto& e : in.events) {
      if (e.event == "node_started" && added.contains(e.node)) {
        if (e.t_s >= step)
          added_after_step.insert(e.node);
        else
          ++added_before_step;
      }
    }
    for (const auto& e : in.events) {
      if (e.t_s < step) continue;
      if (e.event == "decision" && e.action == "scale_out" && !to_decision) to_decision = e.t_s - step;
      if (!added_after_step.contains(e.node)) continue;
      if (e.event == "node_ready" && !to_ready) to_ready = e.t_s - step;
      if (e.event == "node_first_request" && !to_scale) to_scale = e.t_s - step;
    }
    if (added.empty()) {
      note = "no node was added";
    } else if (added_after_step.empty()) {
      note = std::to_string(added.size()) + " node(s) added, none at or after the step";
    } else if (!to_scale) {
      note = std::to_string(added_after_step.size()) + " node(s) added after the step, none served a request";
    }
  }

  // SLO-violation seconds of the checkout, over the run's seconds.
  json::array violations;
  int64_t judged = 0, by_p99 = 0, by_errors = 0, by_dropped = 0;
  for (const auto& s : in.checkout) {
    if (s.t < 0 || static_cast<double>(s.t) >= end || (s.samples <= 0 && s.dropped <= 0)) continue;
    ++judged;
    const bool slow = s.samples > 0 && s.p99_ms > in.slo.p99_ms;
    const bool failing = s.requests > 0 &&
                         static_cast<double>(s.errors) / static_cast<double>(s.requests) > in.slo.error_ratio;
    by_p99 += slow ? 1 : 0;
    by_errors += failing ? 1 : 0;
    by_dropped += s.dropped > 0 ? 1 : 0;
    if (slow || failing || s.dropped > 0) violations.push_back(s.t);
  }

  json::object out{
      {"mode", in.mode},
      {"initial_nodes", in.initial_nodes},
      {"duration_s", end},
      {"step_s", opt(in.step_s)},
      {"slo", json::object{{"checkout_step", in.slo.checkout_step},
                           {"p99_ms", in.slo.p99_ms},
                           {"error_ratio", in.slo.error_ratio}}},
      {"time_to_scale_s", opt(to_scale)},
      {"time_to_first_decision_s", opt(to_decision)},
      {"time_to_ready_s", opt(to_ready)},
      {"slo_violation_s", static_cast<int64_t>(violations.size())},
      {"slo_judged_s", judged},
      {"slo_violation_seconds", std::move(violations)},
      {"slo_violation_by",
       json::object{{"p99", by_p99}, {"errors", by_errors}, {"dropped_arrivals", by_dropped}}},
      {"node_seconds", node_seconds},
      {"peak_nodes", peak},
      {"nodes_added", added.size()},
      {"nodes_added_before_step", added_before_step},
      {"nodes_removed", removed.size()},
      {"decisions", decisions},
      {"scale_outs", scale_outs},
      {"scale_ins", scale_ins},
      {"lost_acknowledged_orders", in.lost_orders ? json::value(*in.lost_orders) : json::value(nullptr)},
      {"nodes_over_time", std::move(over_time)},
  };
  if (!to_scale) out["time_to_scale_note"] = note;
  return out;
}

autoscale_directive parse_autoscale_directive(const std::vector<std::string>& words) {
  autoscale_directive d;
  for (const auto& w : words) {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw std::invalid_argument("--@autoscale " + w +
                                  ": expected KEY=VALUE (scenario, step, p99_ms, error_ratio)");
    }
    const std::string key = w.substr(0, eq), value = w.substr(eq + 1);
    if (key == "scenario" && !value.empty()) {
      d.scenario = value;
    } else if (key == "step" && !value.empty()) {
      d.slo.checkout_step = value;
    } else if (key == "p99_ms") {
      d.slo.p99_ms = positive_number(w, value);
    } else if (key == "error_ratio") {
      d.slo.error_ratio = positive_number(w, value);
    } else {
      throw std::invalid_argument("--@autoscale " + w +
                                  ": unknown key (scenario, step, p99_ms, error_ratio)");
    }
  }
  return d;
}

std::optional<double> load_step_s(const std::vector<std::pair<double, double>>& points) {
  for (size_t i = 1; i < points.size(); ++i) {
    const double before = points[i - 1].second, after = points[i].second;
    if (after > before && after >= 2 * before) return points[i - 1].first;
  }
  return std::nullopt;
}

autoscale_inputs autoscale_inputs_from_results(const json::value& results,
                                               const autoscale_directive& directive) {
  autoscale_inputs in;
  in.slo = directive.slo;
  if (const auto* meta = object_at(results, "meta")) {
    if (const auto* d = meta->if_contains("duration_s"); d != nullptr && d->is_number()) {
      in.duration_s = d->to_number<double>();
    }
  }
  in.step_note = "no scenario '" + directive.scenario + "' in the results";
  if (const auto* scenarios = array_at(results, "scenarios")) {
    for (const auto& s : *scenarios) {
      if (!s.is_object() || string_at(s.as_object(), "name") != directive.scenario) continue;
      std::vector<std::pair<double, double>> points;
      if (const auto* load = object_at(s, "load")) {
        if (const auto* p = load->if_contains("points"); p != nullptr && p->is_array()) {
          for (const auto& pt : p->as_array()) {
            if (pt.is_array() && pt.as_array().size() == 2 && pt.as_array()[0].is_number() &&
                pt.as_array()[1].is_number()) {
              points.emplace_back(pt.as_array()[0].to_number<double>(), pt.as_array()[1].to_number<double>());
            }
          }
        }
      }
      in.step_s = load_step_s(points);
      in.step_note = "scenario '" + directive.scenario + "''s planned load never doubles";
    }
  }
  std::map<int64_t, std::pair<checkout_second, hdr_histogram>> seconds;
  const auto second = [&](int64_t t) -> std::pair<checkout_second, hdr_histogram>& {
    auto& entry = seconds.try_emplace(t).first->second;
    entry.first.t = t;
    return entry;
  };
  const auto count = [](const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_number() ? v->to_number<int64_t>() : int64_t{0};
  };
  // A group has no request or error of its own: the second's requests and errors stand for it.
  const bool group = directive.slo.checkout_step.rfind("::", 0) == 0;
  if (const auto* intervals = array_at(results, "intervals")) {
    for (const auto& row : *intervals) {
      if (!row.is_object() || string_at(row.as_object(), "step") != directive.slo.checkout_step) continue;
      const auto& o = row.as_object();
      const auto* t = o.if_contains("t");
      if (t == nullptr || !t->is_number()) continue;
      auto& [sec, hist] = second(t->to_number<int64_t>());
      auto h = hdr_histogram::decode_base64(string_at(o, "histogram"));
      if (h) hist.add(*h);
      if (!group) {
        sec.errors += count(o, "errors");
        // Older files have no per-interval request count: the histogram's count is the same figure.
        sec.requests += o.contains("requests") ? count(o, "requests") : (h ? h->total_count() : 0);
      }
    }
  }
  if (const auto* rows = array_at(results, "timeseries")) {
    for (const auto& row : *rows) {
      if (!row.is_object() || !row.as_object().contains("t")) continue;
      const auto& o = row.as_object();
      const int64_t t = count(o, "t");
      const int64_t dropped = count(o, "dropped_iterations");
      if (!group && dropped == 0 && !seconds.contains(t)) continue;
      auto& sec = second(t).first;
      sec.dropped = dropped;
      if (group) {
        sec.requests = count(o, "requests");
        sec.errors = count(o, "errors");
      }
    }
  }
  for (auto& [t, entry] : seconds) {
    entry.first.samples = entry.second.total_count();
    entry.first.p99_ms =
        entry.first.samples > 0 ? static_cast<double>(entry.second.value_at_percentile(99)) / 1000.0 : 0;
    in.checkout.push_back(entry.first);
  }
  if (const auto* verify = object_at(results, "verify")) {
    if (const auto* invariants = verify->if_contains("invariants");
        invariants != nullptr && invariants->is_array()) {
      for (const auto& inv : invariants->as_array()) {
        if (!inv.is_object() ||
            string_at(inv.as_object(), "name") != "acknowledged orders exist exactly once") {
          continue;
        }
        const auto* evidence = object_at(inv, "evidence");
        const auto* lost = evidence != nullptr ? evidence->if_contains("lost_count") : nullptr;
        // The checker's "nothing to check" (no order operation) has no lost_count: nothing was lost.
        in.lost_orders = lost != nullptr && lost->is_number() ? lost->to_number<int64_t>() : 0;
      }
    }
  }
  return in;
}

json::object measure_autoscale(const json::value& results, const json::value& topology_at_start,
                               const autoscale_directive& directive) {
  try {
    autoscale_inputs in = autoscale_inputs_from_results(results, directive);
    const auto* nodes = array_at(topology_at_start, "nodes");
    in.initial_nodes = nodes != nullptr ? static_cast<int>(nodes->size()) : 0;
    json::object measurement{{"measured", true}};
    if (const auto* as = object_at(topology_at_start, "autoscale")) {
      in.mode = string_at(*as, "mode");
      if (in.mode.empty()) in.mode = "off";
      for (const char* key : {"min_nodes", "max_nodes"}) {
        if (const auto* v = as->if_contains(key)) measurement[key] = *v;
      }
      const std::string log = string_at(*as, "log");
      if (in.mode != "off") {
        measurement["log"] = log;
        int skipped = 0;
        if (std::ifstream file{log}) {
          std::ostringstream text;
          text << file.rdbuf();
          const double start_ms = results.at("meta").at("start_unix_ms").to_number<double>();
          in.events = autoscale_events_from_jsonl(text.str(), start_ms, skipped);
        } else {
          measurement["log_note"] = "no autoscale log " + log + ": no event";
        }
        measurement["log_lines_skipped"] = skipped;
        measurement["log_events"] = in.events.size();
      }
    }
    json::object out = analyse_autoscale(in);
    for (auto& kv : measurement) out[kv.key()] = kv.value();
    return out;
  } catch (const std::exception& e) {
    return {{"measured", false}, {"error", std::string("autoscale not measured: ") + e.what()}};
  }
}

std::string autoscale_summary(const json::value& results) {
  const auto* drill = object_at(results, "drill");
  const auto* a = drill != nullptr ? drill->if_contains("autoscale") : nullptr;
  if (a == nullptr || !a->is_object()) return {};
  const auto& o = a->as_object();
  if (const auto* m = o.if_contains("measured"); m == nullptr || !m->is_bool() || !m->as_bool()) {
    return "    " + string_at(o, "error") + "\n";
  }
  const auto num = [&](std::string_view key, const char* fmt) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_number()) return std::string("-");
    char buf[48];
    std::snprintf(buf, sizeof buf, fmt, v->to_number<double>());
    return std::string(buf);
  };
  std::string out =
      "    autoscale " + string_at(o, "mode") + ": time to scale " + num("time_to_scale_s", "%.1fs");
  if (o.contains("time_to_scale_note")) out += " (" + string_at(o, "time_to_scale_note") + ")";
  out += ", SLO violated " + num("slo_violation_s", "%.0f") + " of " + num("slo_judged_s", "%.0f") + " s, " +
         num("node_seconds", "%.0f") + " node-seconds, peak " + num("peak_nodes", "%.0f") + " nodes, " +
         num("decisions", "%.0f") + " decision(s), lost acknowledged orders " +
         num("lost_acknowledged_orders", "%.0f") + "\n";
  return out;
}

}  // namespace stampede::drill
