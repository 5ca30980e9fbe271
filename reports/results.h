// The results file (docs/RESULTS.md) as the reports component reads it: a validated, typed view of the
// JSON document plus the original document (kept so that `--format json` and merge can carry fields this
// version does not interpret).
//
// Histograms stay in their base64 form here; callers decode the few they need (decoding every per-second
// interval of a long run costs more than everything else a report does).
//
// Thread-safety: plain values; parse_results() is reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

namespace stampede::reports {

// Thrown for a document that is not JSON, not a results file, or from a newer major version. The message is
// meant for the user (it names the offending key).
class results_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int supported_results_version = 1;

// A latency summary in milliseconds. Absent keys read as 0.
struct latency_stats {
  double min = 0, mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0, max = 0;
};

using counters = std::vector<std::pair<std::string, int64_t>>;  // in document order

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
};

struct interval_row {
  std::string step;
  int64_t t = 0;
  double interval_s = 1.0;
  std::optional<int64_t> requests;  // requests that ended in the interval (absent in older files)
  std::optional<int64_t> errors;
  std::string histogram;  // base64 V2 compressed, microseconds
};

struct threshold_result {
  std::string metric;
  std::string expression;
  std::optional<double> observed;
  bool ok = true;
  bool abort_on_fail = false;
};

struct check_result {
  std::string name;
  std::string group;
  int64_t passes = 0;
  int64_t fails = 0;
};

// One injected fault. The chaos component's schema is not fixed yet; we read "start_s" (required),
// "end_s" (null or absent: not healed before the end), "kind", "target", "label"/"name", and keep a
// "recovery" object verbatim when the injector computed one.
struct chaos_fault {
  std::string kind;
  std::string target;
  std::string label;
  double start_s = 0;
  std::optional<double> end_s;
  std::vector<std::pair<std::string, double>> recovery_given;  // numeric members of "recovery", if any
};

// One drill invariant from "verify".
struct invariant_result {
  std::string name;
  std::optional<bool> ok;  // nullopt: unknown (indeterminate)
  std::string detail;
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
  int64_t shard_index = 0;
  int64_t shard_count = 1;
  std::string run_id;                     // one process's run (one shard); empty in older files
  std::vector<std::string> merged_from;   // a merge: the run ids it adds up (docs/RESULTS.md)
  bool saturated = false;
  double max_event_loop_lag_ms = 0;
  std::optional<std::string> aborted;  // "reason: detail"

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
  std::vector<chaos_fault> chaos;
  bool has_verify = false;
  std::optional<bool> verify_ok;
  std::vector<invariant_result> invariants;

  boost::json::value document;  // the parsed document, unchanged

  // Verdict of the run: every threshold ok, no invariant failed, not aborted.
  bool thresholds_ok() const noexcept;
  bool invariants_ok() const noexcept;
  const step_result* find_step(std::string_view name) const noexcept;
};

// Parses and validates a results document. Throws results_error with a message naming the problem.
run_results parse_results(std::string_view json_text);
run_results parse_results(boost::json::value document);

// Reads a file and parses it; results_error mentions the path.
run_results load_results(const std::string& path);

}  // namespace stampede::reports
