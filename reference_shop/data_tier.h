// The shop's database as the supervisor runs it (`stampede shop --db sqlite|postgres`): the SQLite file
// DIR/shop.db, or one PostgreSQL 15 server in DIR/postgres (postgres_server.h) with a `shop` role (a
// password made for each run) owning a `shop` database. The supervisor starts it first, migrates and seeds
// once through it, hands the nodes their flags and environment, and writes its topology entry.
//
// Thread-safety: one owner thread (the supervisor's).
#pragma once

#include <sys/types.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "reference_shop/haproxy_config.h"
#include "reference_shop/member_links.h"
#include "reference_shop/passwords.h"
#include "reference_shop/patroni_cluster.h"
#include "reference_shop/postgres_server.h"
#include "reference_shop/replica_reads.h"

namespace stampede::shop {

struct data_tier_options {
  std::string kind = "sqlite";  // sqlite | postgres
  std::filesystem::path data;   // the shop's data directory
  int64_t nodes = 3;
  int pool_size = 8;  // PostgreSQL sessions per node
  std::string pg_bin_dir = default_postgres_bin_dir;
  // --ha patroni: a Patroni cluster (patroni_cluster.h) in DIR/patroni instead of one server; the nodes
  // reach its current primary through a database HAProxy on `frontend_port` (started by the supervisor).
  std::string ha = "none";  // none | patroni
  int replicas = 2;
  bool synchronous = false;
  replica_tier_options replica;  // reads from replicas, fixed ports and replication links (replica_reads.h)
  // The port nodes reach the database on (--db-port, for a fault proxy in front): the server's, or the
  // database HAProxy's primary frontend. 0: a free one.
  uint16_t db_port = 0;
  // --wal-archive on: continuous WAL archiving of the one server into DIR/postgres/wal_archive (--ha none).
  bool wal_archive = false;
  member_link_options member_links;  // the members' DCS, client and REST links through proxies
  // --shards K >= 2: K servers, DIR/postgres (shard 0) and DIR/postgres-shardI, with
  // max_prepared_transactions for two-phase commit (shards.h); --txn for the nodes. With --ha patroni, K
  // Patroni clusters instead: DIR/patroni (shard 0, which runs the one etcd) and DIR/patroni-shardI (scope
  // stampede-shop-shardI in the same etcd), each reached through its own primary frontend of the database
  // HAProxy; max_prepared_transactions on every member.
  int shards = 1;
  std::string txn = "2pc";
  std::vector<uint16_t> shard_ports;  // --db-shard-ports: shards 1..K-1's ports (empty: free ones)
};

class data_tier {
 public:
  explicit data_tier(data_tier_options options);
  ~data_tier();

  // PostgreSQL: initdb on first use, the server (sized for nodes x pool_size sessions), the role and the
  // database. SQLite: nothing. Throws std::runtime_error with one line (missing binaries name the package).
  void start();
  // Migrates, and seeds when never seeded or `reseed` — once, before any node starts.
  void prepare(int64_t scale, bool reseed, kdf_cost kdf);
  // Node flags (`--db FILE`, or `--db-url URL --db-pool N`) and environment (PGPASSWORD).
  std::vector<std::string> node_args() const;
  std::vector<std::pair<std::string, std::string>> node_env() const;
  // The topology's `database` entry: {kind, path} or {kind, role, pid, port, data_dir, url, log}, plus
  // `wal_archive {dir, superuser_url, bin_dir}` with --wal-archive on (what pg_basebackup and a restore
  // need).
  boost::json::object topology() const;
  std::string description() const;  // for the supervisor's log line
  // The PostgreSQL server's pid (-1 for SQLite). The supervisor watches it with its other children and
  // stops it last; release() then tells this object it is gone.
  pid_t server_pid() const noexcept { return server_ ? server_->pid() : -1; }
  uint16_t server_port() const noexcept { return server_ ? server_->port() : 0; }
  void release() noexcept;
  // --shards: the servers of shards 1..K-1 (pid, port), watched and stopped by the supervisor as shard 0's.
  std::vector<std::pair<pid_t, uint16_t>> other_shard_servers() const;
  // --shards: each shard's server as a fault target (the topology's `database_nodes`: shard0..shardK-1),
  // with pause/resume commands that stop the postmaster and every backend it forked (SIGSTOP on the
  // postmaster alone would leave the open sessions answering). Empty without shards.
  boost::json::array shard_fault_nodes() const;

  // --ha patroni (nullptr otherwise): shard 0's cluster. The supervisor starts the database HAProxy from
  // db_haproxy_config() before any node, and stops the clusters last with stop_cluster().
  patroni_cluster* cluster() noexcept { return cluster_.get(); }
  // Every Patroni cluster, shard 0's first (--shards: one per shard); empty without --ha patroni.
  std::vector<patroni_cluster*> clusters() noexcept;
  // The cluster whose fault targets carry this prefix of `name` ("shard1-pg2" -> shard 1's, name "pg2"),
  // or shard 0's for a bare "pgN" without --shards; nullptr when none.
  std::pair<patroni_cluster*, std::string> cluster_of(const std::string& name) noexcept;
  haproxy_db_config db_haproxy_config() const;
  // Refreshes the members' roles and postmaster pids; true if any changed (the topology is rewritten).
  bool refresh_cluster();
  void stop_cluster();

 private:
  std::string shop_url(const std::string& password) const;
  std::vector<std::string> shard_urls(const std::string& password) const;  // shard 0 first
  boost::json::array shards_topology() const;                              // the topology's database.shards
  void add_shards(boost::json::object& out) const;                         // shards, partition, txn
  std::string replicas_url(const std::string& password) const;
  data_tier_options options_;
  std::unique_ptr<postgres_server> server_;                       // shard 0 with --shards
  std::vector<std::unique_ptr<postgres_server>> shard_servers_;   // shards 1..K-1
  std::unique_ptr<patroni_cluster> cluster_;                      // shard 0 with --shards
  std::vector<std::unique_ptr<patroni_cluster>> shard_clusters_;  // shards 1..K-1 with --ha patroni
  void start_clusters();
  uint16_t primary_port_ = 0, replica_port_ = 0;  // the database HAProxy's frontends
  std::vector<uint16_t> shard_primary_ports_;     // and shards 1..K-1's primaries
  uint16_t runtime_port_ = 0;                     // and its runtime API
  std::string password_;                          // the shop role's, new on every start
};

}  // namespace stampede::shop
