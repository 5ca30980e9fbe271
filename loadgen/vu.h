// A virtual user and a scenario's state inside one worker. Internal to the worker and the Lua bindings.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "loadgen/arrival_pacer.h"
#include "loadgen/http_batch.h"
#include "loadgen/http_engine.h"
#include "loadgen/request.h"
#include "loadgen/worker.h"

namespace stampede::loadgen {

// xoshiro256** seeded with splitmix64: a VU's math.random, reproducible from --seed and the VU id.
class vu_random {
 public:
  explicit vu_random(uint64_t seed = 1) { reseed(seed); }
  void reseed(uint64_t seed) {
    for (auto& word : state_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> state_{};
};

struct group_frame {
  std::string path;            // "::checkout::pay"
  size_t step = 0;
  steady::time_point started;
  nanos lag_at_start{0};
};

enum class vu_state : uint8_t { parked, running, sleeping, waiting_http, done };

struct scenario_runtime {
  const scenario_options* options = nullptr;
  size_t index = 0;
  slot place;
  steady::time_point start;
  steady::time_point end;            // no new iterations after this
  steady::time_point hard_stop;      // iterations still running are interrupted
  std::vector<vu*> vus;
  std::vector<vu*> parked;           // VUs between iterations, ready to be used
  int64_t running = 0;               // VUs inside an iteration
  int64_t max_vus = 0;
  int64_t iterations_left = 0;       // shared-iterations: this worker's share still to start
  int64_t target = 0;                // ramping-vus: VUs that should be looping now
  std::unique_ptr<arrival_schedule> schedule;
  std::unique_ptr<slot_arrivals> arrivals;
  std::unique_ptr<arrival_pacer> pacer;  // arrival rates: wakes the worker for its arrivals
  steady::time_point next_arrival;       // the next arrival not yet released (max: none left)
  bool started = false;
  bool ending = false;
  bool ended = false;
};

// The VU's last request target: a repeated URL (the common case) skips URL parsing, building the
// metric name and the metric and pool lookups, and even the worker's target_cache lookup.
struct request_cache {
  std::string method;
  std::string url;
  std::string name;                    // params.name as given ("" = the default name)
  const parsed_url* target = nullptr;  // in the worker's target_cache, or `parsed` when that was full
  parsed_url parsed;
  size_t step = 0;
  bool valid = false;
};

struct vu final : http_job {
  vu(worker& w, int64_t vu_id, scenario_runtime* s) : owner(w), id(vu_id), scenario(s) {}
  void on_complete() override;

  worker& owner;
  int64_t id;
  scenario_runtime* scenario;        // nullptr for setup() and teardown()
  lua_State* thread = nullptr;       // the coroutine
  int thread_ref = -2;               // LUA_NOREF; anchors the coroutine in the registry
  int env_ref = -2;                  // this VU's private globals
  int table_ref = -2;                // the `vu` table
  int data_ref = -2;                 // this VU's copy of setup()'s data, decoded at its first iteration
  vu_state state = vu_state::parked;
  bool coroutine_started = false;
  bool interrupted = false;
  bool yielded_in_iteration = false;  // made a request or slept since the iteration began
  int64_t iterations_done = 0;
  steady::time_point iteration_intended;
  steady::time_point iteration_started;
  nanos lag{0};                      // harness-side delay accumulated in this iteration
  nanos lag_before_request{0};
  request_cache last_request;        // also gives res.url
  http_request request;              // the request in flight (or the last one), built by lua_http.cpp
  std::unique_ptr<http_batch> batch; // http.batch's requests (created at the first batch; http_batch.h)
  int64_t history_id = 0;            // params.history of the request in flight: its operation id
  steady::time_point sleep_intended;
  uint64_t sleep_generation = 0;
  std::vector<group_frame> groups;
  cookie_jar cookies;
  vu_random random;
  size_t index_in_scenario = 0;
};

// The VU's scenario as worker_metrics::record_request counts it: 0 for setup/teardown, index + 1 otherwise.
inline size_t scenario_slot(const vu& v) noexcept {
  return v.scenario == nullptr ? 0 : v.scenario->index + 1;
}

}  // namespace stampede::loadgen
