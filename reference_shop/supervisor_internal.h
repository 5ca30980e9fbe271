// The supervisor behind `stampede shop` (supervisor.h), shared by its files:
//   supervisor.cpp           the command: options, signals, start, watch loop (run), exit code
//   supervisor_start.cpp     starting the tiers: data tier (PostgreSQL, Patroni + its HAProxy), cache tier
//                            (Redis), payment emulator, nodes (with the order queue's workers), HAProxy; respawns
//   supervisor_topology.cpp  the topology JSON
//   supervisor_shutdown.cpp  the shutdown path
//   supervisor_restarts.cpp  restarts asked for by drills' node faults (DIR/restart)
//   supervisor_observe.cpp   --observe: Prometheus, Alertmanager (restarted when they die) and the alert
//                            webhook receiver
//   supervisor_autoscale.cpp --autoscale: the elastic pool of nodes (supervisor_autoscale.h)
// Concurrency model: one thread; SIGINT, SIGTERM and SIGCHLD are blocked and taken with sigtimedwait, so
// child exits and stop requests are handled in order in normal code. With --observe the alert webhook's
// server adds a thread (created with those signals blocked) that touches nothing but its own log file.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reference_shop/alert_webhook.h"
#include "reference_shop/cache_tier.h"
#include "reference_shop/child_process.h"
#include "reference_shop/data_tier.h"
#include "reference_shop/haproxy_config.h"
#include "reference_shop/observability.h"
#include "reference_shop/passwords.h"
#include "reference_shop/shop_options.h"
#include "reference_shop/supervisor_autoscale.h"

namespace stampede::shop::supervision {

using steady = std::chrono::steady_clock;

inline constexpr int haproxy_max_failed_starts = 5;
// --observe: Prometheus or Alertmanager restarted at most this many times in a row (one that ran for
// observe_restart_reset starts a new count); then the shop goes on unobserved.
inline constexpr int observe_max_restarts = 5;
inline constexpr std::chrono::seconds observe_restart_reset{60};

struct child {
  // node | payment_emulator | haproxy | haproxy_db | database | cache | prometheus | alertmanager | exporter
  // | retired (a node the autoscaler removed: stopped with the others, never respawned, not in the topology)
  std::string role;
  std::string name;
  pid_t pid = -1;
  uint16_t port = 0;
  bool alive = false;
};

class supervisor {
 public:
  supervisor(const arg_list& args, shop_options options)
      : args_(args), o_(std::move(options)), exe_(self_exe()), admin_token_(random_token()),
        config_path_((std::filesystem::path{o_.data} / "haproxy.cfg").string()),
        data_(data_tier_options{o_.db_kind, o_.data, o_.nodes, static_cast<int>(o_.db_pool), o_.pg_bin, o_.ha,
                                static_cast<int>(o_.replicas), o_.sync_replication, o_.replica,
                                o_.data_links.db_port, o_.wal_archive, o_.member_links,
                                static_cast<int>(o_.shards), o_.txn, o_.data_links.db_shard_ports}),
        cache_(o_.cache) {}
  ~supervisor() { shutdown(); }
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  // Seeds, starts the emulator, the nodes and HAProxy, writes the topology and prints the entry URL.
  void start();
  // Until SIGINT/SIGTERM: reports deaths, respawns nodes (--respawn-ms), HAProxy, Prometheus and
  // Alertmanager. Returns the exit code.
  int run(const sigset_t& signals);
  void shutdown();

 private:
  friend class elastic_pool;  // --autoscale adds and removes nodes (supervisor_autoscale.h)

  // Starting (supervisor_start.cpp), in start()'s order.
  void start_data_tier();
  void start_cache_tier();
  void start_payment_emulator();
  void start_nodes();
  void start_edge();           // HAProxy in front of the nodes; returns once it answers through to a node
  void check_observability();  // --observe (supervisor_observe.cpp): the binaries exist
  void start_observability();
  void start_data_exporters(std::vector<scrape_target>& targets);
  void watch_observability();  // one step of run(): Prometheus and Alertmanager back when they die
  std::vector<scrape_target> node_scrape_targets() const;
  void update_node_targets();  // --observe: Prometheus's file of node targets follows the pool
  void announce();  // topology, entry URL, a line for the operator
  child& start_with_pipe(child c, std::vector<std::string> argv);
  std::vector<std::string> node_argv(int64_t index, uint16_t port) const;
  // What a node finds in its environment: the data tier's and the cache tier's settings (passwords stay
  // off argv) and the admin token.
  std::vector<std::pair<std::string, std::string>> node_environment() const;
  void check_haproxy_binary() const;
  void start_haproxy();
  void start_db_haproxy();
  bool restart_haproxy();
  void respawn_node(child& c);  // starts it; watch_respawns() sees it ready
  void watch_respawns();
  void respawn_cache();

  // Watching (supervisor.cpp): one step of run() each.
  void watch_database();
  bool watch_haproxy();  // false: HAProxy could not be restarted, the shop stops
  void respawn_nodes();

  void write_topology();                               // supervisor_topology.cpp
  boost::json::object observability_topology() const;  // supervisor_observe.cpp

  // Restarts asked for by drills' node faults (supervisor_restarts.cpp).
  std::filesystem::path restart_dir() const;
  void prepare_restart_requests();
  std::string restart_command(const std::string& name) const;  // the fault's commands.restart
  void serve_restart_requests();                               // one step of run()
  pid_t restart_now(const std::string& name);
  std::string db_haproxy_config_path() const;

  int reap();
  child* find(std::string_view role);
  template <class Pred>
  void stop_children(Pred selected);  // supervisor_shutdown.cpp

  const arg_list& args_;
  shop_options o_;
  const std::string exe_, admin_token_, config_path_;
  data_tier data_;
  std::string payment_address_, entry_;
  haproxy_config hc_;
  std::vector<child> children_;
  cache_tier cache_;                               // after children_: its server's process is one of them
  std::optional<observability_launcher> observe_;  // --observe
  std::unique_ptr<alert_webhook> webhook_;         // --observe: Alertmanager's receiver, in this process
  std::unique_ptr<elastic_pool> elastic_;          // --autoscale rule|predictive
  steady::time_point cache_due_ = steady::time_point::max();  // when to start a dead Redis again
  // run()'s state: nodes to bring back (--respawn-ms): name -> when; HAProxy's restart.
  std::map<std::string, steady::time_point> respawn_due_;
  struct pending_ready {  // a respawned node until it reports its port
    int fd = -1;          // the read end of its ready pipe (non-blocking, owned)
    steady::time_point deadline;
    std::string text;
    pid_t previous_pid = -1;  // the topology's until it is ready
  };
  std::map<std::string, pending_ready> respawning_;
  std::optional<steady::time_point> haproxy_due_;
  int haproxy_failures_ = 0;  // failed restarts in a row
  struct observe_restart {    // --observe: per process (role prometheus | alertmanager)
    int count = 0;            // restarts in a row
    int total = 0;
    std::optional<steady::time_point> due;
    steady::time_point started = steady::now();
    bool given_up = false;
  };
  std::map<std::string, observe_restart, std::less<>> observe_restarts_;
  steady::time_point roles_checked_ = steady::now();
  bool stopping_ = false;
  bool shut_down_ = false;
};

}  // namespace stampede::shop::supervision
