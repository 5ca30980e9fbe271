// Per-worker measurements. A worker owns one `worker_metrics` and is the only thread that touches it
// during the run (shared-nothing); every second it hands a copy of the interval part to the
// coordinator, and at the end the coordinator merges the workers' cumulative parts by name.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/hdr_histogram.h"
#include "loadgen/builtin_sub_metrics.h"
#include "loadgen/custom_metrics.h"

namespace stampede::loadgen {

enum class error_kind : uint8_t {
  none,
  connect_refused,
  connect_timeout,
  reset,
  read_timeout,
  malformed_response,
  tls,
  body_truncated,  // a complete response whose body passed responseBodyLimit: only its start was kept
  status_4xx,
  status_5xx,
  check_failed,
  other,
};
inline constexpr size_t error_kind_count = 12;
std::string_view to_string(error_kind kind) noexcept;  // "connect_refused", ...

// tagged: a sub-metric of the HTTP metrics that a threshold asks for ("http_req_duration{status:200}"), named
// by its tag set ("{status:200}"); its requests are also counted in their request step.
enum class step_kind : uint8_t { request, group, tagged };

// Phase timings of one request, in microseconds (k6's blocked/connecting/tls/sending/waiting/receiving).
struct request_timings {
  int64_t blocked = 0;    // waiting for a pooled connection
  int64_t connect = 0;    // TCP connect (0 when reused)
  int64_t tls = 0;        // TLS handshake
  int64_t send = 0;
  int64_t wait = 0;       // time to first byte after the request was written
  int64_t receive = 0;
  int64_t total = 0;      // connect + tls + send + wait + receive: the uncorrected latency
};

inline constexpr size_t phase_count = 5;  // blocked, connect, send, wait, receive
inline constexpr std::array<std::string_view, phase_count> phase_names = {"blocked", "connect", "send", "wait",
                                                                         "receive"};

// Histograms and counters of one step (request name or group).
struct step_metrics {
  explicit step_metrics(std::string step_name, step_kind step_kind);

  std::string name;
  step_kind kind;
  // The script named it (a request's `name`, a group): the live metrics label it by name; an unnamed
  // request's "METHOD /path" may hold ids and is never a label (live_metrics.h).
  bool declared = false;
  hdr_histogram corrected;      // us, from intended start
  hdr_histogram uncorrected;    // us, service time
  std::array<hdr_histogram, phase_count> phases;  // us, 2 significant digits
  int64_t requests = 0;
  int64_t errors = 0;
  std::array<int64_t, 6> status_classes{};  // index 0: no response, 1..5: 1xx..5xx
  std::array<int64_t, error_kind_count> errors_by_kind{};

  // The current second (reset at every interval roll-over).
  hdr_histogram interval_corrected;
  int64_t interval_requests = 0;
  int64_t interval_errors = 0;
  // Requests of this second by scenario slot (0: setup/teardown, i + 1: scenario i) and status class.
  std::vector<std::array<int64_t, 6>> interval_statuses;

  void merge(const step_metrics& other);
};

struct check_key {
  std::string group;
  std::string name;
  auto operator<=>(const check_key&) const = default;
};
struct check_counts {
  int64_t passes = 0;
  int64_t fails = 0;
};

struct scenario_counters {
  int64_t iterations = 0;
  int64_t dropped_iterations = 0;
  int64_t interrupted_iterations = 0;
  int64_t failed_iterations = 0;   // a script error inside the iteration
  int64_t vus_max = 0;
  double end_s = -1;               // when it ended (s since the run's start); -1: it never started
};

// One second of one worker, handed to the coordinator.
struct interval_snapshot {
  int64_t second = 0;                       // t since the run's start
  int worker = 0;
  struct step {
    std::string name;
    step_kind kind;
    hdr_histogram corrected;
    int64_t requests = 0;
    int64_t errors = 0;
    bool declared = false;
    std::vector<std::array<int64_t, 6>> statuses;  // by scenario slot and status class (step_metrics)
  };
  std::vector<step> steps;                  // only steps active in this second
  std::array<int64_t, error_kind_count> errors_by_kind{};
  int64_t iterations = 0;
  int64_t dropped_iterations = 0;
  std::map<check_key, check_counts> checks;  // this second's, per check (the live view's `checks` thresholds)
  check_counts checks_total() const;         // over every check of `checks`
  // This second's iteration durations (the live view's iteration_duration thresholds); unset without any.
  std::optional<hdr_histogram> iteration_durations;
  int64_t vus = 0;
  int64_t vus_max = 0;
  hdr_histogram event_loop_lag{1, 3'600'000'000, 2};
  custom_metrics custom;  // the script's metrics.* samples of this second (only those added)
  builtin_sub_metrics builtin_subs;  // the tracked built-in sub-metrics' samples of this second
};

class worker_metrics {
 public:
  worker_metrics() = default;
  worker_metrics(worker_metrics&&) = default;
  worker_metrics& operator=(worker_metrics&&) = default;

  // Returns a stable index for a step name (created on first use). Hot path: one hash lookup
  // with a string_view key, no allocation once the name exists.
  // `declared`: the script named the step (step_metrics::declared; once declared, always).
  size_t step_index(std::string_view name, step_kind kind, bool declared = false);
  step_metrics& step(size_t index) { return *steps_[index]; }
  const std::vector<std::unique_ptr<step_metrics>>& steps() const { return steps_; }

  // scenario_slot: 0 for setup/teardown, scenario index + 1 otherwise (the live metrics' scenario label).
  void record_request(size_t step, size_t scenario_slot, int64_t corrected_us, const request_timings& timings,
                      int status, error_kind error);
  // The same request into a tagged step (its errors are already counted by record_request).
  void record_tagged(size_t step, int64_t corrected_us, const request_timings& timings, int status,
                     error_kind error);
  // HTTP sub-metrics by tag set: only those thresholds ask for (worker::apply_plan) are tracked, so that a
  // request with no tracked tag set costs one empty() test.
  struct tagged_step {
    std::vector<std::pair<std::string, std::string>> tags;  // sorted by key
    size_t step;
  };
  void track_tags(const std::vector<std::pair<std::string, std::string>>& tags);
  const std::vector<tagged_step>& tagged_steps() const { return tagged_; }
  void record_group(size_t step, int64_t corrected_us, int64_t duration_us);
  // Returns a stable index for a check (its group path and name), created on first use. Hot path, as
  // step_index: one hash lookup with string_view keys, no allocation once the check exists.
  size_t check_index(std::string_view group, std::string_view name);
  void record_check(size_t check, bool ok);
  void record_iteration(size_t scenario, int64_t duration_us, bool failed);
  void record_dropped(size_t scenario);
  void record_event_loop_lag(int64_t lag_us);

  // Moves the current second into a snapshot and starts the next one.
  interval_snapshot roll_interval(int64_t second, int worker, int64_t vus, int64_t vus_max);

  // The counts of every check recorded so far, by (group, name): the end-of-run merge (aggregate.cpp).
  std::map<check_key, check_counts> checks() const;
  std::vector<scenario_counters>& scenarios() { return scenarios_; }
  const hdr_histogram& iteration_durations() const { return iteration_durations_; }
  hdr_histogram& iteration_durations() { return iteration_durations_; }
  const hdr_histogram& event_loop_lag() const { return event_loop_lag_; }
  hdr_histogram& event_loop_lag() { return event_loop_lag_; }
  // The script's metrics.trend/counter/rate/gauge (declared by this worker's Lua state).
  custom_metrics& custom() { return custom_; }
  const custom_metrics& custom() const { return custom_; }
  // iteration_duration, iterations, dropped_iterations and checks by the tag sets thresholds name
  // (worker::apply_plan).
  builtin_sub_metrics& builtin_subs() { return builtin_subs_; }
  const builtin_sub_metrics& builtin_subs() const { return builtin_subs_; }
  int64_t data_sent = 0;
  int64_t data_received = 0;

 private:
  custom_metrics custom_;
  builtin_sub_metrics builtin_subs_;
  std::vector<tagged_step> tagged_;
  struct string_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t, string_hash, std::equal_to<>> step_by_name_;
  std::vector<std::unique_ptr<step_metrics>> steps_;
  std::vector<size_t> active_in_interval_;
  struct check_slot {
    check_key key;
    check_counts total;
    check_counts interval;  // this second's
  };
  struct check_view {
    std::string_view group, name;
  };
  struct check_hash {
    using is_transparent = void;
    size_t operator()(const check_view& c) const noexcept {
      const size_t h = std::hash<std::string_view>{}(c.group);
      return h ^ (std::hash<std::string_view>{}(c.name) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    }
    size_t operator()(const check_key& c) const noexcept { return (*this)(check_view{c.group, c.name}); }
  };
  struct check_equal {
    using is_transparent = void;
    static check_view view(const check_key& c) noexcept { return {c.group, c.name}; }
    static check_view view(const check_view& c) noexcept { return c; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return view(a).group == view(b).group && view(a).name == view(b).name;
    }
  };
  std::unordered_map<check_key, size_t, check_hash, check_equal> check_by_key_;
  std::vector<check_slot> checks_;
  std::vector<size_t> checks_in_interval_;  // indexes of the checks recorded this second
  std::vector<scenario_counters> scenarios_;
  hdr_histogram iteration_durations_;
  hdr_histogram event_loop_lag_{1, 3'600'000'000, 2};
  hdr_histogram interval_lag_{1, 3'600'000'000, 2};
  std::array<int64_t, error_kind_count> interval_errors_by_kind_{};
  int64_t interval_iterations_ = 0;
  int64_t interval_dropped_ = 0;
  hdr_histogram interval_iteration_durations_;
};

}  // namespace stampede::loadgen
