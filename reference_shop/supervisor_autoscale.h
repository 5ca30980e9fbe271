// `stampede shop --autoscale`: the supervisor's elastic pool of nodes (supervisor_autoscale.cpp). Every
// step of the watch loop (<= 100 ms) it reads HAProxy's `show stat` on the runtime API (servers' state,
// requests in flight and queued, requests so far); every tick it adds each node's /metrics histogram (p99),
// asks the decision engine (autoscaler.h) and acts. The nodes' /metrics reads share one bound per tick
// (metrics_budget), so a node that does not answer delays respawns, HAProxy restarts and stop signals by
// at most that:
//   scale out  a node started with the supervisor's own node command line (node<N+1>, node<N+2>, ...; a name
//              is never reused); the loop does not wait for it: each step reads its ready pipe without
//              blocking (launching, up to 30 s), and once it reported its port it is added to HAProxy with
//              `add server` + `enable health` + `enable server` (the stats socket is `level admin`); ready
//              once HAProxy's checks have it UP. Until its port is known its child's role is node_starting
//              (not in the topology, never respawned; one that dies or stays silent is dropped).
//   scale in   `set server ... state drain` (no new requests; its in-flight ones finish), then once its
//              sessions reach 0 (or --autoscale-drain-ms passed) `state maint`, SIGTERM to the node,
//              `del server` (retried until the node's connections are gone); the node is reaped as any child.
// HAProxy's configuration file follows the pool, so a restarted HAProxy starts with the current nodes. An
// added node that dies is respawned with --respawn-ms, else dropped from the pool (and HAProxy).
// Events go to DIR/autoscale.jsonl (one JSON object a line; the contract in docs/SHOP.md).
#pragma once

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "reference_shop/autoscale_metrics.h"
#include "reference_shop/autoscale_options.h"
#include "reference_shop/autoscaler.h"

namespace stampede::shop::supervision {

class supervisor;

class elastic_pool {
 public:
  elastic_pool(supervisor& s, const autoscale_options& options, const std::string& data_dir);
  ~elastic_pool();
  elastic_pool(const elastic_pool&) = delete;
  elastic_pool& operator=(const elastic_pool&) = delete;
  void step();                           // one step of the watch loop
  boost::json::object topology() const;  // the topology's "autoscale" object

 private:
  using steady = std::chrono::steady_clock;
  enum class phase { launching, starting, ready, draining, removing };
  struct member {
    std::string name;
    bool initial = false;
    phase state = phase::ready;
    steady::time_point since;           // of the current phase
    bool served = false;                // node_first_request written
    std::string removal = "scaled_in";  // or "died": node_removed's reason
    int ready_fd = -1;                  // launching: the read end of its ready pipe (owned, closed after)
    std::string ready_text{};           // launching: what it reported so far ("PORT\n")
  };

  void poll();  // show stat: readiness, first requests, the tick's in-flight average
  void tick();
  void act(const autoscale::decision& d);
  void add_node();        // launches it (no wait)
  void check_launches();  // launching nodes that reported their port join HAProxy
  void join_haproxy(member& m, uint16_t port, pid_t pid);
  void fail_launch(member& m, const std::string& why);
  void start_draining(member& m);
  void advance_drains();
  void drop_dead_nodes();
  std::optional<std::string> runtime(const std::string& command) const;
  void write_haproxy_config() const;
  void pool_changed();
  bool node_alive(const std::string& name) const;
  void event(boost::json::object fields);

  supervisor& s_;
  autoscale_options o_;
  std::string log_path_;
  std::ofstream log_;
  autoscale::engine engine_;
  std::vector<member> pool_;
  int64_t next_index_ = 0;
  steady::time_point origin_ = steady::now(), next_tick_, next_poll_;
  std::optional<autoscale::backend_stat> stat_;  // the last show stat
  double in_flight_sum_ = 0;
  int in_flight_polls_ = 0;
  std::optional<int64_t> last_total_;
  steady::time_point last_total_at_;
  std::map<std::string, autoscale::duration_buckets> last_buckets_;  // per node
};

}  // namespace stampede::shop::supervision
