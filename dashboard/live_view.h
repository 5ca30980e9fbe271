// The live dashboard's model (docs/REPORTS.md, "Live dashboard"): what a run hands the dashboard once a
// second, merged over its workers (`stampede run`) or shards (a coordinator), and the state the page is
// drawn from. No dependency on the load engine: a producer fills these plain structs from its own
// per-second view.
//
// live_state is pure (no thread, no I/O): the server (server.h) keeps one under its mutex, and the unit
// tests read its events' JSON directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stampede::dashboard {

struct latency_ms {
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
};

// One second of the load (seconds since its start), every worker or shard added.
struct second_view {
  int64_t second = 0;
  int64_t requests = 0;  // requests that ended in this second
  int64_t errors = 0;
  int64_t dropped_iterations = 0;
  int64_t vus = 0;
  latency_ms latency;                             // of this second's requests (corrected)
  std::map<std::string, int64_t> errors_by_kind;  // this second's, by error kind
};

// A step (request name or group) from the start of the load until now.
struct step_row {
  std::string name;
  int64_t requests = 0;
  int64_t errors = 0;
  latency_ms latency;
};

struct threshold_row {
  std::string metric;      // the selector as written: "http_req_duration{name:login}"
  std::string expression;  // "p(95)<200"
  enum class state { pending, pass, fail } now = state::pending;  // pending: no sample yet
  std::optional<double> observed;
  bool abort_on_fail = false;
};

struct fault_band {
  std::string label;
  double start_s = 0;
  std::optional<double> end_s;  // none: still active
};

// A shard of a distributed run (`stampede coordinate --dashboard`); a single process has none.
struct shard_row {
  int shard = 0;
  std::string agent;   // empty before one registers
  std::string state;   // "waiting", "running", "done", "lost"
  std::string detail;  // why it was lost, its exit code...
};

// What the run hands over once a second: the seconds completed since the last update, and the run's
// whole-so-far figures now.
struct live_update {
  std::vector<second_view> seconds;
  double elapsed_s = 0;           // since the load's start
  double planned_duration_s = 0;  // 0: unknown
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t vus = 0;
  int64_t vus_max = 0;
  latency_ms latency;                             // every request so far
  std::map<std::string, int64_t> errors_by_kind;  // so far
  std::vector<step_row> steps;
  std::vector<threshold_row> thresholds;
  std::vector<fault_band> faults;
  std::vector<shard_row> shards;  // a distributed run's, else empty
};

struct run_info {
  std::string title;  // the script ("checkout.lua")
  std::string run_id;
};

struct run_end {
  std::string outcome;  // "passed", "thresholds crossed", "interrupted"...
  bool ok = true;
  std::optional<std::string> report_path;   // the HTML report (absolute), when one was written
  std::optional<std::string> results_path;  // the results file (absolute), when one was written
};

// The page's state: every second so far (for the charts) and the latest figures.
class live_state {
 public:
  // Points per chart: a longer run is drawn in buckets of k seconds (as the report does).
  static constexpr size_t max_chart_points = 600;

  explicit live_state(run_info info = {}) : info_(std::move(info)) {}

  void update(live_update update);
  void end(run_end end);
  // The update counter: 0 before the first update; the events' id.
  uint64_t version() const noexcept { return version_; }
  bool ended() const noexcept { return end_.has_value(); }

  // The page's event: one JSON object (docs/REPORTS.md lists its fields) with the figures, the tables'
  // rows and the charts as inline SVG drawn by the report's own code (reports/svg_chart.h).
  std::string event_json() const;

 private:
  run_info info_;
  std::map<int64_t, second_view> seconds_;
  live_update now_;
  std::optional<run_end> end_;
  uint64_t version_ = 0;
};

}  // namespace stampede::dashboard
