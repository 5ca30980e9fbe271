// What a run is asked to do: the scenario's `options` table after command-line overrides.
// Plain data, built once by the coordinator (scenario_loader) and read by every worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/recovery_tolerances.h"
#include "loadgen/chaos_timeline.h"


namespace stampede::loadgen {

using nanos = std::chrono::nanoseconds;
using namespace std::chrono_literals;

enum class executor_kind {
  constant_vus,
  ramping_vus,
  per_vu_iterations,
  shared_iterations,
  constant_arrival_rate,
  ramping_arrival_rate,
};
std::string_view to_string(executor_kind kind) noexcept;
bool is_arrival_rate(executor_kind kind) noexcept;

struct stage {
  nanos duration{0};
  double target = 0;   // VUs (ramping-vus) or iterations per time_unit (ramping-arrival-rate)
};

struct scenario_options {
  std::string name;
  executor_kind executor = executor_kind::constant_vus;
  std::string exec = "default";            // global function each iteration calls
  nanos start_time{0};
  nanos graceful_stop{30s};
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> env;

  // closed models
  int64_t vus = 1;
  nanos duration{0};
  int64_t iterations = 1;                  // per VU (per-vu-iterations) or in total (shared-iterations)
  nanos max_duration{10min};
  int64_t start_vus = 1;                   // ramping-vus
  std::vector<stage> stages;               // ramping-vus, ramping-arrival-rate
  nanos graceful_ramp_down{30s};

  // open models
  double rate = 0;                         // iterations per time_unit (constant-arrival-rate)
  double start_rate = 0;                   // ramping-arrival-rate
  nanos time_unit{1s};
  int64_t pre_allocated_vus = 0;
  int64_t max_vus = 0;                     // 0 = pre_allocated_vus

  // How long the executor itself runs (without graceful stop), from its start_time.
  nanos planned_duration() const;
  // Most VUs this scenario may ever hold.
  int64_t max_vus_needed() const;
};

// One threshold as the scenario wrote it (parsed and validated by loadgen/thresholds).
struct threshold_input {
  std::string metric;        // "http_req_duration{name:GET /api/cart}"
  std::string expression;    // "p(99)<250"
  bool abort_on_fail = false;
  nanos delay_abort_eval{0};
};

struct run_options {
  std::string target;                      // base URL for relative request URLs
  std::vector<scenario_options> scenarios;
  std::vector<threshold_input> thresholds;
  nanos connect_timeout{10s};
  nanos request_timeout{60s};              // default per-request timeout (params.timeout overrides)
  int64_t max_connections_per_host = 0;    // per worker thread; 0 = unlimited
  int64_t batch = 20;                      // http.batch: requests of one batch in flight at once; 0 = all
  int64_t batch_per_host = 6;              // of them, to one origin (k6's batchPerHost); 0 = unlimited
  bool insecure_skip_tls_verify = false;
  bool throw_on_iteration_error = false;   // abort the run on the first iteration error
  bool discard_response_bodies = false;
  size_t response_body_limit = 10 * 1024 * 1024;  // bytes of a response body kept for the script
  size_t lua_memory_limit = 1024 * 1024 * 1024;   // per worker thread's Lua state (lua_guard.h)
  std::string user_agent = "stampede/0.1";
  nanos setup_timeout{60s};
  nanos teardown_timeout{60s};
  double saturation_lag_ms = 10.0;         // p99 event-loop lag above this => generator saturated
  std::vector<fault_spec> chaos;           // the fault timeline (options.chaos)
  std::map<std::string, std::string> tags;     // options.tags: run-wide tags of every sample
  std::map<std::string, std::string> proxies;  // name -> upstream "host:port": fault proxies to create
  std::string topology_path;               // a shop topology naming processes for node faults
  recovery_tolerances recovery;            // options.recovery: how recovery figures judge a second
};

}  // namespace stampede::loadgen
