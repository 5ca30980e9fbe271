// The system's side of a drill on the reference shop, without Prometheus: a thread that reads, once a
// second, HAProxy's per-server stats (`show stat` on the runtime API) and every shop node's /metrics, each
// read bounded by a deadline, and a pure function that turns those readings into results.drill.system
// (docs/RESULTS.md): per server and second the requests, 5xx and sessions and the status, the health
// changes, and per second the order queue, dead letters, cache and database figures. A socket or node that
// does not answer, or a server missing from a reading, is a gap in the rows, never an error.
// Internal to stampede::drill.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

#include "drill/system_parse.h"

namespace stampede::drill {

// What one node's /metrics said (the figures the section keeps).
struct node_reading {
  std::string name;
  bool answered = false;
  std::optional<double> queue_depth, dead_letters;  // gauges of the shared database
  std::optional<double> cache_hits, cache_misses;   // counters (hit + negative_hit; miss)
  std::optional<double> db_running, db_waiting;     // gauges: requests that may wait on a row lock
  std::optional<double> db_shed;                    // counter: those refused before running
};

// One round of reads.
struct system_reading {
  int64_t unix_ms = 0;
  std::optional<std::vector<haproxy_server_stat>> haproxy;  // nullopt: the runtime API did not answer
  std::vector<node_reading> nodes;
};

// The figures of a node's /metrics text (answered = true).
node_reading read_node_metrics(std::string name, std::string_view metrics_text);

// cur - prev for a counter, or cur when the counter went back (its process restarted and counts from 0):
// never negative.
int64_t counter_delta(int64_t prev, int64_t cur);
double counter_delta(double prev, double cur);

// results.drill.system from the readings (in time order; the first is the baseline of the counters).
// Times are seconds since the run's start (start_unix_ms); rows before it are left out.
boost::json::object build_system_section(const std::vector<system_reading>& readings, int64_t start_unix_ms,
                                         std::chrono::milliseconds interval,
                                         std::chrono::milliseconds deadline);

struct sampler_targets {
  uint16_t haproxy_runtime_port = 0;  // 0: no HAProxy reads
  struct node {
    std::string name;
    uint16_t port = 0;  // its own port on 127.0.0.1 (not through a fault proxy)
  };
  std::vector<node> nodes;
};

// The targets of a shop topology (docs/SHOP.md): haproxy.runtime_api and nodes[].port. Throws
// std::exception naming what is missing or malformed.
sampler_targets sampler_targets_of(const boost::json::object& topology);

// Reads the targets every `interval` on its own thread from construction until stop(): the load's threads
// never wait on it. A read that passes `deadline` is a gap.
class system_sampler {
 public:
  system_sampler(sampler_targets targets, std::chrono::milliseconds interval = std::chrono::seconds{1},
                 std::chrono::milliseconds deadline = std::chrono::milliseconds{300});
  ~system_sampler();
  system_sampler(const system_sampler&) = delete;
  system_sampler& operator=(const system_sampler&) = delete;

  // Ends the reads (after one last round) and returns them all; later calls return nothing.
  std::vector<system_reading> stop();
  std::chrono::milliseconds interval() const { return interval_; }
  std::chrono::milliseconds deadline() const { return deadline_; }
  const sampler_targets& targets() const { return targets_; }

 private:
  void loop();
  system_reading read_once() const;

  sampler_targets targets_;
  std::chrono::milliseconds interval_, deadline_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<system_reading> readings_;  // under mutex_
  std::thread thread_;
};

// The drill summary's lines of results.drill.system ("    system: node2 UP -> DOWN at 6.9s (L4CON); requests
// per server: node1 735, ..."), or empty without the section.
std::string system_summary(const boost::json::value& results);

// Stops the sampler and writes results.drill.system (times relative to results.meta.start_unix_ms).
void add_system_section(boost::json::value& results, system_sampler& sampler);

}  // namespace stampede::drill
