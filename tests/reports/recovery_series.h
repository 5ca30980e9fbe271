// Recorded-style time series for the recovery tests: results documents built second by second from
// seeded request streams, the way the load generator records them (a request counts in the second it
// ended; per-second rows and interval histograms; scenarios with their planned load; chaos records).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace stampede::reports::testing {

struct series_second {
  std::vector<int64_t> latencies_us;      // requests that ended in this second
  std::map<std::string, int64_t> errors;  // error kind -> count (each also in latencies_us)
  int64_t vus = 10;
  int64_t dropped = 0;
};

struct series_fault {
  int64_t id = 1;
  std::string kind = "network";  // network | node
  std::string fault = "latency";
  std::string target = "target";
  std::string label;
  double start_s = 0;
  std::optional<double> end_s;
  std::optional<int64_t> injections = 100;
  bool back_tracked = false;  // writes back_s (kill/terminate/restart)
  std::optional<double> back_s;
  int http_status = 0;  // http_abort
  std::string error;    // the injection failed
};

struct series_run {
  double duration_s = 30;
  std::vector<series_second> seconds;  // seconds[t]
  boost::json::array scenarios;        // results scenarios[] (with load curves)
  std::vector<series_fault> faults;
  boost::json::value recovery_options = nullptr;
  boost::json::value drill = nullptr;  // results "drill" (links)
};

// A constant-vus scenario of `vus` VUs over [start, end).
boost::json::object closed_scenario(const std::string& name, double start, double end, double vus);
// A constant-arrival-rate scenario of `rate`/s over [start, end).
boost::json::object open_scenario(const std::string& name, double start, double end, double rate);
// A per-vu-iterations scenario (ends when done) of `vus` VUs from `start`, at the latest at `latest_end`.
boost::json::object spike_scenario(const std::string& name, double start, double latest_end, double vus);

// Seeded request streams. Arrivals are Poisson at `rate` per second (or exactly periodic when `periodic`,
// as an open model schedules them); latency is lognormal with median `median_ms`, sigma 0.5, plus `add_ms`
// for requests sent in [from_s, to_s). A request ends at send + latency and counts in that second.
class series_builder {
 public:
  explicit series_builder(uint64_t seed, double duration_s);
  series_builder& traffic(double from_s, double to_s, double rate, double median_ms, double add_ms = 0,
                          bool periodic = false);
  // `count` requests in second t fail with `kind` (fast, 1 ms).
  series_builder& errors(int64_t t, const std::string& kind, int64_t count);
  series_builder& vus(int64_t from_t, int64_t to_t, int64_t vus);
  series_builder& dropped(int64_t from_t, int64_t to_t, int64_t per_second);
  series_run& run() { return run_; }

 private:
  std::mt19937_64 rng_;
  series_run run_;
};

boost::json::value build_series_results(const series_run& run);

}  // namespace stampede::reports::testing
