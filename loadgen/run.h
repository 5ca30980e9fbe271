// `stampede run`: the coordinator. It loads the scenario, runs setup, starts one worker thread per
// core, merges their per-second snapshots into the live view and time series, evaluates
// thresholds, runs teardown, and writes the results. Exit codes are documented in the README.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "common/cli_args.h"
#include "common/host_port.h"
#include "loadgen/chaos_timeline.h"
#include "loadgen/executor.h"
#include "loadgen/metrics.h"
#include "loadgen/options_reader.h"
#include "loadgen/summary_format.h"

namespace stampede::chaos {
class proxy_server;
}

namespace stampede::loadgen {

inline constexpr int exit_ok = cli::exit_ok;
inline constexpr int exit_usage = cli::exit_usage;
inline constexpr int exit_invariant_failed = 98;     // verify() reported a broken invariant
inline constexpr int exit_thresholds_crossed = 99;   // as k6
inline constexpr int exit_invalid_options = 104;      // as k6's invalid config
inline constexpr int exit_interrupted = 105;          // Ctrl-C / SIGTERM (results are still written)
inline constexpr int exit_script_error = 107;         // as k6's script exception
inline constexpr int exit_script_abort = 108;         // stampede.abort() / options.throw

// How a run ended, as far as its exit code is concerned.
struct run_outcome {
  bool invariant_failed = false;    // verify() returned an invariant with ok = false
  bool script_error = false;        // teardown()/quiesce()/verify() raised, or a script mistake stopped the load
  bool script_aborted = false;      // stampede.abort(), or options.throw and an iteration error
  bool interrupted = false;         // SIGINT/SIGTERM
  bool thresholds_crossed = false;  // a threshold failed (also when abortOnFail ended the run)
};

// The one precedence of exit codes, for `stampede run` and `drill` and each stage of `capacity` (README,
// "Exit codes"):
// 98 invariant > 107 script error > 108 aborted by the script > 105 interrupted > 99 thresholds > 0.
// Evidence about the system under test first (a game day that loses orders and is also slow is a
// lost-orders game day), then why the run is not a valid measurement, then the thresholds measured on it.
int exit_code(const run_outcome& outcome) noexcept;

struct run_request {
  std::string script_path;
  option_overrides overrides;
  std::optional<std::string> out_path;
  std::optional<std::string> report_dir;
  int threads = 1;
  uint64_t seed = 1;
  std::map<std::string, std::string> env;
  bool quiet = false;
  bool no_thresholds = false;
  slot shard{0, 1};
  bool proxy = false;                        // put a fault proxy ("target") in front of the target
  std::optional<std::string> topology_path;  // processes for node faults (a shop topology)
  bool unsafe_lua = false;                   // --unsafe-lua: Lua's whole standard library (lua_sandbox.h)
  // --lua-memory-limit: per worker's Lua state from the top level on; overrides options.luaMemoryLimit
  // (which applies from setup() on: the options are read after the top level has run).
  std::optional<size_t> lua_memory_limit;
  std::chrono::nanoseconds init_timeout{std::chrono::seconds(60)};  // bound of the script's top level
  summary_format summary;  // --summary-trend-stats, --summary-time-unit (the text summary only)
  // --metrics-listen: serve the live metrics (live_metrics.h) there for the whole run; a port of 0 picks
  // a free one, given to `metrics_listening` (e.g. for tests) once it listens.
  std::optional<host_port> metrics_listen;
  std::function<void(uint16_t port)> metrics_listening;
  // --dashboard: serve the live dashboard (dashboard/server.h) there for the whole run; a port of 0 picks
  // a free one, given to `dashboard_listening` once it listens.
  std::optional<host_port> dashboard_listen;
  std::function<void(uint16_t port)> dashboard_listening;

  // For embedders (stampede drill, stampede capacity); all optional.
  // Fault proxies the caller created (e.g. on a shop's internal links): network faults may target them;
  // the run heals them at the end like its own. Shared: the caller keeps the links after the run.
  std::shared_ptr<chaos::proxy_server> proxies;
  // Network fault targets that stand for several of those proxies (chaos_timeline.h: link_group), e.g.
  // `primary` for a Patroni member's links, resolved when the fault fires.
  link_group_resolver link_groups;
  // Called after the load, the final heal and teardown(), before quiesce() and verify() (e.g. wait until
  // the system is quiet).
  std::function<void()> before_verify;
  // Bound of the scenario's quiesce() (default: options.teardownTimeout).
  std::optional<std::chrono::milliseconds> quiesce_timeout;
  // Called with the finished results before they are written (--out, reports); may add keys.
  std::function<void(boost::json::value& results)> finish_results;

  // For `stampede agent` (distributed/, docs/DISTRIBUTED.md): a shard of a coordinated run. All optional.
  struct remote_control {
    // setup() ran once on the coordinator: its data (JSON). This process runs neither setup() nor teardown().
    std::string setup_data_json = "null";
    // The barrier: the load starts at this wall-clock time (this machine's clock, offset corrected).
    std::optional<std::chrono::system_clock::time_point> start_at;
    // Every per-second snapshot the workers hand over, on the run's thread, as it is drained.
    std::function<void(const interval_snapshot&)> on_interval;
    // Polled every 100 ms during the load: a reason (e.g. a threshold crossed on the merged view) stops it.
    std::function<std::optional<std::string>()> stop_requested;
    // This shard stopped the load itself (stampede.abort(), options.throw, a script mistake): why, once.
    std::function<void(const std::string& reason)> on_abort;
  };
  // Set: thresholds are judged centrally (no live abortOnFail here; the end verdicts are still written).
  std::optional<remote_control> remote;
};

// Writes every report format for a results document into a directory (provided by reports/).
using report_writer = std::function<void(const boost::json::value& results, const std::string& directory)>;

// Runs the whole test; returns the exit code. Prints progress and the summary.
int execute_run(const run_request& request, const report_writer& write_reports = {});

}  // namespace stampede::loadgen
