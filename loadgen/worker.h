// A load-generator worker: one thread, one io_context, one lua_State, its own connections and its
// own metrics (shared-nothing, as in wrk). Virtual users are Lua coroutines in that state; their
// HTTP calls and sleeps yield to the worker's event loop, which resumes them when the response or
// the timer arrives. One scheduler (a heap and a single Asio timer) serves every sleep and control
// event of the worker, because a timer per VU costs a kernel timer update each; arrivals come from one
// periodic pacer per arrival-rate scenario (arrival_pacer.h), which needs no timer update per arrival.
//
// Thread-safety: a worker is used by one thread at a time (its own during the load; the
// coordinator's before start and after join). request_stop() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "loadgen/executor.h"
#include "loadgen/http_engine.h"
#include "loadgen/lua_guard.h"
#include "loadgen/metrics.h"
#include "loadgen/options.h"
#include "loadgen/options_reader.h"
#include "loadgen/target_cache.h"

struct lua_State;

namespace stampede::loadgen {

// An error in the scenario script (syntax, init, setup, teardown): message names file:line.
struct script_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A setup/teardown/quiesce/verify call that did not finish within its timeout.
struct script_timeout : script_error {
  using script_error::script_error;
};

// Everything a worker needs to know about the run; read-only once workers start.
struct run_plan {
  std::string script_path;
  run_options options;
  std::map<std::string, std::string> env;   // -e KEY=VALUE
  uint64_t seed = 1;
  int threads = 1;
  slot shard{0, 1};                          // this process's shard among all generators
  steady::time_point start;                  // t = 0 of the load
  std::string setup_data_json = "null";      // what setup() returned, encoded
  chaos_timeline* chaos = nullptr;           // faults (thread-safe); chaos.* in Lua
  bool unsafe_lua = false;                   // the whole Lua standard library (lua_sandbox.h)
  nanos init_timeout{60s};                   // bound of the script's top level (per worker)
  // Sub-metrics of custom metrics that thresholds ask for ("my_trend{flow:buy}"): only these get a sink
  // of their own (custom_metrics::track), so memory is bounded by the thresholds.
  std::vector<results::metric_selector> custom_sub_metrics;
  // Tag sets of HTTP sub-metrics that thresholds ask for beyond {name:X} (a request step already):
  // "http_req_duration{status:200}" gives {{"status","200"}}; worker_metrics::track_tags.
  std::vector<std::vector<std::pair<std::string, std::string>>> http_tag_sets;
  // Sub-metrics of iteration_duration, iterations, dropped_iterations and checks by tag set that thresholds
  // ask for
  // ("iteration_duration{scenario:browse}"): builtin_sub_metrics::track.
  std::vector<results::metric_selector> builtin_sub_metrics;
};

// Script errors inside iterations, grouped by message so a broken script does not flood stderr.
struct iteration_error {
  std::string message;   // first line (file:line: message)
  std::string detail;    // with traceback
  int64_t first_vu = 0;
  int64_t first_iteration = 0;
  int64_t count = 0;
};

// Why a worker stopped the load early on its own (not Ctrl-C, not a threshold: the coordinator decides
// those).
enum class stop_cause : uint8_t {
  none,
  script_abort,  // stampede.abort(), or options.throw and an iteration error: exit 108
  script_error,  // a script mistake no iteration can get past (e.g. a relative URL without a target): 107
};

// Where workers post their per-second snapshots; the coordinator drains it. Not on the hot path.
class worker_outbox {
 public:
  void post(interval_snapshot snapshot) {
    std::lock_guard lock(mutex_);
    snapshots_.push_back(std::move(snapshot));
  }
  std::vector<interval_snapshot> drain() {
    std::lock_guard lock(mutex_);
    return std::exchange(snapshots_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<interval_snapshot> snapshots_;
};

// One operation of the run's history (Jepsen style): invoke, then ok, fail or unknown. Values are JSON.
struct history_entry {
  int64_t id = 0;            // the operation; shared by its invoke and its completion
  int64_t process = 0;       // the VU
  std::string op;            // e.g. "purchase"
  char type = 'i';           // 'i' invoke, 'o' ok, 'f' fail, 'u' unknown (may or may not have taken effect)
  std::string value_json = "null";
  double t = 0;              // seconds since the run's start
};
inline constexpr size_t max_history_entries = 2'000'000;  // per worker; beyond, entries are counted, not kept

struct vu;
struct batch_item;
struct http_request;
struct scenario_runtime;
class lua_runtime;
class lua_sandbox;

class worker {
 public:
  worker(const run_plan& plan, int index, worker_outbox& outbox);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Runs the script's top level in this worker's Lua state. Throws script_error.
  void init();
  // Reads `options` from the script (worker 0 only, after init(), before the plan is final), bounded like
  // the top level (the options' metamethods are script code). Throws std::invalid_argument naming the bad
  // option, script_error when the guard stopped it (the init timeout, interrupt_init()).
  run_options read_options(const option_overrides& overrides);
  // Takes the final plan's target and setup data (after read_options and setup). Throws
  // std::invalid_argument for a bad target, script_error for bad setup data.
  void apply_plan();
  // Runs setup() as a VU (with HTTP) and returns its result as JSON ("null" if no setup). Throws script_error.
  std::string run_setup();
  // Runs teardown(data) as a VU. Throws script_error.
  void run_teardown();
  // Runs verify(history) as a VU if the script defines it; returns its result as JSON ("null" without
  // verify). Throws script_error.
  std::string run_verify(const std::string& history_json);
  // Runs handleSummary(data) as a VU (summary_hook.h), bounded by teardownTimeout; returns its result as
  // JSON ("null" without the hook). Throws script_error.
  std::string run_handle_summary(const std::string& data_json);
  // Whether the script defines a global function `name` (worker 0, outside the load).
  bool has_function(std::string_view name) const;
  // Runs quiesce() as a VU, bounded by `timeout`; returns its result as JSON ("null" without quiesce).
  // Throws script_error (script_timeout when it did not finish in time).
  std::string run_quiesce(nanos timeout);
  // The load phase: returns when every scenario of this worker has ended.
  void run_load();
  // Thread-safe: ends the load early (Ctrl-C, abortOnFail). `hard` skips graceful stops.
  void request_stop(bool hard);
  // Thread-safe: ends a running setup()/teardown()/quiesce()/verify() as interrupted (Ctrl-C); its call
  // throws. Also one about to start: the request holds until clear_stop_requests().
  void interrupt_special();
  // Thread-safe: stops the script's top level (init) and read_options() at once (Ctrl-C); they throw.
  void interrupt_init();
  // Thread-safe: forgets earlier stop requests before the next phase (teardown after a Ctrl-C).
  void clear_stop_requests();
  // The coordinator's thread, every ~100 ms: lets the guard stop Lua code that never yields.
  void watchdog_tick();
  // Code the guard stopped because it did not yield (the top level, a VU's iteration, setup, teardown,
  // quiesce, verify), in order.
  const std::vector<script_interruption>& interruptions() const noexcept { return interruptions_; }

  worker_metrics& metrics() noexcept { return metrics_; }
  const std::vector<iteration_error>& iteration_errors() const noexcept { return errors_; }
  // Thread-safe (the coordinator polls it during the load): why this worker stopped the load, if it did.
  stop_cause stopped_by() const noexcept { return stop_cause_.load(std::memory_order_acquire); }
  bool aborted_by_script() const noexcept { return stopped_by() != stop_cause::none; }
  // When this worker's last scenario ended (steady clock); read after run_load() has returned.
  steady::time_point load_ended_at() const noexcept { return load_ended_at_; }
  // Valid once stopped_by() has returned a cause: written once, before the cause is published.
  const std::string& abort_reason() const noexcept { return abort_reason_; }
  int index() const noexcept { return index_; }

  // ---- used by the Lua bindings (lua_bindings.h) ----
  lua_State* lua() const noexcept;
  const lua_sandbox& sandbox() const noexcept;
  const run_plan& plan() const noexcept { return plan_; }
  const parsed_url* base_url() const noexcept { return base_url_ ? &*base_url_ : nullptr; }
  // `declared`: the script named the request (params.name), not "METHOD /path".
  size_t request_step(std::string_view name, bool declared) {
    return metrics_.step_index(name, step_kind::request, declared);
  }
  // Targets the worker's VUs have used (target_cache.h): parsed once per worker, not once per VU and step.
  target_cache& targets() noexcept { return targets_; }
  // Sends the VU's http_request (request.h) with the VU's cookies; the VU yields until on_http_complete.
  void start_request(vu& v);
  // Sends the requests of the VU's http_batch (http_batch.h), bounded by options.batch and batchPerHost;
  // the VU yields until the last one completed (worker_batch.cpp).
  void start_batch(vu& v);
  void on_batch_item_complete(batch_item& item);
  void start_sleep(vu& v, double seconds);
  // Called when an iteration's function returned (ok) or raised (message). Returns true when the VU
  // starts its next iteration at once (without yielding); false: it yields and the worker decides.
  bool end_iteration(vu& v, bool ok, std::string_view error);
  void enter_group(vu& v, std::string_view name);
  void exit_group(vu& v);
  void record_check(vu& v, std::string_view name, bool ok);
  // From a script (this worker's thread): stops the test; the first cause and reason stay.
  void abort_run(std::string reason, stop_cause cause = stop_cause::script_abort);
  int64_t history_invoke(vu& v, std::string_view op, std::string value_json);
  void history_complete(vu& v, int64_t id, char type, std::string value_json);
  const std::vector<history_entry>& history() const noexcept { return history_; }
  int64_t history_dropped() const noexcept { return history_dropped_; }
  std::mt19937_64& init_rng() noexcept { return init_rng_; }
  http_engine& http() noexcept { return *http_; }

 private:
  friend struct vu;
  static constexpr auto sweep_period = std::chrono::milliseconds(10);  // the engine's deadline sweep
  // Arrivals are not events: each arrival-rate scenario has its own pacer (arrival_pacer.h).
  enum class event_kind : uint8_t {
    wake_vu,
    scenario_start,
    scenario_end,
    scenario_hard_stop,
    ramp_tick,
    interval,
    sweep,
    stop
  };
  struct event {
    steady::time_point at;
    uint64_t sequence;
    event_kind kind;
    void* target;
    uint64_t generation;
    bool operator>(const event& other) const {
      return at != other.at ? at > other.at : sequence > other.sequence;
    }
  };

  void schedule(steady::time_point at, event_kind kind, void* target = nullptr, uint64_t generation = 0);
  void arm_timer();
  void on_timer();
  void handle(const event& e, steady::time_point now);

  void start_scenario(scenario_runtime& s);
  void end_scenario(scenario_runtime& s);
  void hard_stop_scenario(scenario_runtime& s);
  void mark_ended(scenario_runtime& s);
  // Arrival rates: the pacer's tick releases every arrival due (each with its own intended time), then
  // pace() keeps or re-arms the pacer for the next one.
  void on_pacer_tick(scenario_runtime& s);
  void pace(scenario_runtime& s, steady::time_point now);
  void release_arrival(scenario_runtime& s, steady::time_point intended, steady::time_point now);
  // Releases the arrivals due by `until` (and before the scenario's end), `now` refreshed after each; false
  // when a release ended the scenario or the run.
  bool release_due(scenario_runtime& s, steady::time_point until, steady::time_point& now);
  // At the scenario's end: the arrivals due before it that no tick released yet (see the definition).
  void release_overdue_arrivals(scenario_runtime& s, steady::time_point now);
  void ramp(scenario_runtime& s, steady::time_point now);
  void maybe_finish();
  void roll_interval(int64_t second);

  vu& create_vu(scenario_runtime* s);
  void begin_iteration(vu& v, steady::time_point intended, steady::time_point now);
  void resume(vu& v, int nargs);
  void after_iteration(vu& v);
  void on_http_complete(vu& v);
  // The tags of v's iteration (its scenario and options.tags) for builtin_sub_metrics.
  builtin_sample_tags builtin_tags_of(const vu& v) const;
  // request_tags.cpp: HTTP sub-metrics by tag set, for a VU's request or one of its batch's.
  void record_request_tags(const vu& v, const http_request& request, const http_outcome& outcome,
                           std::string_view url, int64_t corrected_us);
  void pump_batch(vu& v);
  void finish_batch(vu& v);
  // Aborts what the VU has in flight: its request or its batch's (a scenario's hard stop).
  void abort_requests(vu& v);
  bool wants_another_iteration(vu& v, steady::time_point now);
  void stop_stuck_vu(vu& v);
  std::string run_special_vu(const char* function_name, lua_phase phase, nanos timeout,
                             const std::string* argument_json = nullptr);

  const run_plan& plan_;
  int index_;
  worker_outbox& outbox_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::unique_ptr<http_engine> http_;
  std::unique_ptr<lua_runtime> lua_;
  std::optional<parsed_url> base_url_;
  std::string base_url_text_;
  target_cache targets_;
  worker_metrics metrics_;
  std::vector<iteration_error> errors_;
  std::vector<std::unique_ptr<scenario_runtime>> scenarios_;
  std::vector<std::unique_ptr<vu>> vus_;
  std::vector<event> heap_;
  uint64_t sequence_ = 0;
  steady::time_point armed_for_ = steady::time_point::max();
  bool timer_armed_ = false;
  bool running_ = false;
  steady::time_point load_ended_at_{};
  bool stopping_ = false;
  int64_t active_vus_ = 0;
  int64_t next_second_ = 0;
  std::atomic<bool> stop_requested_{false};
  // Written by this worker's thread, read by the coordinator while the load runs: the reason first,
  // then the cause with release, so that a reader who sees the cause also sees the reason.
  std::atomic<stop_cause> stop_cause_{stop_cause::none};
  std::string abort_reason_;
  std::mt19937_64 init_rng_;
  vu* special_vu_ = nullptr;
  bool special_done_ = false;
  lua_phase special_phase_ = lua_phase::setup;
  steady::time_point special_deadline_ = steady::time_point::max();  // the guard's and the loop's bound
  // Why the running setup/teardown/quiesce/verify ended before it returned: its timeout or a signal, seen
  // by the guard (code that did not yield) or by the loop (code waiting for a request or a timer).
  std::optional<script_interruption> special_cut_short_;
  std::vector<script_interruption> interruptions_;  // code the guard stopped, in order (results)
  std::vector<history_entry> history_;
  int64_t history_dropped_ = 0;
  int64_t history_next_ = 0;
};

}  // namespace stampede::loadgen
