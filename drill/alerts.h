// Alerts per fault (`stampede drill --observe`, docs/DRILLS.md "Alerts per fault"): after the load the
// drill reads from the shop's Prometheus when each alert went pending and firing (ALERTS over the run at a
// 1 s step) and from the supervisor's webhook log (DIR/observe/alerts.jsonl) when Alertmanager notified,
// and attributes each alert episode to the faults whose window holds its start: results.drill.alerts
// (schema in docs/RESULTS.md).
//
// attribute_alerts is pure (unit-tested on known series); measure_alerts does the bounded I/O and never
// throws: a dead or slow Prometheus gives {"measured": false, "error": "alerts not measured: <why>"}.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace stampede::drill {

// One activation of an alert (alertname + identifying labels): a run of consecutive evaluations in which it
// was pending or firing. Times in seconds since the run's start (meta.start_unix_ms); negative: before it.
struct alert_episode {
  std::string alertname;
  std::string labels;               // identifying labels, "k=v,k=v" sorted (alertstate left out)
  double first_s = 0;               // first pending or firing sample
  std::optional<double> pending_s;  // first pending sample of the episode (none: `for: 0`, or missed)
  std::optional<double> firing_s;   // first firing sample (none: resolved while pending)
};

// One webhook notification (a line of alerts.jsonl).
struct alert_notification {
  std::string alertname;
  std::string labels;  // as alert_episode::labels
  std::string status;  // "firing" | "resolved"
  double received_s = 0;
};

// A fault of the run (results.chaos[i]): its window is [start_s, end_s + grace].
struct fault_window {
  int64_t id = 0;
  std::string label;
  double start_s = 0;
  double end_s = 0;  // its heal (the run's end when it never healed)
};

// The attribution, as results.drill.alerts minus the measurement fields: "faults" (one per fault, in
// order), "false_alarms" (episodes that started outside every window) and "missed" (faults no episode
// started in). Nothing happened: empty arrays.
boost::json::object attribute_alerts(const std::vector<fault_window>& faults,
                                     const std::vector<alert_episode>& episodes,
                                     const std::vector<alert_notification>& notifications, double grace_s);

// Episodes from a Prometheus query_range answer of ALERTS (its "data.result" matrix), `step_s` apart;
// times relative to `start_unix_s`. Throws std::runtime_error on a malformed answer.
std::vector<alert_episode> episodes_from_matrix(const boost::json::value& result, double start_unix_s,
                                                double step_s);
// Notifications from alerts.jsonl text; malformed lines are skipped (counted in `skipped`).
std::vector<alert_notification> notifications_from_jsonl(const std::string& text, double start_unix_s,
                                                         int& skipped);

// The grace after a fault's heal in which an alert still counts as its own: the drill rules' longest
// `for:` (15 s, the slow burn-rate alerts) plus scrape, evaluation and the 5 s short window.
inline constexpr double default_alert_grace_s = 22;

// results.drill.alerts of `results` (meta.start_unix_ms, meta.duration_s, chaos[]) on a shop whose topology
// has "observability" (Prometheus URL, webhook log). Each HTTP call is bounded by `call_timeout`.
boost::json::object measure_alerts(const boost::json::value& results, const boost::json::value& topology,
                                   double grace_s = default_alert_grace_s,
                                   std::chrono::milliseconds call_timeout = std::chrono::seconds{5});

// The drill summary's lines for results.drill.alerts (empty when there is none).
std::string alerts_summary(const boost::json::value& results);

}  // namespace stampede::drill
