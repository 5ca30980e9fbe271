// A PostgreSQL 15 cluster managed by Patroni with etcd as its DCS (`stampede shop --db postgres --ha
// patroni`): one etcd member and N+1 Patroni members on 127.0.0.1, each with its own directory under `dir`,
// free ports, bootstrapped by Patroni (initdb on the first member that takes the leader key, pg_basebackup on
// the others).
//
// Processes: etcd runs as ourselves; Patroni runs as the `postgres` user when we are root (PostgreSQL refuses
// root), exec'd as `/usr/bin/python3 /usr/bin/patroni member.yml` with PR_SET_PDEATHSIG=SIGTERM (a dying
// supervisor makes Patroni stop its PostgreSQL). Patroni starts the postmaster detached, so the postmaster's
// pid is read from postmaster.pid and tracked separately: stop() ends Patroni (SIGTERM, which stops its
// PostgreSQL), then any postmaster still alive (SIGQUIT, then SIGKILL), then etcd. A postmaster orphaned by a
// killed Patroni is re-parented to the nearest subreaper; the supervisor makes itself one, so it reaps them.
//
// Layout of `dir`: etcd/ (data, etcd.log), pgN/ (member.yml, patroni.log, data/, pgpass, the unix socket),
// owned by the server's user, mode 0700. superuser.password, replication.password: random, made per start
// (a fresh cluster each time: the directories are wiped on start).
//
// Timing (ttl 10, loop_wait 1, retry_timeout 4): the leader refreshes its key every second and the key
// expires 10 s after the last refresh, so a dead leader is replaced ~10-11 s after it stopped; Patroni's rule
// loop_wait + 2 x retry_timeout <= ttl holds (1 + 8 <= 10).
//
// Thread-safety: one owner thread (the supervisor's, or a test's).
#pragma once

#include <sys/types.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "reference_shop/child_process.h"

namespace stampede::shop {

struct patroni_cluster_options {
  std::filesystem::path dir;  // created if missing (wiped of a previous cluster)
  int replicas = 2;           // members = replicas + 1
  bool synchronous = false;   // Patroni's synchronous_mode
  int max_connections = 100;
  std::string pg_bin_dir = "/usr/lib/postgresql/15/bin";
  std::string etcd_bin = "/usr/bin/etcd";
  std::string patroni_bin = "/usr/bin/patroni";
  std::string python = "/usr/bin/python3";  // Debian's interpreter: it sees python3-etcd and psycopg2
  int ttl = 10, loop_wait = 1, retry_timeout = 4;
  bool fast_initdb = false;        // initdb --no-sync (throwaway test clusters)
  std::vector<uint16_t> pg_ports;  // members' PostgreSQL ports in order (empty: free ones)
  // Member name -> the address the other members reach it at for replication (its connect_address: a fault
  // proxy in front of its port). Replicas stream from, clone from and rewind against the leader's
  // connect_address, so a proxy there sits on the leader's outgoing replication link. (Per replica is not
  // possible: Patroni 3.0 drops host/port from a member's own authentication.replication.)
  std::map<std::string, std::string> replication_via;
  // Member name -> the address its Patroni reaches etcd at (a fault proxy in front of etcd's client port;
  // Patroni then takes it as a proxy and does not discover etcd's own address), and the address at which the
  // other members reach its REST API (restapi.connect_address). member_links.h.
  std::map<std::string, std::string> dcs_via;
  uint16_t etcd_client_port = 0;     // 0: a free one
  std::vector<uint16_t> rest_ports;  // members' REST ports in order (empty: free ones)
  std::map<std::string, std::string> rest_via;
  // --shards with --ha patroni: one cluster per shard. Patroni's scope (the cluster's name in etcd), and
  // another cluster's etcd client port to share (0: start an etcd of our own; sharing: none started, no
  // `etcd` fault target). `fault_prefix` names this cluster's fault targets and restart requests
  // ("shard1-" + pg1, primary, replica1).
  std::string scope = "stampede-shop";
  uint16_t shared_etcd_port = 0;
  std::string fault_prefix;
  // Every member's (Patroni sets it cluster-wide, from the DCS: a replica needs at least the primary's).
  int max_prepared_transactions = 64;
};

struct patroni_member {
  std::string name;  // pg1, pg2, ...
  uint16_t pg_port = 0;
  uint16_t rest_port = 0;
  pid_t patroni_pid = -1;
  pid_t postmaster_pid = -1;  // -1 until PostgreSQL runs
  std::string role;           // leader | replica | sync_standby | unknown (last seen)
  std::filesystem::path dir;
  std::string rest_url() const { return "http://127.0.0.1:" + std::to_string(rest_port); }
};

class patroni_cluster {
 public:
  explicit patroni_cluster(patroni_cluster_options options);
  ~patroni_cluster();  // stop()
  patroni_cluster(const patroni_cluster&) = delete;
  patroni_cluster& operator=(const patroni_cluster&) = delete;

  // Checks binaries, modules and the user (one-line std::runtime_error naming the Debian package), starts
  // etcd and the members, and waits until one member leads and every replica streams from it (and, in
  // synchronous mode, one is the synchronous standby). std::runtime_error with the logs' ends at `timeout`.
  void start(std::chrono::seconds timeout = std::chrono::seconds{120});
  // Asks the members' REST APIs who is what now, refreshes roles and postmaster pids. Returns the leader's
  // index, or nullopt when none answers as leader.
  std::optional<size_t> refresh();
  // A login role with this password and a database it owns, created on the leader (replicated).
  void ensure_database(const std::string& role, const std::string& password, const std::string& database);
  // Patroni (SIGTERM, which stops PostgreSQL), leftover postmasters (SIGQUIT, SIGKILL), then etcd; bounded.
  void stop();

  const std::vector<patroni_member>& members() const noexcept { return members_; }
  pid_t etcd_pid() const noexcept { return etcd_pid_; }
  uint16_t etcd_client_port() const noexcept { return etcd_client_port_; }
  std::string superuser_conninfo(uint16_t port, const std::string& database = "postgres") const;
  // The topology's members and etcd: {"etcd": {...}, "members": [...], "sync": bool}.
  boost::json::object topology() const;
  // Fault targets for drills (loadgen/topology.h nodes with shell commands, all run through
  // DIR/patroni/signal_member.py ACTION TARGET): each member by name, `primary` (the member that leads when
  // the fault is injected, asked of the REST APIs), `replica1` (the first member, by name, that answers as a
  // replica then) with kill, terminate, pause, resume and restart; and `etcd` (its pid). kill: SIGKILL to its
  // Patroni and postmaster; pause: SIGSTOP to the postmaster, every process it forked (backends, WAL
  // sender/receiver, checkpointer...) and Patroni, as a frozen machine; resume wakes the same processes
  // (remembered per target, so after a failover it wakes whom it paused); restart: the supervisor kills the
  // member and starts its Patroni again (restart_member, through `restart_requests`), and the command
  // returns once the member's REST API answers as running again (bounded). With a `fault_prefix` every name
  // but etcd's carries it ("shard1-primary"), and so do the restart requests ("shard1-pg2").
  boost::json::array fault_nodes(const std::filesystem::path& restart_requests) const;
  // SIGKILLs the member's Patroni and postmaster (SIGCONT too: a paused member), waits until they are gone
  // (bounded), then starts its Patroni again on the same configuration and data. Throws
  // std::invalid_argument for an unknown name, std::runtime_error when they do not go within 10 s.
  void restart_member(const std::string& name);
  // True for pids this cluster started or tracks (the supervisor reaps them as its own).
  bool owns(pid_t pid) const;
  // Marks a reaped pid as gone, so stop() does not signal a recycled pid.
  void forget(pid_t pid);

 private:
  void check_environment();
  void start_etcd();
  void write_member_config(const patroni_member& m) const;
  pid_t spawn_as_server_user(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                             const std::filesystem::path& log) const;
  std::string logs_tail() const;
  void write_signal_script() const;
  pid_t start_member(patroni_member& m);

  patroni_cluster_options options_;
  server_account account_{};
  std::string superuser_password_, replication_password_;
  std::vector<patroni_member> members_;
  pid_t etcd_pid_ = -1;
  uint16_t etcd_client_port_ = 0, etcd_peer_port_ = 0;
};

}  // namespace stampede::shop
