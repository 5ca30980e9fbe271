#include "reports/recovery.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <map>

#include "common/hdr_histogram.h"
#include "reports/text_util.h"

namespace stampede::reports {

namespace json = boost::json;
using namespace recovery_model;

std::string_view to_string(recovery_status s) noexcept {
  switch (s) {
    case recovery_status::recovered:
      return "recovered";
    case recovery_status::unaffected:
      return "unaffected";
    case recovery_status::not_recovered:
      return "not_recovered";
    case recovery_status::not_healed:
      return "not_healed";
    case recovery_status::insufficient_data:
      return "insufficient_data";
  }
  return "insufficient_data";
}

namespace {

// Bounds that keep a hostile results file from costing quadratic time or output.
constexpr size_t max_faults_analysed = 1000;
constexpr size_t max_shared_listed = 20;

// ---------------------------------------------------------------------------------------------- causes

// Where a fault sits: on the clients' own link (what it does reaches them as is), behind a server (a
// node, HAProxy's link to it, the payment link: a server may turn any failure into a 5xx), or unknown.
enum class placement { clients, behind_server, unknown };

bool is_process_fault(std::string_view type) {
  return type == "kill" || type == "terminate" || type == "restart";
}

std::string fault_type(const chaos_fault& f) {
  if (!f.fault.empty()) return f.fault;
  return f.kind == "network" || f.kind == "node" ? std::string()
                                                 : f.kind;  // older files put the type in kind
}

placement place_of(const run_results& r, const chaos_fault& f) {
  if (f.kind == "node" || is_process_fault(fault_type(f)) || fault_type(f) == "pause")
    return placement::behind_server;
  for (const auto& l : r.links) {
    if (l.name == f.target) return l.from == "clients" ? placement::clients : placement::behind_server;
  }
  if (r.links.empty() && f.target == "target") return placement::clients;  // stampede run --proxy
  return placement::unknown;
}

// Can this fault cause a request error of this kind (errors_by_kind names)?
bool can_cause(const chaos_fault& f, placement where, std::string_view kind) {
  if (kind == "other" || kind == "unknown") return true;
  static const std::map<std::string, std::vector<std::string_view>, std::less<>> direct{
      {"latency", {"read_timeout", "connect_timeout"}},
      {"bandwidth", {"read_timeout", "connect_timeout"}},
      {"slicer", {"read_timeout", "connect_timeout"}},
      {"slow_open", {"read_timeout", "connect_timeout"}},
      {"slow_close", {"read_timeout", "connect_timeout"}},
      {"http_delay", {"read_timeout", "connect_timeout"}},
      {"timeout", {"read_timeout", "reset", "malformed_response", "tls"}},
      {"reset_peer", {"reset", "malformed_response", "tls"}},
      {"limit_data", {"reset", "malformed_response", "tls"}},
      {"limit_time", {"reset", "malformed_response", "tls"}},
      {"packet_loss", {"read_timeout", "connect_timeout", "reset", "malformed_response", "tls"}},
      {"http_abort", {}},
      {"kill", {"reset", "connect_refused", "read_timeout", "connect_timeout"}},
      {"terminate", {"reset", "connect_refused", "read_timeout", "connect_timeout"}},
      {"restart", {"reset", "connect_refused", "read_timeout", "connect_timeout"}},
      {"pause", {"read_timeout", "connect_timeout"}},
  };
  const std::string type = fault_type(f);
  const auto it = direct.find(type);
  if (it == direct.end()) return true;  // a fault we do not know could cause anything
  if (std::find(it->second.begin(), it->second.end(), kind) != it->second.end()) return true;
  if (type == "http_abort" &&
      kind == (f.http_status > 0 && f.http_status < 500 ? "status_4xx" : "status_5xx"))
    return true;
  return where != placement::clients && kind == "status_5xx";
}

// Errors of second `s` this fault could have caused (kinds it can cause, plus errors of no recorded kind).
int64_t errors_it_can_cause(const chaos_fault& f, placement where, const second& s) {
  int64_t by_kind = 0, compatible = 0;
  for (const auto& [kind, n] : s.error_kinds) {
    by_kind += n;
    if (can_cause(f, where, kind)) compatible += n;
  }
  return compatible + std::max<int64_t>(0, s.errors - by_kind);
}

// ---------------------------------------------------------------------------------------------- one fault

struct fault_state {
  const chaos_fault* f = nullptr;
  placement where = placement::unknown;
  bool not_injected = false;  // its injection failed: it did nothing
  recovery_figures fig;
  int64_t start_t = 0;
  int64_t active_end_t = 0;  // [start_t, active_end_t): the seconds the fault overlaps
  int64_t window_end_t = 0;  // [start_t, window_end_t): until its recovery, or the end of the run
};

struct analysis_context {
  const run_results& r;
  const timeline& tl;
  std::vector<fault_state>& faults;
  std::vector<int> active;  // per tl.seconds[i]: faults that could have acted active in that second

  static bool inert(const fault_state& fs) { return fs.not_injected || fs.fig.touched_nothing; }
  static bool active_at(const fault_state& fs, int64_t t) { return t >= fs.start_t && t < fs.active_end_t; }

  void count_active() {
    std::vector<int> diff(tl.seconds.size() + 1, 0);
    for (const auto& fs : faults) {
      if (inert(fs)) continue;
      const auto span = tl.range(fs.start_t, fs.active_end_t);
      const auto lo = static_cast<size_t>(span.data() - tl.seconds.data());
      ++diff[lo];
      --diff[lo + span.size()];
    }
    active.assign(tl.seconds.size(), 0);
    int running = 0;
    for (size_t i = 0; i < active.size(); ++i) active[i] = running += diff[i];
  }

  // Another fault that could have acted is active in second s (one that did nothing does not count).
  bool other_active(const fault_state& self, const second& s) const {
    const int here = active[static_cast<size_t>(&s - tl.seconds.data())];
    return here - (!inert(self) && active_at(self, s.t) ? 1 : 0) > 0;
  }

  // The signals on which second s is degraded for this fault (0: healthy or not judged).
  unsigned degraded_for(const fault_state& fs, const second& s) const {
    if (!s.judged || inert(fs)) return 0;
    unsigned bits = s.unhealthy & ~static_cast<unsigned>(sig_errors);
    if ((s.unhealthy & sig_errors) != 0 &&
        errors_significant(errors_it_can_cause(*fs.f, fs.where, s), s.requests, tl.base, tl.tolerances)) {
      bits |= sig_errors;
    }
    return bits;
  }
};

void set_heal(fault_state& fs) {
  const chaos_fault& f = *fs.f;
  recovery_figures& fig = fs.fig;
  fig.heal_basis = "fault end";
  fig.heal_s = f.end_s;
  if (is_process_fault(fault_type(f)) && f.back_tracked) {
    fig.heal_basis = "process back";
    fig.heal_s = f.back_s;
  }
  if (fig.heal_s) fig.heal_s = std::max(*fig.heal_s, f.start_s);
}

// Recovery, detection and the status of one fault, from the judged seconds.
void judge_fault(const analysis_context& c, fault_state& fs) {
  recovery_figures& fig = fs.fig;
  const timeline& tl = c.tl;
  const int64_t n_needed = tl.tolerances.consecutive_healthy_s;
  std::optional<int64_t> recovery_t;
  int64_t judged_after = 0, healthy_run = 0;
  if (fig.heal_s && tl.base.available) {
    int64_t run_start = 0;
    for (const second& s : tl.range(second_floor(*fig.heal_s), tl.end_t)) {
      if (!s.judged || c.other_active(fs, s)) continue;
      ++judged_after;
      if (c.degraded_for(fs, s) != 0) {
        healthy_run = 0;
        continue;
      }
      if (healthy_run++ == 0) run_start = s.t;
      if (healthy_run == n_needed) {
        recovery_t = run_start;
        break;
      }
    }
  }
  fs.window_end_t =
      recovery_t ? std::max(*recovery_t, fs.active_end_t) : std::max(tl.rows_end, fs.active_end_t);
  fig.window_from_s = static_cast<double>(fs.start_t);
  fig.window_to_s = static_cast<double>(fs.window_end_t);
  std::optional<int64_t> first_degraded;
  for (const second& s : tl.range(fs.start_t, fs.window_end_t)) {
    if (!s.judged) continue;
    ++fig.judged_seconds;
    const unsigned bits = c.degraded_for(fs, s);
    if (bits == 0) continue;
    ++fig.degraded_seconds;
    for (int k = 0; k < 4; ++k) fig.degraded_by[k] += (bits >> k) & 1U;
    if (!first_degraded) first_degraded = s.t;
  }
  if (first_degraded)
    fig.time_to_detect_s = std::max(0.0, static_cast<double>(*first_degraded) - fig.start_s);
  if (fig.touched_nothing || first_degraded) {
    fig.detected = first_degraded.has_value();
  } else if (fig.judged_seconds > 0 && !fs.not_injected) {
    fig.detected = false;
  }

  const std::string needed = std::to_string(n_needed);
  if (fs.not_injected) {
    fig.status = recovery_status::insufficient_data;
    fig.reason = "the fault was not injected: " + fs.f->error;
  } else if (!fig.heal_s) {  // a fact whatever the data says
    fig.status = recovery_status::not_healed;
    fig.reason = fig.heal_basis == "process back" ? fs.f->target + " was not back before the run ended"
                                                  : "not healed before the run ended";
    if (!tl.base.available) fig.reason += "; no baseline: " + tl.base.reason;
  } else if (fig.touched_nothing) {
    fig.status = recovery_status::unaffected;
    fig.reason = "the fault touched no traffic (0 injections)";
  } else if (!tl.base.available) {
    fig.status = recovery_status::insufficient_data;
    fig.reason = "no baseline: " + tl.base.reason;
  } else if (!fig.detected) {
    fig.status = recovery_status::insufficient_data;
    fig.reason = "no second of the fault could be judged";
    for (const auto& span : fig.excluded) fig.reason += "; " + span.reason;
  } else if (!*fig.detected) {
    fig.status = recovery_status::unaffected;
    fig.reason = "no degraded second in " + std::to_string(fig.judged_seconds) + " judged";
  } else if (recovery_t) {
    fig.status = recovery_status::recovered;
    fig.time_to_recover_s = std::max(0.0, static_cast<double>(*recovery_t) - *fig.heal_s);
  } else if (judged_after >= n_needed) {
    fig.status = recovery_status::not_recovered;
    fig.reason = "no " + needed + " healthy seconds in a row in the " + std::to_string(judged_after) +
                 " judged after the heal";
  } else {
    fig.status = recovery_status::insufficient_data;
    fig.reason = "only " + std::to_string(judged_after) + " judged second" + (judged_after == 1 ? "" : "s") +
                 " after the heal before the run ended (" + needed + " needed)" +
                 (healthy_run == 0 ? "; still degraded at the end" : "");
  }
}

// Seconds of [from, to) not judged, as spans of one reason each (a second without a row: "no data").
std::vector<recovery_span> excluded_spans(const timeline& tl, int64_t from, int64_t to) {
  std::vector<recovery_span> out;
  auto add = [&](int64_t a, int64_t b, const std::string& reason) {
    if (b <= a) return;
    if (!out.empty() && out.back().to_s == static_cast<double>(a) && out.back().reason == reason) {
      out.back().to_s = static_cast<double>(b);
    } else {
      out.push_back({static_cast<double>(a), static_cast<double>(b), reason});
    }
  };
  from = std::max<int64_t>(from, 0);
  int64_t next = from;
  for (const second& s : tl.range(from, to)) {
    add(next, s.t, "no data");
    if (!s.judged) add(s.t, s.t + 1, s.excluded);
    next = s.t + 1;
  }
  add(next, to, "no data");
  return out;
}

// ---------------------------------------------------------------------------------------------- attribution

// Every second's errors, by kind, to the faults whose window holds it and that can cause the kind; when
// several can, to those active in that second; a remaining tie is shared.
void attribute_errors(const analysis_context& c) {
  for (const second& s : c.tl.seconds) {
    const int64_t t = s.t;
    if (s.errors == 0) continue;
    std::vector<size_t> candidates;
    for (size_t i = 0; i < c.faults.size(); ++i) {
      const fault_state& fs = c.faults[i];
      if (t < fs.start_t || t >= fs.window_end_t) continue;
      c.faults[i].fig.errors_in_window += s.errors;
      if (!analysis_context::inert(fs)) candidates.push_back(i);
    }
    if (candidates.empty()) continue;
    counters kinds = s.error_kinds;
    int64_t by_kind = 0;
    for (const auto& [k, n] : kinds) by_kind += n;
    if (s.errors > by_kind) kinds.emplace_back("unknown", s.errors - by_kind);
    for (const auto& [kind, n] : kinds) {
      std::vector<size_t> able, active;
      for (size_t i : candidates) {
        if (!can_cause(*c.faults[i].f, c.faults[i].where, kind)) continue;
        able.push_back(i);
        if (t < c.faults[i].active_end_t) active.push_back(i);
      }
      if (!active.empty()) able = active;
      for (size_t i : able)
        (able.size() == 1 ? c.faults[i].fig.errors_during : c.faults[i].fig.errors_shared) += n;
    }
  }
}

// Operations whose outcome is unknown in [from, to): unknown completions, and invokes never completed.
int64_t unknown_operations(const json::value& results, double from, double to) {
  const json::object* root = results.if_object();
  const json::value* history = root == nullptr ? nullptr : root->if_contains("history");
  if (history == nullptr || !history->is_array()) return 0;
  std::map<int64_t, double> open;  // invoke id -> t
  int64_t count = 0;
  for (const auto& h : history->as_array()) {
    const auto* o = h.if_object();
    if (o == nullptr || !o->contains("type") || !o->contains("id") || !o->contains("t")) continue;
    const json::value& type = o->at("type");
    const auto* id = o->at("id").if_int64();
    const json::value& tv = o->at("t");
    if (id == nullptr || !tv.is_number()) continue;
    const double t = tv.to_number<double>();
    if (type == "invoke") {
      open[*id] = t;
    } else {
      open.erase(*id);
      if (type == "unknown" && t >= from && t < to) ++count;
    }
  }
  for (const auto& [id, t] : open) count += t >= from && t < to ? 1 : 0;
  return count;
}

std::optional<double> pooled_p99(const run_results& r, const timeline& tl, const std::vector<int64_t>& ts) {
  if (ts.empty()) return std::nullopt;
  if (tl.base.has_histograms) {
    hdr_histogram h = pooled_histogram(r, tl, ts);
    if (h.total_count() > 0) return static_cast<double>(h.value_at_percentile(99)) / 1000.0;
    return std::nullopt;
  }
  std::vector<double> p99s;
  for (int64_t t : ts) p99s.push_back(tl.at(t)->p99_ms);
  std::sort(p99s.begin(), p99s.end());
  return p99s[p99s.size() / 2];
}

void fill_latency_and_context(const analysis_context& c, size_t index) {
  fault_state& fs = c.faults[index];
  recovery_figures& fig = fs.fig;
  std::vector<int64_t> during, after;
  for (const second& s : c.tl.range(fs.start_t, fs.active_end_t)) {
    if (s.judged) during.push_back(s.t);
  }
  for (const second& s : c.tl.range(fs.window_end_t, fs.window_end_t + 60)) {
    if (s.judged && !c.other_active(fs, s)) after.push_back(s.t);
  }
  fig.p99_baseline_ms = c.tl.base.p99_ms;
  fig.p99_during_ms = pooled_p99(c.r, c.tl, during);
  fig.p99_after_ms = pooled_p99(c.r, c.tl, after);
  if (fig.heal_s) {
    for (const second& s : c.tl.range(second_floor(*fig.heal_s), c.tl.rows_end)) {
      if (s.requests > s.errors) {
        fig.time_to_first_success_s = std::max(0.0, static_cast<double>(s.t) - *fig.heal_s);
        break;
      }
    }
  }
  for (size_t j = 0; j < c.faults.size() && fig.shared_with.size() < max_shared_listed; ++j) {
    const fault_state& other = c.faults[j];
    const int64_t from = std::max(fs.start_t, other.start_t);
    const int64_t to = std::min(fs.window_end_t, other.window_end_t);
    if (j != index && to > from) {
      fig.shared_with.push_back(
          {other.fig.id, other.fig.label, static_cast<double>(from), static_cast<double>(to)});
    }
  }
  fig.unknown_operations_during =
      unknown_operations(c.r.document, fig.start_s, static_cast<double>(fs.window_end_t));
}

std::string seconds_text(double v) { return text::num(v, 1) + " s"; }

}  // namespace

recovery_analysis analyse_recovery(const run_results& r) {
  recovery_analysis out;
  out.tolerances = r.recovery_options;
  if (r.chaos.empty()) return out;
  double first = r.chaos.front().start_s;
  for (const auto& f : r.chaos) first = std::min(first, f.start_s);
  const timeline tl = build_timeline(r, first);
  out.baseline = tl.base;

  std::vector<fault_state> faults(std::min(r.chaos.size(), max_faults_analysed));
  for (size_t i = 0; i < faults.size(); ++i) {
    const chaos_fault& f = r.chaos[i];
    fault_state& fs = faults[i];
    fs.f = &f;
    fs.where = place_of(r, f);
    recovery_figures& fig = fs.fig;
    fig.id = f.id > 0 ? f.id : static_cast<int64_t>(i + 1);
    fig.label = f.label;
    fig.fault = fault_type(f);
    fig.target = f.target;
    fig.start_s = f.start_s;
    fig.end_s = f.end_s;
    fig.baseline_available = tl.base.available;
    fig.touched_nothing = f.kind == "network" && f.injections && *f.injections == 0;
    fs.not_injected = !f.error.empty() && f.error.rfind("heal:", 0) != 0;
    set_heal(fs);
    fs.start_t = second_floor(f.start_s);
    fs.active_end_t = std::max(fig.heal_s ? second_ceil(*fig.heal_s) : tl.rows_end, fs.start_t + 1);
  }
  analysis_context c{r, tl, faults, {}};
  c.count_active();
  for (auto& fs : faults) {
    fs.fig.excluded = excluded_spans(tl, fs.start_t, fs.active_end_t);
    judge_fault(c, fs);
    fs.fig.excluded = excluded_spans(tl, fs.start_t, fs.window_end_t);
  }
  attribute_errors(c);
  for (size_t i = 0; i < faults.size(); ++i) fill_latency_and_context(c, i);
  for (auto& fs : faults) out.faults.push_back(std::move(fs.fig));
  for (size_t i = faults.size(); i < r.chaos.size(); ++i) {  // beyond the bound: said, not analysed
    recovery_figures fig;
    fig.id = r.chaos[i].id > 0 ? r.chaos[i].id : static_cast<int64_t>(i + 1);
    fig.label = r.chaos[i].label;
    fig.start_s = r.chaos[i].start_s;
    fig.end_s = r.chaos[i].end_s;
    fig.reason = "not analysed: more than " + std::to_string(max_faults_analysed) + " faults in one run";
    out.faults.push_back(std::move(fig));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- output

namespace {

json::value opt(const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); }

json::object baseline_json(const baseline& b) {
  if (!b.available) return json::object{{"available", false}, {"reason", b.reason}};
  return json::object{{"available", true},
                      {"from_s", b.from_t},
                      {"to_s", b.to_t},
                      {"seconds", b.seconds},
                      {"requests_per_s", b.requests_median},
                      {"requests_spread", b.requests_spread},
                      {"error_rate", b.error_rate},
                      {"p99_ms", opt(b.p99_ms)},
                      {"slow_bound_ms", b.slow_bound_ms},
                      {"slow_fraction", b.slow_fraction},
                      {"scheduled_per_s", b.scheduled_per_s}};
}

}  // namespace

json::object recovery_json(const recovery_figures& f, const recovery_analysis& a) {
  json::array excluded, shared;
  for (const auto& e : f.excluded)
    excluded.push_back(json::object{{"from_s", e.from_s}, {"to_s", e.to_s}, {"reason", e.reason}});
  for (const auto& s : f.shared_with) {
    shared.push_back(json::object{{"id", s.id}, {"label", s.label}, {"from_s", s.from_s}, {"to_s", s.to_s}});
  }
  return json::object{
      {"status", to_string(f.status)},
      {"reason", f.reason},
      {"detected", f.detected ? json::value(*f.detected) : json::value(nullptr)},
      {"time_to_detect_s", opt(f.time_to_detect_s)},
      {"time_to_recover_s", opt(f.time_to_recover_s)},
      {"time_to_first_success_s", opt(f.time_to_first_success_s)},
      {"recovered", f.status == recovery_status::recovered || f.status == recovery_status::unaffected},
      {"heal_s", opt(f.heal_s)},
      {"heal_basis", f.heal_basis},
      {"window", json::object{{"from_s", f.window_from_s}, {"to_s", f.window_to_s}}},
      {"judged_s", f.judged_seconds},
      {"degraded_s", f.degraded_seconds},
      {"degraded_by", json::object{{"errors", f.degraded_by[0]},
                                   {"latency", f.degraded_by[1]},
                                   {"throughput", f.degraded_by[2]},
                                   {"dropped_iterations", f.degraded_by[3]}}},
      {"excluded", std::move(excluded)},
      {"errors_in_window", f.errors_in_window},
      {"errors_during", f.errors_during},
      {"errors_shared", f.errors_shared},
      {"unknown_operations_during", f.unknown_operations_during},
      {"shared_with", std::move(shared)},
      {"p99_baseline_ms", opt(f.p99_baseline_ms)},
      {"p99_during_ms", opt(f.p99_during_ms)},
      {"p99_after_ms", opt(f.p99_after_ms)},
      {"baseline_available", f.baseline_available},
      {"baseline", baseline_json(a.baseline)},
      {"consecutive_healthy_s", a.tolerances.consecutive_healthy_s},
      {"tolerance", to_json(a.tolerances)},
  };
}

void add_recovery(json::value& results) {
  auto* root = results.if_object();
  if (root == nullptr) return;
  auto* chaos = root->if_contains("chaos");
  if (chaos == nullptr || !chaos->is_array() || chaos->as_array().empty()) return;
  try {
    const recovery_analysis a = analyse_recovery(parse_results(results));
    auto& faults = chaos->as_array();
    for (size_t i = 0; i < faults.size() && i < a.faults.size(); ++i) {
      if (auto* fo = faults[i].if_object()) (*fo)["recovery"] = recovery_json(a.faults[i], a);
    }
  } catch (const std::exception& e) {
    for (auto& f : chaos->as_array()) {
      if (auto* fo = f.if_object()) (*fo)["recovery"] = json::object{{"error", e.what()}};
    }
  }
}

std::string recovery_verdict_text(const recovery_figures& f) {
  switch (f.status) {
    case recovery_status::recovered:
      return "recovered after " + seconds_text(f.time_to_recover_s.value_or(0));
    case recovery_status::unaffected:
      return "unaffected";
    case recovery_status::not_recovered:
      return "not recovered";
    case recovery_status::not_healed:
      return "not healed";
    case recovery_status::insufficient_data:
      return "insufficient data";
  }
  return "insufficient data";
}

std::string recovery_window_text(const recovery_figures& f) {
  std::string out = seconds_text(f.start_s) + " – ";
  if (f.heal_basis == "process back")
    return out + (f.heal_s ? "back at " + seconds_text(*f.heal_s) : "not back");
  return out + (f.end_s ? seconds_text(*f.end_s) : std::string("end"));
}

std::string recovery_detection_text(const recovery_figures& f) {
  if (f.time_to_detect_s) return seconds_text(*f.time_to_detect_s);
  return f.detected ? "not detected" : "not judged";
}

std::string recovery_notes(const recovery_figures& f) {
  std::string out = f.reason;
  for (const auto& s : f.shared_with) {
    out += (out.empty() ? "" : "; ") + std::string("window shared with ") + s.label + " (" +
           text::num(s.from_s, 0) + "–" + text::num(s.to_s, 0) + " s)";
  }
  return out;
}

std::string recovery_line(const json::object& rec) {
  if (const auto* e = rec.if_contains("error"); e != nullptr && e->is_string()) {
    return "recovery not computed: " + std::string(e->as_string());
  }
  auto number = [&](std::string_view key) -> std::optional<double> {
    const auto* v = rec.if_contains(key);
    return v != nullptr && v->is_number() ? std::optional<double>(v->to_number<double>()) : std::nullopt;
  };
  auto string = [&](std::string_view key) {
    const auto* v = rec.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  const std::string status = string("status");
  std::string line = status == "recovered"
                         ? "recovered after " + seconds_text(number("time_to_recover_s").value_or(0))
                     : status.empty() ? std::string("?")
                                      : status;
  std::replace(line.begin(), line.end(), '_', ' ');
  std::vector<std::string> parts;
  if (auto d = number("time_to_detect_s")) parts.push_back("detected after " + seconds_text(*d));
  if (auto degraded = number("degraded_s"), judged = number("judged_s"); degraded && judged) {
    parts.push_back("degraded " + text::num(*degraded, 0) + " of " + text::num(*judged, 0) + " judged s");
  }
  if (auto e = number("errors_during")) {
    const double shared = number("errors_shared").value_or(0);
    parts.push_back("errors " + text::num(*e, 0) +
                    (shared > 0 ? " (+" + text::num(shared, 0) + " shared)" : ""));
  }
  if (auto u = number("unknown_operations_during"); u && *u > 0)
    parts.push_back("unknown ops " + text::num(*u, 0));
  if (const std::string reason = string("reason"); !reason.empty()) parts.push_back(reason);
  for (size_t i = 0; i < parts.size(); ++i) line += (i == 0 ? " (" : "; ") + parts[i];
  return parts.empty() ? line : line + ")";
}

}  // namespace stampede::reports
