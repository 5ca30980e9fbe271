// `stampede run`'s coordinator: the phases of a run (run() names them in order, as docs/ARCHITECTURE.md
// draws them) and what drives them (signals, the watchdog, abortOnFail). The chaos timeline is set up and
// driven in run_chaos.cpp, the results file built in run_results.cpp, the terminal output in run_summary.cpp.
#include "loadgen/run.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <thread>

#include "common/duration.h"
#include "common/limits.h"
#include "loadgen/fd_budget.h"
#include "loadgen/lua_guard.h"
#include "loadgen/run_coordinator.h"
#include "loadgen/summary_hook.h"
#include "results/custom_metrics.h"

namespace stampede::loadgen {
namespace run_detail {

namespace json = boost::json;

signal_guard::signal_guard() : coordinator_(pthread_self()) {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGURG);
  pthread_sigmask(SIG_BLOCK, &set_, &old_);
}

signal_guard::~signal_guard() {
  // Drop a wake-up still pending for this thread, then restore the mask.
  sigset_t urg;
  sigemptyset(&urg);
  sigaddset(&urg, SIGURG);
  timespec zero{0, 0};
  while (sigtimedwait(&urg, nullptr, &zero) == SIGURG) {
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

int signal_guard::wait(std::chrono::milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1'000'000)};
  const int sig = sigtimedwait(&set_, nullptr, &ts);
  return sig == SIGINT || sig == SIGTERM ? sig : 0;
}

void signal_guard::wake() const { pthread_kill(coordinator_, SIGURG); }

// The run, phase by phase. Before the load: plan, start (the script's top level and options, setup(),
// the other workers), announce. The load. After it: heal, teardown(), quiesce(), verify(history), then
// merge the workers' figures and evaluate the thresholds, write the results (--out, reports), print the
// summary, and the exit code.
int coordinator::run(const report_writer& write_reports) {
  if (request_.metrics_listen && !(metrics_endpoint_ = open_live_metrics(request_))) return exit_usage;
  if (request_.dashboard_listen && !open_dashboard()) return exit_usage;
  plan_from_request();
  if (const int code = start(write_reports); code >= 0) {
    finish_dashboard(code);
    return code;
  }
  announce();
  const double duration_s = load();
  after_load();
  const auto verdicts = merge(duration_s);
  json::value results = build_results(verdicts);
  write_outputs(results, write_reports);
  if (!handle_summary(results)) print_summary(results, verdicts);
  print_script_errors();
  const int code = outcome(verdicts);
  finish_dashboard(code);
  return code;
}

// What the command line decided; the script's options come in start().
void coordinator::plan_from_request() {
  plan_.script_path = request_.script_path;
  plan_.env = request_.env;
  plan_.seed = request_.seed;
  plan_.threads = std::max(1, request_.threads);
  plan_.shard = request_.shard;
  plan_.unsafe_lua = request_.unsafe_lua;
  plan_.init_timeout = request_.init_timeout;
  if (request_.lua_memory_limit) plan_.options.lua_memory_limit = *request_.lua_memory_limit;
}

// Lua calls (the top level and the options, setup(), teardown(), quiesce(), verify()) run on their own
// thread so that this one still takes Ctrl-C and ticks the guard's watchdog: a signal stops the call
// (on_signal; it throws), the way its timeout does, even in code that never yields (lua_guard.h).
template <class OnSignal, class Call>
void coordinator::interruptible(worker& w, OnSignal on_signal, Call call) {
  call_interrupted_ = false;
  std::exception_ptr failure;
  std::atomic<bool> done{false};
  std::thread runner([&] {
    lua_guard::accept_pokes();
    try {
      call();
    } catch (...) {
      failure = std::current_exception();
    }
    done = true;
    signals_.wake();
  });
  while (!done.load()) {
    if (const int sig = signals_.wait(lua_guard::watchdog_period); sig != 0) {
      interrupted_ = call_interrupted_ = true;
      if (!request_.quiet) {
        std::fprintf(stderr, "\nstampede: %s received, interrupting the script\n",
                     sig == SIGINT ? "SIGINT" : "SIGTERM");
      }
      on_signal();
    }
    w.watchdog_tick();
  }
  runner.join();
  if (failure) std::rethrow_exception(failure);
}

// setup(), teardown(), quiesce() or verify() on worker 0. A Ctrl-C that stopped the load or an earlier
// call does not stop this one.
template <class Call>
void coordinator::special(Call call) {
  worker& first = *workers_[0];
  first.clear_stop_requests();
  interruptible(
      first, [&] { first.interrupt_special(); }, call);
}

namespace {
// Whether the workers' per-second handover carries a built-in metric, so that abortOnFail can act on it
// during the run (docs/SCENARIOS.md, Thresholds); the others are judged at the end only.
bool judged_live(std::string_view metric) {
  static constexpr std::array<std::string_view, 8> live = {
      "http_req_duration",  "http_reqs",  "http_req_failed",    "group_duration",
      "iteration_duration", "iterations", "dropped_iterations", "checks"};
  return std::find(live.begin(), live.end(), metric) != live.end();
}
}  // namespace

// Everything before the load: the top level and the options (worker 0), setup(), the other workers' top
// level. Returns -1 when the load may start, else the exit code. A Ctrl-C during any of them ends the run
// there with results that say where (meta.aborted.phase), also when the call it came in finished anyway:
// a signal that was taken is never dropped (the next call clears the guard's stop requests).
int coordinator::start(const report_writer& write_reports) {
  const char* phase = "init";
  try {
    workers_.push_back(std::make_unique<worker>(plan_, 0, outbox_));
    worker& first = *workers_[0];
    interruptible(
        first, [&] { first.interrupt_init(); },
        [&] {
          first.init();
          plan_.options = first.read_options(request_.overrides);
        });
    if (!call_interrupted_) {
      if (request_.lua_memory_limit) plan_.options.lua_memory_limit = *request_.lua_memory_limit;
      if (!request_.no_thresholds) {
        thresholds_ =
            build_thresholds_from_options(plan_.options.thresholds, first.metrics().custom().catalogue());
        validate_threshold_tags(thresholds_, plan_.options);
        for (const auto& t : thresholds_) {
          if (metric_catalogue::builtin().find(t.selector.metric)) {
            if (t.abort_on_fail && !judged_live(t.selector.metric)) {
              std::fprintf(
                  stderr,
                  "stampede: warning: thresholds['%s']: abortOnFail is judged at the end of the run only "
                  "(%s is not in the live figures; docs/SCENARIOS.md, Thresholds)\n",
                  t.selector.text.c_str(), t.selector.metric.c_str());
            }
            if (auto set = http_tag_set(t.selector)) plan_.http_tag_sets.push_back(std::move(*set));
            if (results::recorded_in_metrics(t.selector)) plan_.builtin_sub_metrics.push_back(t.selector);
            continue;
          }
          if (!t.selector.tags.empty()) plan_.custom_sub_metrics.push_back(t.selector);
        }
      }
      set_up_chaos();
      first.apply_plan();
      phase = "setup";
      if (request_.remote) {  // setup() ran once, on the coordinator
        plan_.setup_data_json = request_.remote->setup_data_json;
      } else {
        special([&] { plan_.setup_data_json = first.run_setup(); });
      }
    }
    if (!call_interrupted_) {
      first.apply_plan();
      phase = "init";
      for (int i = 1; i < plan_.threads && !call_interrupted_; ++i) {
        workers_.push_back(std::make_unique<worker>(plan_, i, outbox_));
        worker& w = *workers_.back();
        interruptible(
            w, [&] { w.interrupt_init(); }, [&] { w.init(); });
        w.apply_plan();
      }
    }
  } catch (const script_error& e) {  // a script error before the load: no results, nothing has been measured
    std::fprintf(stderr, "stampede: %s: %s\n", call_interrupted_ ? "interrupted" : "script error", e.what());
    if (!call_interrupted_) return exit_code(run_outcome{.script_error = true});
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede: invalid options: %s\n", e.what());
    return exit_invalid_options;
  }
  if (call_interrupted_) {  // results as for any interrupted run, saying where it stopped
    interrupted_in_ = phase;
    final_.add_worker(workers_[0]->metrics());
    json::value results = build_results({});
    write_outputs(results, write_reports);
    return exit_code(run_outcome{.interrupted = true});
  }
  for (const auto& s : plan_.options.scenarios) {
    planned_duration_s_ = std::max(
        planned_duration_s_, std::chrono::duration<double>(s.start_time + s.planned_duration()).count());
  }
  if (!check_fd_limit_for_vus()) return exit_invalid_options;
  return -1;
}

// Every connection is a descriptor: refuse clearly now rather than fail with EMFILE under load (hardening).
// One per VU, or what the pools can open when maxConnectionsPerHost caps them (fd_budget.h).
bool coordinator::check_fd_limit_for_vus() const {
  const connection_budget budget = connections_needed(plan_.options, plan_.threads);
  std::string problem = check_fd_limit(static_cast<uint64_t>(budget.connections), budget.what);
  if (!problem.empty()) {
    if (plan_.options.max_connections_per_host <= 0) {
      problem +=
          "; or cap the connections with options.maxConnectionsPerHost (the pool is counted then, "
          "not the VUs)";
    }
    std::fprintf(stderr, "%s\n", problem.c_str());
    return false;
  }
  return true;
}

// The banner on stderr: what runs, on how many threads, against what.
void coordinator::announce() {
  live_output_ = !request_.quiet && isatty(STDERR_FILENO);
  if (request_.quiet) return;
  std::fprintf(stderr, "stampede: %s, %d thread(s), target %s\n", plan_.script_path.c_str(), plan_.threads,
               plan_.options.target.empty() ? "(absolute URLs)" : plan_.options.target.c_str());
  for (const auto& s : plan_.options.scenarios) {
    std::fprintf(stderr, "  scenario %s: %s, up to %lld VUs, %s + %s graceful stop\n", s.name.c_str(),
                 std::string(to_string(s.executor)).c_str(), static_cast<long long>(s.max_vus_needed()),
                 format_duration(s.planned_duration()).c_str(), format_duration(s.graceful_stop).c_str());
  }
}

// The load: every worker's scenarios, the chaos timeline, Ctrl-C, abortOnFail and workers that stop the
// run. Returns how long it ran.
double coordinator::load() {
  const auto lead_in = std::chrono::milliseconds(20);
  if (request_.remote && request_.remote->start_at) {  // the barrier of a coordinated run
    std::this_thread::sleep_until(*request_.remote->start_at - lead_in);
  }
  plan_.start = steady::now() + lead_in;
  wall_start_ = std::chrono::system_clock::now() + lead_in;
  if (metrics_endpoint_) metrics_endpoint_->metrics().set_scenarios(plan_.options.scenarios);
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (auto& w : workers_) {
    threads.emplace_back([this, &w, &finished] {
      w->run_load();
      finished.fetch_add(1);
      signals_.wake();
    });
  }
  auto next_threshold_check = steady::now() + std::chrono::seconds(2);
  bool stop_sent = false;
  while (finished.load() < static_cast<int>(workers_.size())) {
    drive_timeline();
    auto wait = std::chrono::milliseconds(100);
    if (!pending_faults_.empty()) {  // wake up in time for the next fault
      const double until =
          std::chrono::duration<double>(*plan_.options.chaos[pending_faults_.back()].at).count() -
          elapsed_s();
      wait = std::clamp(std::chrono::milliseconds(static_cast<int64_t>(until * 1000)),
                        std::chrono::milliseconds(1), wait);
    }
    const int sig = signals_.wait(wait);
    for (auto& w : workers_) w->watchdog_tick();  // Lua that never yields is stopped at its deadline
    if (sig != 0) {
      const bool hard = interrupted_;
      interrupted_ = true;
      if (!request_.quiet) {
        std::fprintf(stderr, "\nstampede: %s received, %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                     hard ? "stopping now" : "stopping gracefully (again to stop now)");
      }
      for (auto& w : workers_) w->request_stop(hard);
    }
    take_snapshots();
    print_live_line(false);
    for (auto& w : workers_) {
      if (w->aborted_by_script() && !stop_sent) {
        note_worker_stop(*w);
        stop_sent = true;
        for (auto& other : workers_) other->request_stop(false);
      }
    }
    if (!stop_sent) stop_sent = poll_thresholds(next_threshold_check);
    if (!stop_sent && request_.remote && request_.remote->stop_requested) {
      if (auto reason = request_.remote->stop_requested()) {
        abort_reason_ = *reason;
        stop_sent = true;
        if (!request_.quiet) {
          std::fprintf(stderr, "\nstampede: stopped by the coordinator: %s\n", reason->c_str());
        }
        for (auto& w : workers_) w->request_stop(false);
      }
    }
  }
  for (auto& t : threads) t.join();
  // The run lasted until its last worker ended, not until this loop (which polls every 100 ms) noticed:
  // rates divide by the time the load really ran.
  steady::time_point ended = plan_.start;
  for (const auto& w : workers_) ended = std::max(ended, w->load_ended_at());
  if (ended == plan_.start) ended = steady::now();
  const double duration_s = std::chrono::duration<double>(ended - plan_.start).count();
  take_snapshots();
  publish_dashboard(true);
  print_live_line(true);
  if (abort_reason_.empty()) {  // a worker that stopped in the load's last moments, before the next poll
    for (auto& w : workers_) {
      if (w->aborted_by_script() && abort_reason_.empty()) note_worker_stop(*w);
    }
  }
  return duration_s;
}

// Every 2 s during the load: the thresholds on the live figures; one crossed with abortOnFail stops every
// worker. Returns whether it did.
bool coordinator::poll_thresholds(steady::time_point& next_check) {
  if (thresholds_.empty() || request_.remote || steady::now() < next_check) return false;
  next_check += std::chrono::seconds(2);
  live_.duration_s = std::chrono::duration<double>(steady::now() - plan_.start).count();
  const auto results = evaluate_thresholds(
      thresholds_,
      [&](const metric_selector& s, const threshold_expression& e) { return live_.value(s, e); });
  for (size_t i = 0; i < results.size(); ++i) {
    // As k6: a metric with no sample yet is not judged during the run (its empty count would read 0 and
    // stop a run whose first sample has not come yet); the end of the run judges it like any other.
    if (results[i].no_data) continue;
    if (should_abort(thresholds_[i], results[i], steady::now() - plan_.start)) {
      abort_reason_ =
          "threshold " + results[i].metric + " " + results[i].expression + " crossed (abortOnFail)";
      for (auto& w : workers_) w->request_stop(false);
      return true;
    }
  }
  return false;
}

// After the load: every fault healed, teardown(), the caller's wait, quiesce(), verify(history).
void coordinator::after_load() {
  // Every fault heals before teardown and verify: they observe the system after the drill.
  if (chaos_) chaos_->heal_all(elapsed_s());

  worker& first = *workers_[0];
  try {
    if (!request_.remote) special([&] { first.run_teardown(); });  // else once, on the coordinator
  } catch (const script_error& e) {
    std::fprintf(stderr, "stampede: %s: %s\n", call_interrupted_ ? "interrupted" : "script error", e.what());
    special_failed_ = special_failed_ || !call_interrupted_;
  }

  if (request_.before_verify) request_.before_verify();
  if (!quiesce()) special_failed_ = true;
  verify();
}

// The history of every worker, in time order, then verify(history) in worker 0.
void coordinator::verify() {
  for (auto& w : workers_) {
    history_.insert(history_.end(), w->history().begin(), w->history().end());
    history_dropped_ += w->history_dropped();
  }
  std::stable_sort(history_.begin(), history_.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
  worker& first = *workers_[0];
  try {
    history_json_ = history_json(history_);
    std::string result;
    special([&] { result = first.run_verify(json::serialize(history_json_)); });
    evaluate_verify(result);
  } catch (const script_error& e) {
    std::fprintf(stderr, "stampede: %s: %s\n", call_interrupted_ ? "interrupted" : "script error", e.what());
    verify_ = json::object{{"ok", false}, {"error", e.what()}, {"invariants", json::array()}};
    special_failed_ = special_failed_ || !call_interrupted_;
  }
}

// handleSummary(data), after teardown and after the results JSON was written (summary_hook.h): what it
// returns replaces the built-in summary. Returns false without the hook, and when it failed (a script
// error, a bad result): then the built-in summary is printed and the run exits 107; outputs that could
// not be written are named and make it exit 107 too.
bool coordinator::handle_summary(const json::value& results) {
  worker& first = *workers_[0];
  if (!first.has_function("handleSummary")) return false;
  try {
    std::string returned;
    const std::string data =
        summary_hook_data(results, isatty(STDOUT_FILENO) != 0, isatty(STDERR_FILENO) != 0);
    special([&] { returned = first.run_handle_summary(data); });
    const std::filesystem::path base = request_.out_path
                                           ? std::filesystem::absolute(*request_.out_path).parent_path()
                                           : std::filesystem::current_path();
    for (const std::string& problem : write_summary_outputs(returned, base, stdout, stderr)) {
      std::fprintf(stderr, "stampede: script error: %s\n", problem.c_str());
      special_failed_ = true;
    }
    return true;
  } catch (const script_error& e) {
    std::fprintf(stderr, "stampede: %s: %s\n", call_interrupted_ ? "interrupted" : "script error", e.what());
    special_failed_ = special_failed_ || !call_interrupted_;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede: script error: %s\n", e.what());
    special_failed_ = true;
  }
  return false;
}

// Every worker's figures into one aggregate; the thresholds' verdicts on it.
std::vector<threshold_result> coordinator::merge(double duration_s) {
  for (auto& w : workers_) final_.add_worker(w->metrics());
  final_.duration_s = duration_s;
  for (const auto& s : final_.scenarios) final_.vus_max += s.vus_max;
  return evaluate_thresholds(thresholds_, [&](const metric_selector& s, const threshold_expression& e) {
    return final_.value(s, e);
  });
}

// How the run ended, as its exit code (run.h: exit_code).
int coordinator::outcome(const std::vector<threshold_result>& verdicts) const {
  run_outcome outcome;
  outcome.invariant_failed = verify_failed_;
  outcome.script_error = special_failed_ || abort_cause_ == stop_cause::script_error;
  outcome.script_aborted = abort_cause_ == stop_cause::script_abort;
  outcome.interrupted = interrupted_;
  outcome.thresholds_crossed = !all_ok(verdicts);
  return exit_code(outcome);
}

// A worker stopped the load: keep the first cause and say so now, not only after the summary.
void coordinator::note_worker_stop(const worker& w) {
  abort_cause_ = w.stopped_by();
  abort_reason_ = w.abort_reason();
  if (request_.remote && request_.remote->on_abort) request_.remote->on_abort(abort_reason_);
  const char* clear = live_output_ ? "\r\033[K" : "";
  if (abort_cause_ == stop_cause::script_error) {
    std::fprintf(stderr, "%sstampede: script error: %s\nstampede: stopping the run\n", clear,
                 abort_reason_.c_str());
  } else if (!request_.quiet) {
    std::fprintf(stderr, "%sstampede: aborted by the script: %s\n", clear, abort_reason_.c_str());
  }
}

// verify()'s result: a list of invariants (or { invariants = {...} }); any ok ~= true fails the run.
void coordinator::evaluate_verify(const std::string& result) {
  if (result == "null") return;
  json::value v = json::parse(result);
  json::array invariants;
  if (v.is_array()) {
    invariants = v.as_array();
  } else if (v.is_object() && v.as_object().contains("invariants") && v.at("invariants").is_array()) {
    invariants = v.at("invariants").as_array();
  } else {
    throw script_error("verify() must return a list of { name = ..., ok = ..., evidence = ... }");
  }
  bool ok = true;
  for (const auto& inv : invariants) {
    const auto* okv = inv.is_object() ? inv.as_object().if_contains("ok") : nullptr;
    ok = ok && okv != nullptr && okv->is_bool() && okv->as_bool();
  }
  verify_ = json::object{{"ok", ok}, {"invariants", std::move(invariants)}};
  verify_failed_ = !ok;
}

// quiesce() (optional): the scenario's own wait until the system is quiet (queues drained, replicas caught
// up), so that verify() sees a settled state. Not quiet in time (false, its timeout, also code that never
// yields stopped by the guard, Ctrl-C) is recorded in results.quiesce and verify() still runs; returns
// false only for a script error in it.
bool coordinator::quiesce() {
  worker& first = *workers_[0];
  if (!first.has_function("quiesce")) return true;
  const auto started = steady::now();
  json::object q;
  bool script_ok = true;
  try {
    std::string value;
    const nanos bound =
        request_.quiesce_timeout ? nanos(*request_.quiesce_timeout) : plan_.options.teardown_timeout;
    special([&] { value = first.run_quiesce(bound); });
    json::value v = json::parse(value);
    q["ok"] = !(v.is_bool() && !v.as_bool());
    q["value"] = std::move(v);
  } catch (const script_error& e) {
    script_ok = call_interrupted_ || dynamic_cast<const script_timeout*>(&e) != nullptr;
    std::fprintf(stderr, "stampede: %s: %s\n",
                 script_ok ? (call_interrupted_ ? "interrupted" : "not quiet") : "script error", e.what());
    q["ok"] = false;
    q["error"] = e.what();
  }
  q["waited_s"] = std::chrono::duration<double>(steady::now() - started).count();
  quiesce_ = std::move(q);
  return script_ok;
}

// The caller's additions (finish_results), then --out and the reports.
void coordinator::write_outputs(json::value& results, const report_writer& write_reports) {
  if (!quiesce_.is_null()) results.as_object()["quiesce"] = quiesce_;
  if (request_.finish_results) request_.finish_results(results);
  if (request_.out_path) {
    std::ofstream out(*request_.out_path, std::ios::binary | std::ios::trunc);
    out << json::serialize(results) << '\n';
    if (!out) std::fprintf(stderr, "stampede: cannot write %s\n", request_.out_path->c_str());
  }
  if (request_.report_dir) {
    if (write_reports) {
      try {
        write_reports(results, *request_.report_dir);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "stampede: writing reports failed: %s\n", e.what());
      }
    } else {
      std::fprintf(stderr, "stampede: --report is not available in this build\n");
    }
  }
}

void coordinator::take_snapshots() {
  for (auto& snapshot : outbox_.drain()) {
    timeseries_row& row = rows_[snapshot.second];
    row.second = snapshot.second;
    for (auto& step : snapshot.steps) {
      if (step.kind == step_kind::request) {
        row.latency.add(step.corrected);
        row.requests += step.requests;
        row.errors += step.errors;
      }
      auto& interval = row.step_intervals[step.name];
      interval.corrected.add(step.corrected);
      interval.requests += step.requests;
      interval.errors += step.errors;
    }
    for (size_t i = 0; i < error_kind_count; ++i) row.errors_by_kind[i] += snapshot.errors_by_kind[i];
    row.iterations += snapshot.iterations;
    row.dropped_iterations += snapshot.dropped_iterations;
    row.vus += snapshot.vus;
    row.vus_max += snapshot.vus_max;
    row.max_event_loop_lag_ms = std::max(row.max_event_loop_lag_ms, ms(snapshot.event_loop_lag.max()));
    ++row.workers_reported;
    add_to_second(row.custom, snapshot.custom, snapshot.second);
    add_to_second(row.custom, snapshot.builtin_subs.to_intervals(snapshot.second));
    live_.add_interval(snapshot);
    if (request_.remote && request_.remote->on_interval) request_.remote->on_interval(snapshot);
    if (metrics_endpoint_) metrics_endpoint_->metrics().add(snapshot);
  }
  publish_dashboard(false);
}

}  // namespace run_detail

int exit_code(const run_outcome& outcome) noexcept {
  if (outcome.invariant_failed) return exit_invariant_failed;
  if (outcome.script_error) return exit_script_error;
  if (outcome.script_aborted) return exit_script_abort;
  if (outcome.interrupted) return exit_interrupted;
  if (outcome.thresholds_crossed) return exit_thresholds_crossed;
  return exit_ok;
}

int execute_run(const run_request& request, const report_writer& write_reports) {
  run_detail::coordinator c(request);
  return c.run(write_reports);
}

}  // namespace stampede::loadgen
