// `stampede drill`: a game day, in one process. On the reference shop (default):
//   1. fault proxies on every link (chaos::proxy_server, in this process): "edge" (clients -> HAProxy),
//      "haproxy_nodeI" (HAProxy -> node I), "payment" (nodes -> payment emulator);
//   2. a fresh shop (`stampede shop`, own data directory) wired through them;
//   3. the scenario with its chaos timeline (loadgen::execute_run; faults may target the links above and
//      the shop's processes: nodeI, haproxy, payment_emulator);
//   4. heal everything, wait until the order queue is drained (or a bound passed), the scenario's
//      quiesce() if it has one, verify(history);
//   5. recovery figures per fault, every report format into the output directory, stop the shop.
// On the user's own system (`--target URL --topology FILE`, target_drill.cpp): the same pipeline with the
// links and nodes of the topology (loadgen/topology.h): "edge" in front of the target, a proxy per
// declared link, node faults by pid or by the node's commands; after the heal, each node's health
// command until it passes, then quiesce() and verify().
// Exit code: the run's (0, 98 invariant failed, 99 threshold crossed, 104, 105 interrupted, 107, ...), 1
// when the shop cannot be started or a link cannot listen, 2 for a bad command line.
//
// Thread-safety: run_drill is called once per process (it owns child processes and signal masks).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/host_port.h"

namespace stampede::drill {

inline constexpr int exit_environment = 1;

struct drill_request {
  std::string scenario;
  int nodes = 3;
  std::string out_dir = "drill-results";
  uint64_t seed = 1;
  int threads = 1;
  std::map<std::string, std::string> env;         // -e KEY=VALUE for the scenario
  std::vector<std::string> shop_args;             // extra `stampede shop` flags (also from `--@shop` lines)
  std::chrono::seconds quiet_timeout{30};          // bound of the wait for a drained queue
  std::string stampede_binary;                     // runs `shop`; default: this executable
  bool keep_data = false;                          // keep the shop's data directory
  bool unsafe_lua = false;                         // the scenario gets Lua's whole standard library (both modes)
  bool quiet = false;
  bool observe = false;  // reference shop only: `stampede shop --observe`, alerts per fault (drill/alerts.h)
  std::optional<host_port> metrics_listen;  // the generator's live metrics (loadgen/live_metrics.h)
  std::optional<host_port> dashboard_listen;  // the live dashboard (dashboard/server.h)
  // The user's own system instead of a fresh reference shop: its URL (default: the topology's entry_url)
  // and a topology file naming its links and nodes (optional).
  std::string target;
  std::string topology_path;
  bool own_system() const { return !target.empty() || !topology_path.empty(); }
};

// Reads `--@shop FLAGS...` directive lines of a scenario (the shop flags it needs, e.g.
// `--@shop --max-attempts 3`). Throws std::runtime_error when the file cannot be read.
std::vector<std::string> scenario_shop_directives(const std::string& scenario_path);
// The words of every line of a scenario that starts with `directive` ("--@shop", "--@autoscale"); `present`
// (optional) tells whether there was such a line, words or not.
std::vector<std::string> scenario_directive_words(const std::string& scenario_path,
                                                  const std::string& directive, bool* present = nullptr);

// The folder of the shipped scenarios (for require("lib.checkers")): $STAMPEDE_SCENARIOS, else
// scenarios/ next to or above the executable (build trees), else ./scenarios. Empty if none exists.
std::string find_scenarios_dir();

// Runs the drill; returns the exit code (see above).
int run_drill(const drill_request& request);
// The own-system drill (request.own_system()); run_drill calls it.
int run_target_drill(const drill_request& request);

}  // namespace stampede::drill
