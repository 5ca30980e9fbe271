// Private to `stampede run` (run.cpp, run_results.cpp, run_summary.cpp): the coordinator of one run.
// run.cpp drives the run's phases, run_results.cpp builds its results file, run_summary.cpp prints what
// the terminal shows (live line, end-of-run summary). Not a public interface: include run.h instead.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "dashboard/server.h"
#include "loadgen/aggregate.h"
#include "loadgen/chaos_timeline.h"
#include "loadgen/live_metrics.h"
#include "loadgen/run.h"
#include "loadgen/worker.h"
#include "results/model.h"

namespace stampede::loadgen::run_detail {

inline double ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

// Shown on the terminal: 1.23ms, 4.56s, 789us; 12.3 kB.
std::string human_ms(double value);
std::string human_bytes(double bytes);

// One run's identity in its results (docs/RESULTS.md).
std::string random_run_id();

// The merged history (worker.h) as the results' and verify()'s list of operations (run_results.cpp).
boost::json::array history_json(const std::vector<history_entry>& history);

// Blocks SIGINT/SIGTERM in every thread (workers inherit the mask); the coordinator waits for them.
// SIGURG (ignored by default, so harmless if it arrives late) is the workers' "I am done" wake-up, sent
// to the coordinator's thread only: the run ends when its last worker does, not at the next poll.
class signal_guard {
 public:
  signal_guard();
  ~signal_guard();
  signal_guard(const signal_guard&) = delete;
  signal_guard& operator=(const signal_guard&) = delete;
  // Waits up to `timeout`; returns SIGINT or SIGTERM, or 0 (timeout or a worker's wake-up).
  int wait(std::chrono::milliseconds timeout);
  // From any thread: wakes wait() at once.
  void wake() const;

 private:
  pthread_t coordinator_;
  sigset_t set_;
  sigset_t old_;
};

// One run, in the phases run() names (docs/ARCHITECTURE.md, "The load engine").
class coordinator {
 public:
  explicit coordinator(const run_request& request) : request_(request) {}

  int run(const report_writer& write_reports);

 private:
  // The phases of a run, in order (run.cpp).
  void plan_from_request();
  int start(const report_writer& write_reports);
  void announce();
  double load();
  void after_load();
  std::vector<threshold_result> merge(double duration_s);
  void write_outputs(boost::json::value& results, const report_writer& write_reports);
  int outcome(const std::vector<threshold_result>& verdicts) const;

  // Helpers of the phases (run.cpp).
  template <class OnSignal, class Call>
  void interruptible(worker& w, OnSignal on_signal, Call call);
  template <class Call>
  void special(Call call);
  bool check_fd_limit_for_vus() const;
  void set_up_chaos();
  void drive_timeline();
  void take_snapshots();
  bool poll_thresholds(steady::time_point& next_check);
  // --dashboard (run_dashboard.cpp).
  bool open_dashboard();
  void publish_dashboard(bool load_ended);
  void finish_dashboard(int code);
  void note_worker_stop(const worker& w);
  bool quiesce();
  void verify();
  void evaluate_verify(const std::string& result);
  bool handle_summary(const boost::json::value& results);
  double elapsed_s() const { return std::chrono::duration<double>(steady::now() - plan_.start).count(); }

  // The results file (run_results.cpp).
  boost::json::value build_results(const std::vector<threshold_result>& verdicts);
  void fill_meta(results::run_results& r) const;
  void fill_figures(results::run_results& r) const;
  boost::json::object run_sections() const;

  // The terminal (run_summary.cpp).
  void print_live_line(bool final_line);
  void print_summary(const boost::json::value& results, const std::vector<threshold_result>& verdicts);
  void print_totals(const boost::json::object& summary) const;
  void print_custom_metrics() const;
  void print_steps(const boost::json::value& results) const;
  void print_invariants() const;
  void print_script_errors() const;

  const run_request& request_;
  signal_guard signals_;  // SIGINT/SIGTERM are taken by this thread (constructed on it)
  run_plan plan_;
  worker_outbox outbox_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<threshold> thresholds_;
  std::map<int64_t, timeseries_row> rows_;
  aggregate live_;
  aggregate final_;
  std::chrono::system_clock::time_point wall_start_;
  const std::string run_id_ = random_run_id();
  double planned_duration_s_ = 0;
  int64_t last_printed_ = -1;
  bool live_output_ = false;
  std::string abort_reason_;
  stop_cause abort_cause_ = stop_cause::none;  // set when a worker stopped the load (abort, script mistake)
  bool interrupted_ = false;
  std::string interrupted_in_;           // "setup" or "init" when a signal ended the run before the load
  boost::json::value quiesce_ = nullptr;  // results.quiesce
  bool call_interrupted_ = false;  // a signal came during the last interruptible() call (it was stopped)
  bool special_failed_ = false;    // teardown(), quiesce() or verify() raised (not because of a signal)
  bool verify_failed_ = false;     // verify() returned an invariant with ok = false
  std::unique_ptr<chaos_timeline> chaos_;
  std::vector<size_t> pending_faults_;   // indexes into plan_.options.chaos, by start time
  boost::json::value verify_ = nullptr;
  std::vector<history_entry> history_;
  boost::json::array history_json_;
  int64_t history_dropped_ = 0;
  std::unique_ptr<live_metrics_endpoint> metrics_endpoint_;  // --metrics-listen; serves until the run ends
  std::unique_ptr<dashboard::server> dashboard_;             // --dashboard; serves until the run ends
  int64_t dashboard_second_ = -1;                            // the last second it was given
  dashboard::live_update dashboard_totals_;                  // what the seconds given so far add up to
};

}  // namespace stampede::loadgen::run_detail
