// The generator's own live metrics (`stampede run --metrics-listen ADDR`): the workers' per-second
// snapshots (worker_outbox, the same handover that feeds the live line and abortOnFail), summed into
// cumulative Prometheus series and served as text at GET /metrics (docs/SCENARIOS.md, "Live metrics").
//
// Nothing here is on the hot path: workers keep recording into their own worker_metrics without locks;
// the coordinator adds each drained snapshot (add(), under this object's mutex) and a scrape renders
// under the same mutex. A scrape therefore sees figures up to about 1.1 s old (a worker hands over once a
// second, the coordinator drains every 100 ms). The results' HdrHistograms stay the source of truth:
// the Prometheus buckets here are fixed (live_latency_bounds_s) and only as exact as HdrHistogram's 3
// significant digits at their edges.
//
// Labels are bounded: a step is labelled only with a name the script declared (a request's params.name,
// a group); unnamed requests ("METHOD /path", which may hold ids) share step="(unnamed)", and past
// max_live_steps distinct names the rest share step="(other)". Custom metrics are named by the script's
// declarations (stampede_custom_<name>...), without tags.
//
// Thread-safety: live_metrics is safe to use from any thread; live_metrics_endpoint's server has one
// thread of its own.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/host_port.h"
#include "loadgen/metrics.h"
#include "loadgen/run.h"

namespace stampede::http {
class server;
}
namespace stampede::prometheus {
class text_writer;
}

namespace stampede::loadgen {

struct scenario_options;

// Upper bounds of the latency histograms' buckets, in seconds (then +Inf).
inline constexpr std::array<double, 16> live_latency_bounds_s = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60};
// Upper bounds of the buckets of a custom trend that is not a time (metrics.trend(name) without isTime).
inline constexpr std::array<double, 19> live_trend_bounds = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 1e5, 2e5, 5e5, 1e6};
inline constexpr size_t max_live_steps = 256;  // distinct step and group labels; beyond: "(other)"

class live_metrics {
 public:
  // Names the scenarios (the `scenario` label: scenario slot i + 1 is scenarios[i]).
  void set_scenarios(const std::vector<scenario_options>& scenarios);
  // One worker's second (coordinator thread).
  void add(const interval_snapshot& snapshot);
  // The script's metrics.* samples of one worker's second (custom_metrics.h; without sub-metrics).
  void add_custom(const custom_metrics& second);
  // The exposition (Prometheus text format 0.0.4).
  std::string render() const;

 private:
  struct histogram {
    std::vector<uint64_t> buckets;  // per bound, not cumulative
    uint64_t count = 0;
    double sum = 0;
    // `recorded`'s values divided by `unit` (1e6: us to s) into the buckets of `bounds`.
    void add(const hdr_histogram& recorded, double unit, std::span<const double> bounds);
  };
  struct step_series {
    histogram latency;
    // By scenario slot, then status class (0: no response, 1..5: 1xx..5xx).
    std::vector<std::array<uint64_t, 6>> requests;
  };
  std::string_view label_of(const interval_snapshot::step& step);
  void render_custom(prometheus::text_writer& out) const;

  mutable std::mutex mutex_;
  std::vector<std::string> scenario_names_;
  std::map<std::string, step_series, std::less<>> request_steps_;  // by step label
  std::map<std::string, histogram, std::less<>> groups_;           // by group label
  size_t labels_ = 0;                                              // distinct declared names seen
  std::array<uint64_t, error_kind_count> errors_by_kind_{};
  uint64_t iterations_ = 0;
  uint64_t dropped_iterations_ = 0;
  uint64_t checks_passed_ = 0;
  uint64_t checks_failed_ = 0;
  struct worker_state {
    int64_t vus = 0;
    int64_t vus_max = 0;
    double lag_max_s = 0;  // in its last second
    int64_t second = -1;   // its last second handed over
  };
  std::vector<worker_state> workers_;
  custom_metrics custom_;
};

// live_metrics served over HTTP at `address` (a port of 0 picks a free one) from construction to
// destruction: one thread, at most 16 connections, 8 KiB of request head, 5 s to send it, GET and HEAD
// of /metrics only. Throws std::system_error when it cannot listen (a busy port, an address not on this
// host).
class live_metrics_endpoint {
 public:
  explicit live_metrics_endpoint(const host_port& address);
  ~live_metrics_endpoint();
  live_metrics_endpoint(const live_metrics_endpoint&) = delete;
  live_metrics_endpoint& operator=(const live_metrics_endpoint&) = delete;

  live_metrics& metrics() noexcept { return *metrics_; }
  uint16_t port() const noexcept;
  std::string url() const;  // "http://127.0.0.1:PORT/metrics"

 private:
  host_port address_;
  std::unique_ptr<live_metrics> metrics_;
  std::unique_ptr<http::server> server_;
};

// The endpoint of request.metrics_listen, announced on stderr (unless quiet) and to
// request.metrics_listening; nullptr after printing why it cannot listen (the caller exits 2).
std::unique_ptr<live_metrics_endpoint> open_live_metrics(const run_request& request);

// --metrics-listen's value: an IP literal and a port ("127.0.0.1:9464", "[::1]:0"). Throws
// std::invalid_argument naming the flag.
host_port parse_metrics_listen(std::string_view text);

}  // namespace stampede::loadgen
