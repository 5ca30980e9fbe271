// The results file (docs/RESULTS.md) as a typed model: a validated view of the JSON document plus the
// original document (kept so that `--format json`, merge and re-encoding carry fields this version does not
// interpret). The results component owns it: loadgen writes through encode(), reports and drill read
// through decode (parse_results/load_results). See docs/REPORTS.md.
//
// Histograms stay in their base64 form here; callers decode the few they need (decoding every per-second
// interval of a long run costs more than everything else a report does).
//
// Thread-safety: plain values; parse_results(), encode() and the to_json() helpers are reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/recovery_tolerances.h"
#include "results/schema.h"
#include "results/thresholds.h"

namespace stampede {
class hdr_histogram;
}

namespace stampede::results {

// Thrown for a document that is not JSON, not a results file, or from a newer major version. The message is
// meant for the user (it names the offending key).
class results_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int supported_results_version = schema_version;

// A latency summary in milliseconds ("latency_ms" and "uncorrected_latency_ms"). Absent keys read as 0.
struct latency_stats {
  double min = 0, mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0;
  // The summary of a histogram of microseconds: percentiles from HdrHistogram, never averaged.
  static latency_stats of(const hdr_histogram& microseconds);
  friend bool operator==(const latency_stats&, const latency_stats&) = default;
};

using counters = std::vector<std::pair<std::string, int64_t>>;  // in document order

// One phase of a request's time (blocked, connecting, ...): "timings_ms": {phase: {mean, p99}}.
struct phase_timing {
  std::string phase;
  double mean = 0, p99 = 0;
  friend bool operator==(const phase_timing&, const phase_timing&) = default;
};

// The whole run ("summary") or one step (a request name or a group).
struct step_result {
  std::string name;
  std::string kind = "request";  // "request" or "group"; the summary is "summary"
  int64_t requests = 0;
  double rps = 0;
  int64_t errors = 0;
  double error_rate = 0;
  latency_stats latency;
  latency_stats uncorrected;
  std::string histogram;              // base64 V2 compressed, microseconds; may be empty
  std::string uncorrected_histogram;  // idem
  counters status_classes;
  counters errors_by_kind;
  std::vector<phase_timing> timings;  // "timings_ms" of request steps, in document order
  friend bool operator==(const step_result&, const step_result&) = default;
};

struct timeseries_row {
  int64_t t = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  int64_t vus = 0;
  int64_t iterations = 0;
  int64_t dropped_iterations = 0;
  counters errors_by_kind;
  std::optional<int64_t> vus_max;                   // written by runs, absent in merged files
  std::optional<double> max_event_loop_lag_ms;      // idem
  friend bool operator==(const timeseries_row&, const timeseries_row&) = default;
};

struct interval_row {
  std::string step;
  int64_t t = 0;
  double interval_s = 1.0;
  std::optional<int64_t> requests;  // requests that ended in the interval (absent in older files)
  std::optional<int64_t> errors;
  std::string histogram;  // base64 V2 compressed, microseconds
  friend bool operator==(const interval_row&, const interval_row&) = default;
};

// threshold_result (one threshold's verdict) is in results/thresholds.h.

struct check_result {
  std::string name;
  std::string group;
  int64_t passes = 0;
  int64_t fails = 0;
  friend bool operator==(const check_result&, const check_result&) = default;
};

// A custom metric of the script (metrics.trend/counter/rate/gauge) or one of its sub-metrics that a threshold
// asked for ("metrics" in docs/RESULTS.md). Only the fields of its type are written.
struct metric_result {
  std::string name{};    // "login_time", or a sub-metric "login_time{flow:buy}" (its threshold key)
  std::string metric{};  // the metric's own name ("login_time")
  std::string type{};    // "trend" | "counter" | "rate" | "gauge"
  bool is_time = false;   // trend: values are milliseconds
  int64_t samples = 0;    // add() calls
  latency_stats stats{};    // trend: min, mean, percentiles, max in the metric's unit (ms for time trends)
  std::string histogram{};  // trend: base64 V2 compressed of value x 1000 (microseconds for time trends)
  double count = 0;       // counter: the sum of the values
  int64_t trues = 0;      // rate: samples that were true (non-zero)
  double rate = 0;        // counter: count per second of the run; rate: trues / samples
  double value = 0, min = 0, max = 0;  // gauge: the last value (latest by wall clock), min and max
  int64_t last_unix_us = 0;            // gauge: when the last value was added
  friend bool operator==(const metric_result&, const metric_result&) = default;
};

// One second of a custom metric or sub-metric ("metric_intervals" in docs/RESULTS.md): the samples added in
// [t, t + 1) s of the run, with the fields of its type. The file does not repeat the type: it is the one of
// the "metrics" entry of the same name (decode fills `type` from there, and refuses a name "metrics" lacks).
struct metric_interval {
  std::string name{};       // as metric_result::name: "orders" or "orders{flow:buy}"
  int64_t t = 0;            // seconds since the run's start
  int64_t samples = 0;      // add() calls in this second
  std::string type{};       // "trend" | "counter" | "rate" | "gauge" (not written)
  std::string histogram{};  // trend: base64 V2 compressed of value x 1000, this second's samples only
  double count = 0;         // counter: the sum of this second's values
  int64_t trues = 0;        // rate: this second's true samples
  // gauge: the last value added in this second (latest by wall clock), min and max of its values, and when
  // `value` was added
  double value = 0, min = 0, max = 0;
  int64_t last_unix_us = 0;
  friend bool operator==(const metric_interval&, const metric_interval&) = default;
};

// One injected fault. We read "start_s" (required), "end_s" (null or absent: not healed before the end),
// "id", "kind" ("network" | "node"), "fault" (the toxic or node action), "target", "label"/"name",
// "injections", "back_s" (node faults whose return was watched), the http_abort status, "error", and keep the
// numbers of a "recovery" object.
struct chaos_fault {
  int64_t id = 0;                   // 0: not recorded (older files); faults are then numbered by position
  std::string kind;
  std::string fault;                // "latency", "kill", ...; older files: empty
  std::string target;
  std::string label;
  double start_s = 0;
  std::optional<double> end_s;
  bool back_tracked = false;        // the record has "back_s": the process's return was watched
  std::optional<double> back_s;     // when the process ran again (null: not before the end)
  std::optional<int64_t> injections;
  int http_status = 0;              // http_abort: the status it answers with
  std::string error;                // the injection (or its heal: "heal: ...") failed
  std::vector<std::pair<std::string, double>> recovery_given;  // numeric members of "recovery", if any
  friend bool operator==(const chaos_fault&, const chaos_fault&) = default;
};

// The load a scenario planned (scenarios[i]): when it ran and, in newer files, its curve ("load").
struct scenario_plan {
  std::string name;
  std::string executor;
  double start_s = 0;
  double end_s = 0;                 // when it ended (older files: planned end); null in the file: start_s
                                    // (it never started)
  std::string unit;                 // "vus" | "arrivals_per_s"; empty: no curve recorded (older files)
  std::vector<std::pair<double, double>> points;  // (t_s, level), piecewise linear
  bool when_done = false;           // ends when its iterations are done (per-vu/shared-iterations)
  int64_t interrupted_iterations = 0;  // iterations still running when it was stopped
  friend bool operator==(const scenario_plan&, const scenario_plan&) = default;
};

// A fault proxy of a drill (drill.links[]): clients -> haproxy ("edge"), haproxy -> nodeN, nodes -> payment.
struct link_info {
  std::string name;
  std::string from;
  std::string to;
  friend bool operator==(const link_info&, const link_info&) = default;
};

// One drill invariant from "verify".
struct invariant_result {
  std::string name;
  std::optional<bool> ok;  // nullopt: unknown (indeterminate)
  std::string detail;
  friend bool operator==(const invariant_result&, const invariant_result&) = default;
};

// Why a run stopped early (meta.aborted): reason "signal" | "script_error" | "threshold" | "script" |
// "coordinator" (a shard of `stampede coordinate` stopped because another shard was lost or it was interrupted).
struct abort_info {
  std::string reason;
  std::string detail;
  std::string phase;  // set when interrupted before the load ("init", "setup")
  std::string text() const { return detail.empty() ? reason : reason + ": " + detail; }
  friend bool operator==(const abort_info&, const abort_info&) = default;
};

struct run_results {
  int version = 1;
  // meta
  std::string stampede_version;
  std::string scenario;
  std::string target;
  std::string started_at;
  int64_t start_unix_ms = 0;
  double duration_s = 0;
  int64_t threads = 0;
  std::optional<uint64_t> seed;
  std::vector<std::pair<std::string, std::string>> env;  // meta.env: the -e KEY=VALUE of the run
  int64_t shard_index = 0;
  int64_t shard_count = 1;
  std::string run_id;                     // one process's run (one shard); empty in older files
  std::vector<std::string> merged_from;   // a merge: the run ids it adds up (docs/RESULTS.md)
  std::optional<int64_t> merged_shards;   // a merge: how many files it adds up
  bool saturated = false;
  double max_event_loop_lag_ms = 0;
  double p99_event_loop_lag_ms = 0;
  std::optional<abort_info> aborted;

  step_result summary;
  int64_t iterations = 0;
  int64_t dropped_iterations = 0;
  int64_t vus_max = 0;
  int64_t data_sent_bytes = 0;
  int64_t data_received_bytes = 0;

  std::vector<step_result> steps;
  std::vector<timeseries_row> timeseries;
  std::vector<interval_row> intervals;
  std::vector<threshold_result> thresholds;
  std::vector<check_result> checks;
  std::vector<metric_result> metrics;  // custom metrics, in declaration order, each followed by its sub-metrics
  std::vector<chaos_fault> chaos;
  std::vector<metric_interval> metric_intervals;  // their per-second series, by t then name (absent: older)
  std::vector<scenario_plan> scenarios;
  std::vector<link_info> links;
  recovery_tolerances recovery_options;  // "recovery_options"; defaults when absent
  bool has_verify = false;
  std::optional<bool> verify_ok;
  std::vector<invariant_result> invariants;

  // The parsed document, unchanged. encode() writes the sections the model reads only in part (scenarios,
  // recovery_options, chaos, drill, verify, history, capacity, ...) from here, in document order: the typed
  // fields of those sections above are read-only views.
  boost::json::value document;

  // Verdict of the run: every threshold ok, no invariant failed, not aborted.
  bool thresholds_ok() const noexcept;
  bool invariants_ok() const noexcept;
  const step_result* find_step(std::string_view name) const noexcept;
};

// The results document of `r`: schema, version, meta, summary, steps, timeseries, intervals, thresholds and
// checks from the typed fields, every other top-level key (and meta keys the model does not know) from
// r.document. decode(encode(r)) gives back r's typed fields.
boost::json::value encode(const run_results& r);

// The pieces, for writers that build a section themselves.
boost::json::object to_json(const latency_stats& s);
boost::json::object to_json(const threshold_result& t);
boost::json::object to_json(const check_result& c);
boost::json::object to_json(const metric_result& m);
boost::json::object to_json(const metric_interval& m);

// Parses and validates a results document. Throws results_error with a message naming the problem.
run_results parse_results(std::string_view json_text);
run_results parse_results(boost::json::value document);

// Reads a file and parses it; results_error mentions the path.
run_results load_results(const std::string& path);

}  // namespace stampede::results
