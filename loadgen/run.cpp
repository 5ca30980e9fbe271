#include "loadgen/run.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include <boost/json.hpp>
#include <lua.hpp>

#include "common/limits.h"
#include "common/version.h"
#include "loadgen/aggregate.h"
#include "loadgen/chaos_timeline.h"
#include "loadgen/load_plan.h"
#include "loadgen/lua_guard.h"
#include "loadgen/worker.h"
#include "results/model.h"

namespace stampede::loadgen {

namespace json = boost::json;

namespace {

double ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

// One run's identity in its results (docs/RESULTS.md): random, never derived from --seed, so that two runs
// with the same seed (or the same shard of a test run twice) stay apart when merged.
std::string random_run_id() {
  std::random_device device;
  char text[33];
  std::snprintf(text, sizeof text, "%08x%08x%08x%08x", device(), device(), device(), device());
  return text;
}

results::counters status_counters(const step_metrics& s) {
  results::counters out;
  static constexpr const char* names[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (size_t i = 0; i < s.status_classes.size(); ++i) {
    if (s.status_classes[i] != 0) out.emplace_back(names[i], s.status_classes[i]);
  }
  return out;
}

results::counters error_counters(const std::array<int64_t, error_kind_count>& errors) {
  results::counters out;
  for (size_t i = 1; i < errors.size(); ++i) out.emplace_back(std::string(to_string(static_cast<error_kind>(i))), errors[i]);
  return out;
}

// One step (or, with kind "summary", all requests) in the results model.
results::step_result step_model(const step_metrics& s, double duration_s) {
  results::step_result o;
  o.name = s.name;
  o.kind = s.kind == step_kind::request ? "request" : "group";
  o.requests = s.requests;
  o.rps = duration_s > 0 ? static_cast<double>(s.requests) / duration_s : 0.0;
  o.errors = s.errors;
  o.error_rate = s.requests > 0 ? static_cast<double>(s.errors) / static_cast<double>(s.requests) : 0.0;
  o.latency = results::latency_stats::of(s.corrected);
  o.uncorrected = results::latency_stats::of(s.uncorrected);
  o.histogram = s.corrected.encode_compressed_base64();
  o.uncorrected_histogram = s.uncorrected.encode_compressed_base64();
  if (s.kind == step_kind::request) {
    o.status_classes = status_counters(s);
    o.errors_by_kind = error_counters(s.errors_by_kind);
    for (size_t i = 0; i < phase_count; ++i) {
      o.timings.push_back({std::string(phase_names[i]), s.phases[i].mean() / 1000.0,
                           ms(s.phases[i].value_at_percentile(99))});
    }
  }
  return o;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto ms_total = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms_total / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(ms_total % 1000));
  return text;
}

std::string human_ms(double value) {
  char text[32];
  if (value >= 1000) {
    std::snprintf(text, sizeof text, "%.2fs", value / 1000);
  } else if (value >= 1) {
    std::snprintf(text, sizeof text, "%.2fms", value);
  } else {
    std::snprintf(text, sizeof text, "%.0fus", value * 1000);
  }
  return text;
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  return text;
}

json::array history_json(const std::vector<history_entry>& history) {
  json::array ops;
  ops.reserve(history.size());
  for (const auto& h : history) {
    const char* type = h.type == 'o' ? "ok" : h.type == 'f' ? "fail" : h.type == 'u' ? "unknown" : "invoke";
    ops.push_back(json::object{{"id", h.id}, {"process", h.process}, {"op", h.op}, {"type", type},
                               {"value", json::parse(h.value_json)}, {"t", h.t}});
  }
  return ops;
}

// Blocks SIGINT/SIGTERM in every thread (workers inherit the mask); the coordinator waits for them.
// SIGURG (ignored by default, so harmless if it arrives late) is the workers' "I am done" wake-up, sent
// to the coordinator's thread only: the run ends when its last worker does, not at the next poll.
class signal_guard {
 public:
  signal_guard() : coordinator_(pthread_self()) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGURG);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~signal_guard() {
    // Drop a wake-up still pending for this thread, then restore the mask.
    sigset_t urg;
    sigemptyset(&urg);
    sigaddset(&urg, SIGURG);
    timespec zero{0, 0};
    while (sigtimedwait(&urg, nullptr, &zero) == SIGURG) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  // Waits up to `timeout`; returns SIGINT or SIGTERM, or 0 (timeout or a worker's wake-up).
  int wait(std::chrono::milliseconds timeout) {
    timespec ts{static_cast<time_t>(timeout.count() / 1000), static_cast<long>((timeout.count() % 1000) * 1'000'000)};
    const int sig = sigtimedwait(&set_, nullptr, &ts);
    return sig == SIGINT || sig == SIGTERM ? sig : 0;
  }
  // From any thread: wakes wait() at once.
  void wake() const { pthread_kill(coordinator_, SIGURG); }

 private:
  pthread_t coordinator_;
  sigset_t set_;
  sigset_t old_;
};

class coordinator {
 public:
  explicit coordinator(const run_request& request) : request_(request) {}

  int run(const report_writer& write_reports);

 private:
  void take_snapshots();
  void print_live_line(bool final_line);
  json::value build_results(const std::vector<threshold_result>& verdicts);
  void write_outputs(json::value& results, const report_writer& write_reports);
  template <class OnSignal, class Call>
  void interruptible(worker& w, OnSignal on_signal, Call call);
  template <class Call>
  void special(Call call);
  int start(const report_writer& write_reports);
  double load();
  void after_load();
  bool quiesce();
  void print_summary(const json::value& results, const std::vector<threshold_result>& verdicts);
  void print_invariants() const;
  void note_worker_stop(const worker& w);
  void evaluate_verify(const std::string& result);

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
  json::value quiesce_ = nullptr;        // results.quiesce
  bool call_interrupted_ = false;  // a signal came during the last interruptible() call (it was stopped)
  bool special_failed_ = false;    // teardown(), quiesce() or verify() raised (not because of a signal)
  bool verify_failed_ = false;     // verify() returned an invariant with ok = false
  std::unique_ptr<chaos_timeline> chaos_;
  std::vector<size_t> pending_faults_;   // indexes into plan_.options.chaos, by start time
  json::value verify_ = nullptr;
  std::vector<history_entry> history_;
  json::array history_json_;
  int64_t history_dropped_ = 0;
  double elapsed_s() const { return std::chrono::duration<double>(steady::now() - plan_.start).count(); }
  void set_up_chaos();
  void drive_timeline();
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void coordinator::set_up_chaos() {
  run_options& o = plan_.options;
  std::string topology_path = request_.topology_path.value_or(o.topology_path);
  std::string topology;
  if (!topology_path.empty()) topology = read_file(topology_path);
  try {
    chaos_ = std::make_unique<chaos_timeline>(plan_.seed, topology, request_.proxies, topology_path);
  } catch (const std::exception& e) {
    throw std::invalid_argument("topology '" + topology_path + "': " + e.what());
  }
  for (const auto& [name, upstream] : o.proxies) chaos_->add_proxy(name, upstream);
  if (request_.proxy) {
    std::string error;
    auto url = parse_url(o.target, nullptr, error);
    if (!url) throw std::invalid_argument("--proxy needs a target URL: " + error);
    const std::string listen = chaos_->add_proxy("target", url->host + ":" + std::to_string(url->port));
    o.target = std::string(url->tls ? "https://" : "http://") + listen;
  }
  for (size_t i = 0; i < o.chaos.size(); ++i) {
    try {
      chaos_->validate(o.chaos[i]);
    } catch (const std::exception& e) {
      throw std::invalid_argument("options.chaos[" + std::to_string(i + 1) + "]: " + e.what());
    }
    pending_faults_.push_back(i);
  }
  std::stable_sort(pending_faults_.begin(), pending_faults_.end(),
                   [&](size_t a, size_t b) { return *o.chaos[a].at < *o.chaos[b].at; });
  std::reverse(pending_faults_.begin(), pending_faults_.end());  // pop from the back
  plan_.chaos = chaos_.get();
}

void coordinator::drive_timeline() {
  if (!chaos_) return;
  const double now = elapsed_s();
  chaos_->observe(now);  // a killed node back (respawned): the heal of its fault in the recovery figures
  for (int id : chaos_->due_to_heal(now)) {
    chaos_->heal(id, now);
    if (!request_.quiet && live_output_) std::fprintf(stderr, "\r\033[Kchaos: fault %d healed at %.1fs\n", id, now);
  }
  while (!pending_faults_.empty()) {
    const fault_spec& f = plan_.options.chaos[pending_faults_.back()];
    if (std::chrono::duration<double>(*f.at).count() > now) break;
    pending_faults_.pop_back();
    try {
      const int id = chaos_->inject(f, now);
      if (!request_.quiet) {
        std::fprintf(stderr, "%schaos: %s (fault %d) at %.1fs\n", live_output_ ? "\r\033[K" : "",
                     (f.label.empty() ? f.fault + " " + f.target : f.label).c_str(), id, now);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "\nstampede: %s\n", e.what());
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
    live_.add_interval(snapshot);
  }
}

void coordinator::print_live_line(bool final_line) {
  if (!live_output_) return;
  // The newest second every worker has reported.
  const timeseries_row* row = nullptr;
  for (auto it = rows_.rbegin(); it != rows_.rend(); ++it) {
    if (it->second.workers_reported >= plan_.threads) {
      row = &it->second;
      break;
    }
  }
  if (row == nullptr || (row->second == last_printed_ && !final_line)) return;
  last_printed_ = row->second;
  const double elapsed = static_cast<double>(row->second + 1);
  const double fraction = planned_duration_s_ > 0 ? std::min(1.0, elapsed / planned_duration_s_) : 1.0;
  constexpr int width = 20;
  std::string bar;
  const int filled = static_cast<int>(fraction * width);
  for (int i = 0; i < width; ++i) bar += i < filled ? "\u2588" : "\u2591";
  std::fprintf(stderr, "\r\033[K%4.0fs/%.0fs %s %7lld rps  p50 %-8s p99 %-8s err %lld  vus %lld  dropped %lld",
               elapsed, planned_duration_s_, bar.c_str(), static_cast<long long>(row->requests),
               human_ms(ms(row->latency.value_at_percentile(50))).c_str(),
               human_ms(ms(row->latency.value_at_percentile(99))).c_str(), static_cast<long long>(row->errors),
               static_cast<long long>(row->vus), static_cast<long long>(live_.dropped_iterations()));
  if (final_line) std::fprintf(stderr, "\n");
  std::fflush(stderr);
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
        std::fprintf(stderr, "\nstampede: %s received, interrupting the script\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
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
  interruptible(first, [&] { first.interrupt_special(); }, call);
}

// Everything before the load: the top level and the options (worker 0), setup(), the other workers' top
// level. Returns -1 when the load may start, else the exit code. A Ctrl-C during any of them ends the run
// there with results that say where (meta.aborted.phase), also when the call it came in finished anyway:
// a signal that was taken is never dropped (the next call clears the guard's stop requests).
int coordinator::start(const report_writer& write_reports) {
  const char* phase = "init";
  try {
    workers_.push_back(std::make_unique<worker>(plan_, 0, outbox_));
    worker& first = *workers_[0];
    interruptible(first, [&] { first.interrupt_init(); }, [&] {
      first.init();
      plan_.options = first.read_options(request_.overrides);
    });
    if (!call_interrupted_) {
      if (request_.lua_memory_limit) plan_.options.lua_memory_limit = *request_.lua_memory_limit;
      if (!request_.no_thresholds) {
        thresholds_ = build_thresholds_from_options(plan_.options.thresholds);
        validate_threshold_tags(thresholds_);
      }
      set_up_chaos();
      first.apply_plan();
      phase = "setup";
      special([&] { plan_.setup_data_json = first.run_setup(); });
    }
    if (!call_interrupted_) {
      first.apply_plan();
      phase = "init";
      for (int i = 1; i < plan_.threads && !call_interrupted_; ++i) {
        workers_.push_back(std::make_unique<worker>(plan_, i, outbox_));
        worker& w = *workers_.back();
        interruptible(w, [&] { w.interrupt_init(); }, [&] { w.init(); });
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
    planned_duration_s_ = std::max(planned_duration_s_,
                                   std::chrono::duration<double>(s.start_time + s.planned_duration()).count());
  }

  {  // Every VU may hold a connection: refuse clearly now rather than fail with EMFILE under load (hardening).
    int64_t vus = 0;
    for (const auto& s : plan_.options.scenarios) vus += s.max_vus_needed();
    const std::string problem = check_fd_limit(static_cast<uint64_t>(std::max<int64_t>(vus, 0)),
                                               "stampede: up to " + std::to_string(vus) + " VUs");
    if (!problem.empty()) {
      std::fprintf(stderr, "%s\n", problem.c_str());
      return exit_invalid_options;
    }
  }
  return -1;
}

int coordinator::run(const report_writer& write_reports) {
  plan_.script_path = request_.script_path;
  plan_.env = request_.env;
  plan_.seed = request_.seed;
  plan_.threads = std::max(1, request_.threads);
  plan_.shard = request_.shard;
  plan_.unsafe_lua = request_.unsafe_lua;
  plan_.init_timeout = request_.init_timeout;
  if (request_.lua_memory_limit) plan_.options.lua_memory_limit = *request_.lua_memory_limit;
  if (const int code = start(write_reports); code >= 0) return code;

  live_output_ = !request_.quiet && isatty(STDERR_FILENO);
  if (!request_.quiet) {
    std::fprintf(stderr, "stampede: %s, %d thread(s), target %s\n", plan_.script_path.c_str(), plan_.threads,
                 plan_.options.target.empty() ? "(absolute URLs)" : plan_.options.target.c_str());
    for (const auto& s : plan_.options.scenarios) {
      std::fprintf(stderr, "  scenario %s: %s, up to %lld VUs, %s + %s graceful stop\n", s.name.c_str(),
                   std::string(to_string(s.executor)).c_str(), static_cast<long long>(s.max_vus_needed()),
                   std::to_string(std::chrono::duration<double>(s.planned_duration()).count()).c_str(),
                   std::to_string(std::chrono::duration<double>(s.graceful_stop).count()).c_str());
    }
  }

  const double duration_s = load();
  after_load();

  for (auto& w : workers_) final_.add_worker(w->metrics());
  final_.duration_s = duration_s;
  for (const auto& s : final_.scenarios) final_.vus_max += s.vus_max;
  const auto verdicts = evaluate_thresholds(thresholds_, [&](const metric_selector& s, const threshold_expression& e) {
    return final_.value(s, e);
  });
  json::value results = build_results(verdicts);
  write_outputs(results, write_reports);
  print_summary(results, verdicts);

  // Script errors inside iterations, grouped.
  size_t shown = 0;
  for (auto& w : workers_) {
    for (const auto& e : w->iteration_errors()) {
      if (shown++ == 0) std::fprintf(stderr, "\nscript errors in iterations:\n");
      std::fprintf(stderr, "  %lldx %s (first: VU %lld, iteration %lld)\n", static_cast<long long>(e.count),
                   e.message.c_str(), static_cast<long long>(e.first_vu), static_cast<long long>(e.first_iteration));
      if (shown == 1 && e.detail != e.message) std::fprintf(stderr, "%s\n", e.detail.c_str());
    }
  }
  // VUs the guard stopped (setup, teardown, quiesce and verify were reported when they ended).
  for (auto& w : workers_) {
    for (const auto& i : w->interruptions()) {
      if (i.phase != lua_phase::iteration) continue;
      std::fprintf(stderr, "stampede: VU %lld of scenario %s: %s; its iteration counts as interrupted\n",
                   static_cast<long long>(i.vu), i.scenario.c_str(), i.reason.c_str());
    }
  }

  run_outcome outcome;
  outcome.invariant_failed = verify_failed_;
  outcome.script_error = special_failed_ || abort_cause_ == stop_cause::script_error;
  outcome.script_aborted = abort_cause_ == stop_cause::script_abort;
  outcome.interrupted = interrupted_;
  outcome.thresholds_crossed = !all_ok(verdicts);
  return exit_code(outcome);
}

// The load: every worker's scenarios, the chaos timeline, Ctrl-C, abortOnFail and workers that stop the
// run. Returns how long it ran.
double coordinator::load() {
  const auto lead_in = std::chrono::milliseconds(20);
  plan_.start = steady::now() + lead_in;
  wall_start_ = std::chrono::system_clock::now() + lead_in;
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
      const double until = std::chrono::duration<double>(*plan_.options.chaos[pending_faults_.back()].at).count() - elapsed_s();
      wait = std::clamp(std::chrono::milliseconds(static_cast<int64_t>(until * 1000)), std::chrono::milliseconds(1), wait);
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
    if (!thresholds_.empty() && steady::now() >= next_threshold_check && !stop_sent) {
      next_threshold_check += std::chrono::seconds(2);
      live_.duration_s = std::chrono::duration<double>(steady::now() - plan_.start).count();
      const auto results = evaluate_thresholds(thresholds_, [&](const metric_selector& s, const threshold_expression& e) {
        return live_.value(s, e);
      });
      for (size_t i = 0; i < results.size(); ++i) {
        if (should_abort(thresholds_[i], results[i], steady::now() - plan_.start)) {
          abort_reason_ = "threshold " + results[i].metric + " " + results[i].expression + " crossed (abortOnFail)";
          stop_sent = true;
          for (auto& w : workers_) w->request_stop(false);
          break;
        }
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
  print_live_line(true);
  if (abort_reason_.empty()) {  // a worker that stopped in the load's last moments, before the next poll
    for (auto& w : workers_) {
      if (w->aborted_by_script() && abort_reason_.empty()) note_worker_stop(*w);
    }
  }
  return duration_s;

}

// After the load: every fault healed, teardown(), the caller's wait, quiesce(), verify(history).
void coordinator::after_load() {
  // Every fault heals before teardown and verify: they observe the system after the drill.
  if (chaos_) chaos_->heal_all(elapsed_s());

  worker& first = *workers_[0];
  try {
    special([&] { first.run_teardown(); });
  } catch (const script_error& e) {
    std::fprintf(stderr, "stampede: %s: %s\n", call_interrupted_ ? "interrupted" : "script error", e.what());
    special_failed_ = special_failed_ || !call_interrupted_;
  }

  if (request_.before_verify) request_.before_verify();
  if (!quiesce()) special_failed_ = true;

  // The history of every worker, in time order, then verify(history).
  for (auto& w : workers_) {
    history_.insert(history_.end(), w->history().begin(), w->history().end());
    history_dropped_ += w->history_dropped();
  }
  std::stable_sort(history_.begin(), history_.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
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

// A worker stopped the load: keep the first cause and say so now, not only after the summary.
void coordinator::note_worker_stop(const worker& w) {
  abort_cause_ = w.stopped_by();
  abort_reason_ = w.abort_reason();
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
    const nanos bound = request_.quiesce_timeout ? nanos(*request_.quiesce_timeout) : plan_.options.teardown_timeout;
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

// The results file (docs/RESULTS.md) through the results model: the typed sections from this run's figures,
// the run's own sections (scenarios, chaos, verify, history, ...) as the model's document.
json::value coordinator::build_results(const std::vector<threshold_result>& verdicts) {
  const double duration = final_.duration_s;
  results::run_results r;
  r.stampede_version = stampede::version;
  r.scenario = plan_.script_path;
  r.target = plan_.options.target;
  r.started_at = iso_time(wall_start_);
  r.start_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wall_start_.time_since_epoch()).count();
  r.duration_s = duration;
  r.threads = plan_.threads;
  r.seed = plan_.seed;
  r.run_id = run_id_;
  r.shard_index = plan_.shard.index;
  r.shard_count = plan_.shard.count;
  r.env.assign(plan_.env.begin(), plan_.env.end());
  r.p99_event_loop_lag_ms = ms(final_.event_loop_lag.value_at_percentile(99));
  r.saturated = r.p99_event_loop_lag_ms > plan_.options.saturation_lag_ms;
  r.max_event_loop_lag_ms = ms(final_.event_loop_lag.max());
  if (!abort_reason_.empty() || interrupted_) {
    results::abort_info& a = r.aborted.emplace();
    a.reason = interrupted_                               ? "signal"
               : abort_cause_ == stop_cause::script_error ? "script_error"
               : abort_reason_.rfind("threshold", 0) == 0 ? "threshold"
                                                          : "script";
    a.detail = interrupted_ ? "interrupted by a signal" : abort_reason_;
    if (!interrupted_in_.empty()) {  // before the load: nothing ran but setup() (and init)
      a.phase = interrupted_in_;
      a.detail = "interrupted by a signal during " +
                 (interrupted_in_ == "init" ? std::string("the script's top level") : interrupted_in_ + "()");
    }
  }

  const step_metrics& all = *final_.all_requests;
  r.summary = step_model(all, duration);
  r.summary.kind = "summary";
  r.summary.timings.clear();
  auto errors = all.errors_by_kind;
  for (const auto& [key, counts] : final_.checks) errors[static_cast<size_t>(error_kind::check_failed)] += counts.fails;
  r.summary.errors_by_kind = error_counters(errors);
  r.iterations = final_.iterations();
  r.dropped_iterations = final_.dropped_iterations();
  r.vus_max = final_.vus_max;
  r.data_sent_bytes = final_.data_sent;
  r.data_received_bytes = final_.data_received;
  for (const auto& [name, step] : final_.steps) {
    if (step->kind == step_kind::request) r.steps.push_back(step_model(*step, duration));
  }
  for (const auto& [name, step] : final_.steps) {
    if (step->kind == step_kind::group) r.steps.push_back(step_model(*step, duration));
  }

  for (const auto& [second, row] : rows_) {
    r.timeseries.push_back({second, row.requests, row.errors, ms(row.latency.value_at_percentile(50)),
                            ms(row.latency.value_at_percentile(90)), ms(row.latency.value_at_percentile(99)),
                            ms(row.latency.max()), row.vus, row.iterations, row.dropped_iterations,
                            error_counters(row.errors_by_kind), row.vus_max, row.max_event_loop_lag_ms});
    for (const auto& [step, interval] : row.step_intervals) {
      r.intervals.push_back(
          {step, second, 1.0, interval.requests, interval.errors, interval.corrected.encode_compressed_base64()});
    }
  }
  r.thresholds = verdicts;
  for (const auto& [key, counts] : final_.checks) r.checks.push_back({key.name, key.group, counts.passes, counts.fails});

  json::object rest;  // in the order the file has always had them, after the typed sections
  json::array scenarios;
  for (size_t i = 0; i < plan_.options.scenarios.size(); ++i) {
    const auto& s = plan_.options.scenarios[i];
    const scenario_counters c = i < final_.scenarios.size() ? final_.scenarios[i] : scenario_counters{};
    // end_s: when its last iteration ended (a shared-iterations scenario ends long before its
    // maxDuration); null when the run stopped before the scenario's start.
    scenarios.push_back(json::object{
        {"name", s.name},
        {"executor", std::string(to_string(s.executor))},
        {"iterations", c.iterations},
        {"dropped_iterations", c.dropped_iterations},
        {"interrupted_iterations", c.interrupted_iterations},
        {"failed_iterations", c.failed_iterations},
        {"vus_max", c.vus_max},
        {"start_s", std::chrono::duration<double>(s.start_time).count()},
        {"end_s", c.end_s >= 0 ? json::value(c.end_s) : json::value(nullptr)},
        {"load", planned_load_json(s)}});
  }
  rest["scenarios"] = std::move(scenarios);
  rest["recovery_options"] = to_json(plan_.options.recovery);
  json::array stopped;  // Lua code the guard stopped because it did not yield (lua_guard.h)
  for (const auto& w : workers_) {
    for (const auto& i : w->interruptions()) {
      stopped.push_back(json::object{{"phase", std::string(to_string(i.phase))},
                                     {"vu", i.vu},
                                     {"scenario", i.scenario},
                                     {"where", i.where},
                                     {"ran_s", i.stalled_s},
                                     {"message", i.reason}});
    }
  }
  rest["script_interruptions"] = std::move(stopped);
  rest["chaos"] = chaos_ ? chaos_->records() : json::array();
  rest["verify"] = verify_;
  rest["history"] = history_json_;
  rest["history_dropped"] = history_dropped_;
  rest["capacity"] = nullptr;
  r.document = std::move(rest);
  return results::encode(r);
}

void coordinator::print_summary(const json::value& results, const std::vector<threshold_result>& verdicts) {
  const auto& summary = results.at("summary").as_object();
  const auto& lat = summary.at("latency_ms").as_object();
  const auto& ulat = summary.at("uncorrected_latency_ms").as_object();
  const double duration = final_.duration_s;
  auto dots = [](const std::string& name) {
    std::string out = "  " + name;
    while (out.size() < 32) out += '.';
    return out + ": ";
  };
  std::printf("\n");
  if (!verdicts.empty()) {
    std::printf("  THRESHOLDS\n");
    for (const auto& v : verdicts) {
      char observed[64] = "no data";
      if (v.observed) std::snprintf(observed, sizeof observed, "%.4g", *v.observed);
      std::printf("    %s %s '%s' observed %s\n", v.ok ? "\u2713" : "\u2717", v.metric.c_str(), v.expression.c_str(),
                  observed);
    }
    std::printf("\n");
  }
  print_invariants();
  std::printf("  TOTAL RESULTS (%.1fs)\n", duration);
  int64_t passes = 0, fails = 0;
  for (const auto& [key, counts] : final_.checks) {
    passes += counts.passes;
    fails += counts.fails;
  }
  if (passes + fails > 0) {
    std::printf("%s%.2f%% %lld out of %lld\n", dots("checks").c_str(),
                100.0 * static_cast<double>(passes) / static_cast<double>(passes + fails),
                static_cast<long long>(passes), static_cast<long long>(passes + fails));
  }
  const auto num = [&](const char* key) { return summary.at(key).to_number<double>(); };
  std::printf("%s%.0f  %.1f/s\n", dots("http_reqs").c_str(), num("requests"), num("rps"));
  const auto trend = [&](const json::object& o) {
    return "avg=" + human_ms(o.at("mean").to_number<double>()) + " min=" + human_ms(o.at("min").to_number<double>()) +
           " med=" + human_ms(o.at("p50").to_number<double>()) + " p(90)=" + human_ms(o.at("p90").to_number<double>()) +
           " p(95)=" + human_ms(o.at("p95").to_number<double>()) + " p(99)=" + human_ms(o.at("p99").to_number<double>()) +
           " max=" + human_ms(o.at("max").to_number<double>());
  };
  std::printf("%s%s\n", dots("http_req_duration").c_str(), trend(lat).c_str());
  std::printf("%s%s\n", dots("  uncorrected (service)").c_str(), trend(ulat).c_str());
  std::printf("%s%.2f%%  %.0f out of %.0f\n", dots("http_req_failed").c_str(), 100 * num("error_rate"), num("errors"),
              num("requests"));
  std::printf("%s%lld  %.1f/s\n", dots("iterations").c_str(), static_cast<long long>(final_.iterations()),
              duration > 0 ? static_cast<double>(final_.iterations()) / duration : 0.0);
  std::printf("%s%lld\n", dots("dropped_iterations").c_str(), static_cast<long long>(final_.dropped_iterations()));
  std::printf("%s%lld\n", dots("vus_max").c_str(), static_cast<long long>(final_.vus_max));
  std::printf("%s%s  %s/s\n", dots("data_received").c_str(), human_bytes(static_cast<double>(final_.data_received)).c_str(),
              human_bytes(duration > 0 ? static_cast<double>(final_.data_received) / duration : 0).c_str());
  std::printf("%s%s  %s/s\n", dots("data_sent").c_str(), human_bytes(static_cast<double>(final_.data_sent)).c_str(),
              human_bytes(duration > 0 ? static_cast<double>(final_.data_sent) / duration : 0).c_str());
  const auto& errors = summary.at("errors_by_kind").as_object();
  std::string error_text;
  for (const auto& e : errors) {
    if (e.value().to_number<int64_t>() > 0) {
      error_text += std::string(e.key()) + "=" + std::to_string(e.value().to_number<int64_t>()) + " ";
    }
  }
  if (!error_text.empty()) std::printf("%s%s\n", dots("errors by kind").c_str(), error_text.c_str());

  std::printf("\n  STEPS %-36s %9s %9s %9s %9s %9s %9s %7s\n", "", "count", "rps", "p50", "p95", "p99", "max", "errors");
  for (const auto& step : results.at("steps").as_array()) {
    const auto& s = step.as_object();
    const auto& l = s.at("latency_ms").as_object();
    std::string name = std::string(s.at("name").as_string());
    if (name.size() > 40) name = name.substr(0, 37) + "...";
    std::printf("  %-42s %9lld %9.1f %9s %9s %9s %9s %7lld\n", name.c_str(),
                static_cast<long long>(s.at("requests").to_number<int64_t>()), s.at("rps").to_number<double>(),
                human_ms(l.at("p50").to_number<double>()).c_str(), human_ms(l.at("p95").to_number<double>()).c_str(),
                human_ms(l.at("p99").to_number<double>()).c_str(), human_ms(l.at("max").to_number<double>()).c_str(),
                static_cast<long long>(s.at("errors").to_number<int64_t>()));
  }
  if (results.at("meta").at("generator").at("saturated").as_bool()) {
    std::printf("\n  WARNING: the generator itself was saturated (event-loop lag p99 %.1f ms > %.1f ms):\n"
                "  latency and rate figures include the generator's own delay. Use more --threads or less load.\n",
                results.at("meta").at("generator").at("p99_event_loop_lag_ms").to_number<double>(),
                plan_.options.saturation_lag_ms);
  }
  if (!abort_reason_.empty()) std::printf("\n  ABORTED: %s\n", abort_reason_.c_str());
  std::fflush(stdout);
}

// verify()'s invariants, each with its one-line detail; a failed one also with its evidence, so that a
// broken invariant is seen on the terminal, not only in the results file.
void coordinator::print_invariants() const {
  if (!verify_.is_object()) return;
  std::printf("  INVARIANTS\n");
  for (const auto& inv : verify_.at("invariants").as_array()) {
    const json::object* o = inv.if_object();
    if (o == nullptr) {
      std::printf("    \u2717 (not an invariant table: %s)\n", json::serialize(inv).c_str());
      continue;
    }
    const json::value* ok = o->if_contains("ok");
    const bool held = ok != nullptr && ok->is_bool() && ok->as_bool();
    const json::value* name = o->if_contains("name");
    const json::value* detail = o->if_contains("detail");
    std::printf("    %s %s%s%s\n", held ? "\u2713" : "\u2717",
                name != nullptr && name->is_string() ? std::string(name->as_string()).c_str() : "(unnamed)",
                detail != nullptr && detail->is_string() ? ": " : "",
                detail != nullptr && detail->is_string() ? std::string(detail->as_string()).c_str() : "");
    const json::value* evidence = o->if_contains("evidence");
    if (!held && evidence != nullptr && !evidence->is_null()) {
      constexpr size_t max_shown = 2000;  // the checkers cap their lists; this caps a hand-written verify()
      std::string text = json::serialize(*evidence);
      if (text.size() > max_shown) {
        text = text.substr(0, max_shown) + "... (" + std::to_string(text.size() - max_shown) +
               " more characters in the results file)";
      }
      std::printf("        evidence: %s\n", text.c_str());
    }
  }
  if (const json::value* error = verify_.as_object().if_contains("error");
      error != nullptr && error->is_string()) {
    std::printf("    \u2717 verify() failed: %s\n", std::string(error->as_string()).c_str());
  }
  std::printf("\n");
}

}  // namespace

int exit_code(const run_outcome& outcome) noexcept {
  if (outcome.invariant_failed) return exit_invariant_failed;
  if (outcome.script_error) return exit_script_error;
  if (outcome.script_aborted) return exit_script_abort;
  if (outcome.interrupted) return exit_interrupted;
  if (outcome.thresholds_crossed) return exit_thresholds_crossed;
  return exit_ok;
}

int execute_run(const run_request& request, const report_writer& write_reports) {
  coordinator c(request);
  return c.run(write_reports);
}

}  // namespace stampede::loadgen
