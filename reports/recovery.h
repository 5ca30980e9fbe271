// Recovery figures per injected fault, as the clients saw it (docs/DRILLS.md, "Recovery figures"): one
// implementation for the results file (`stampede drill` and `stampede run` write results.chaos[i].recovery
// through add_recovery) and for every report format.
//
// What a fault is judged on: the per-second health model of recovery_model.h (baseline from the seconds
// before the first fault, effect-size floors plus a significance test per second, planned load changes and
// partial seconds excluded). Per fault:
// - heal: the fault's end; for kill/terminate/restart of a process whose return was watched, the moment it
//   ran again (respawned or restarted); none when it was not back before the run ended.
// - detected: a second degraded *for this fault* between its start and its recovery; error seconds count
//   only with error kinds the fault can cause (a latency fault at the clients' link cannot answer 503); a
//   network fault that touched no traffic (0 injections) is never detected.
// - recovered: the first of consecutive_healthy_s judged healthy seconds from the heal's second on, not
//   counting seconds while another fault is active.
// - status: recovered | unaffected (nothing degraded) | not_recovered | not_healed |
//   insufficient_data (no baseline, no judged second during the fault, or too few after the heal).
// - errors: each second's errors by kind go to the faults whose window holds the second and which can
//   cause that kind; when several can, to the active one(s); a tie is "shared" and says with whom.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reports/recovery_model.h"
#include "reports/results.h"

namespace stampede::reports {

enum class recovery_status { recovered, unaffected, not_recovered, not_healed, insufficient_data };
std::string_view to_string(recovery_status s) noexcept;

struct recovery_span {
  double from_s = 0, to_s = 0;
  std::string reason;
};

struct recovery_overlap {
  int64_t id = 0;
  std::string label;
  double from_s = 0, to_s = 0;  // seconds both windows hold
};

struct recovery_figures {
  int64_t id = 0;
  std::string label;
  std::string fault;
  std::string target;
  double start_s = 0;
  std::optional<double> end_s;
  std::optional<double> heal_s;  // end_s, or when the process was back
  std::string heal_basis;        // "fault end" | "process back"
  recovery_status status = recovery_status::insufficient_data;
  std::string reason;                             // why, for every status but recovered
  std::optional<bool> detected;                   // null: nothing could be judged during the fault
  std::optional<double> time_to_detect_s;         // fault start -> first degraded second
  std::optional<double> time_to_recover_s;        // heal -> first of the healthy seconds (status recovered)
  std::optional<double> time_to_first_success_s;  // heal -> first second with a successful request
  double window_from_s = 0, window_to_s = 0;      // the figures' window: start -> recovery (or the end)
  int64_t judged_seconds = 0;                     // judged seconds in the window
  int64_t degraded_seconds = 0;                   // of which degraded for this fault
  int64_t degraded_by[4] = {0, 0, 0, 0};          // errors, latency, throughput, dropped
  std::vector<recovery_span> excluded;            // seconds of the window not judged, and why
  int64_t errors_in_window = 0;                   // every error in the window
  int64_t errors_during = 0;                      // attributed to this fault alone
  int64_t errors_shared = 0;                      // could be this fault's or another's
  int64_t unknown_operations_during = 0;          // history operations with an unknown outcome
  std::vector<recovery_overlap> shared_with;
  std::optional<double> p99_baseline_ms, p99_during_ms, p99_after_ms;
  bool baseline_available = false;
  bool touched_nothing = false;  // a network fault with 0 injections
};

struct recovery_analysis {
  recovery_model::baseline baseline;
  recovery_tolerances tolerances;
  std::vector<recovery_figures> faults;
};

recovery_analysis analyse_recovery(const run_results& r);
inline std::vector<recovery_figures> compute_recovery(const run_results& r) {
  return analyse_recovery(r).faults;
}

// Adds `recovery` to every element of results["chaos"] (no-op without faults). Never throws for a document
// the reports component cannot read: each fault then gets { "error": "..." }.
void add_recovery(boost::json::value& results);

// The "recovery" object of one fault (docs/RESULTS.md).
boost::json::object recovery_json(const recovery_figures& f, const recovery_analysis& a);

// Texts the report formats share. Verdict: "recovered after 1.2 s", "unaffected", "not recovered",
// "not healed", "insufficient data". Window: "3.0 s – 6.0 s", "3.0 s – end", "3.0 s – back at 6.4 s",
// "3.0 s – not back". Detection: "0.0 s", "not detected", "not judged". Notes: the reason, the seconds
// shared with other faults, the errors shared.
std::string recovery_verdict_text(const recovery_figures& f);
std::string recovery_window_text(const recovery_figures& f);
std::string recovery_detection_text(const recovery_figures& f);
std::string recovery_notes(const recovery_figures& f);

// One line for a terminal from a results.chaos[i].recovery object: "recovered after 1.0 s (detected after
// 0.0 s; degraded 3 of 5 judged s; errors 12, 3 shared; unknown ops 1)" or "insufficient data: ...".
std::string recovery_line(const boost::json::object& recovery);

}  // namespace stampede::reports
