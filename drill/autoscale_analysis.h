// Elasticity of one run (the autoscale game day, scenarios/gameday_autoscale_flash_sale.lua; docs/DRILLS.md
// "Autoscaling"): from the autoscaler's event log (DIR/autoscale.jsonl of `stampede shop --autoscale
// rule|predictive`) and the run's per-second checkout figures, results.drill.autoscale:
//   time_to_scale_s     the load step -> the first request HAProxy sent to a node added at or after it
//                       (null, with time_to_scale_note, when no node was added)
//   slo_violation_s     seconds whose checkout p99 or error ratio broke the scenario's SLO
//   node_seconds        integral of the nodes alive over the run (the cost); peak_nodes; decisions
//   lost_acknowledged_orders  from the shop checker's "acknowledged orders exist exactly once"
// Fixed capacity (`--autoscale off`, no log) is the same analysis with no event: no time to scale,
// node_seconds = nodes x duration.
//
// analyse_autoscale and autoscale_inputs_from_results are pure (unit-tested on known answers);
// measure_autoscale reads the log file and never throws.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stampede::drill {

// One line of autoscale.jsonl (the contract in docs/DRILLS.md), t_s since the run's start (negative:
// before it). Fields the analysis does not use are left out.
struct autoscale_event {
  double t_s = 0;
  std::string event;   // sample | decision | node_started | node_ready | node_first_request | node_draining
                       // | node_removed
  std::string node;    // node_* events
  std::string action;  // decision: scale_out | scale_in
  int64_t from = 0, to = 0;  // decision
};

// Events from the log's text, in time order; malformed lines are skipped and counted in `skipped`.
std::vector<autoscale_event> autoscale_events_from_jsonl(const std::string& text, double start_unix_ms,
                                                         int& skipped);

// The SLO of the checkout, per second (the scenario's `--@autoscale` line). A second breaks it when the
// checkout's p99 is above p99_ms, its error ratio above error_ratio, or an arrival was dropped (a buyer the
// open model could not even start: every VU was still busy in the shop).
struct autoscale_slo {
  std::string checkout_step = "POST /api/orders";  // lib/shop.lua's order request, or a group ("::checkout")
  double p99_ms = 1000;
  double error_ratio = 0.01;
};

// The checkout's figures of second [t, t + 1): its p99 and samples; requests and errors of the step (a
// group has none of its own: then every request of the second); dropped arrivals of the second.
struct checkout_second {
  int64_t t = 0;
  int64_t samples = 0;
  double p99_ms = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t dropped = 0;
};

struct autoscale_inputs {
  std::string mode = "off";      // off | rule | predictive (the shop's topology)
  int initial_nodes = 0;         // node1..nodeN at the start
  double duration_s = 0;         // the run (meta.duration_s)
  std::optional<double> step_s;  // the load step (null: the scenario's planned load has none)
  std::string step_note;         // why there is no step
  autoscale_slo slo;
  std::vector<autoscale_event> events;
  std::vector<checkout_second> checkout;
  std::optional<int64_t> lost_orders;  // null: no shop checker verdict
};

// results.drill.autoscale minus the measurement fields (docs/RESULTS.md).
boost::json::object analyse_autoscale(const autoscale_inputs& in);

// From the scenario's `--@autoscale KEY=VALUE ...` words: scenario=NAME (the open-model scenario whose
// planned rate steps up; default "flash"), step=NAME (the checkout step, no blank: a group such as
// "::checkout"; default "POST /api/orders"), p99_ms=N, error_ratio=X. Throws std::invalid_argument naming
// the word on a bad one.
struct autoscale_directive {
  std::string scenario = "flash";
  autoscale_slo slo;
};
autoscale_directive parse_autoscale_directive(const std::vector<std::string>& words);

// The step of a planned load curve ([t, level] points): the start of its first rise to at least twice the
// level before it (the last point before the rise). Null when the curve never doubles.
std::optional<double> load_step_s(const std::vector<std::pair<double, double>>& points);

// Fills duration, step (the directive's scenario's planned load), checkout seconds (results.intervals of
// the checkout step, p99 from each second's histogram; results.timeseries: dropped arrivals, and requests
// and errors when the step is a group) and lost orders (results.verify) from `results`.
autoscale_inputs autoscale_inputs_from_results(const boost::json::value& results,
                                               const autoscale_directive& directive);

// results.drill.autoscale: the topology's "autoscale" (mode, log) or fixed capacity without it; the
// initial nodes from the topology at the start. Never throws: {"measured": false, "error": ...}.
boost::json::object measure_autoscale(const boost::json::value& results,
                                      const boost::json::value& topology_at_start,
                                      const autoscale_directive& directive);

// The drill summary's lines for results.drill.autoscale (empty when there is none).
std::string autoscale_summary(const boost::json::value& results);

}  // namespace stampede::drill
