// The HAProxy configuration `stampede shop` generates (pure functions, tested on their own): the balance
// algorithm and weights, active health checks, retries that never replay a request a server saw, and the
// front door's protections: request and keep-alive timeouts (slowloris), per-source connection limits
// (a stick table tracking conn_cur and conn_rate), maxconn sized to the file-descriptor limit, and a
// per-server maxconn so that a burst queues at the balancer (`timeout queue`) instead of piling onto nodes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stampede::shop {

struct haproxy_config {
  std::string balance = "roundrobin";  // roundrobin|leastconn|source|uri|random|first
  uint16_t frontend_port = 0;
  uint16_t stats_port = 0;      // Prometheus exporter (/metrics) and stats page (/stats)
  uint16_t runtime_port = 0;    // runtime API (admin level), loopback only
  int global_maxconn = 8000;    // see size_maxconn()
  int frontend_maxconn = 7900;  // the shop's frontend; the rest is for stats and the runtime API
  int server_maxconn = 64;      // requests in flight per node; beyond, they wait in HAProxy's queue
  std::chrono::milliseconds queue_timeout{10'000};        // a queued request gets 503 after this
  std::chrono::milliseconds http_request_timeout{5'000};  // the whole request head (slowloris bound)
  std::chrono::milliseconds keep_alive_timeout{10'000};   // idle keep-alive connection
  std::chrono::milliseconds client_timeout{30'000};       // client inactivity in the middle of a request
  int per_source_connections = 2'000;       // concurrent connections per source address; 0 = no limit
  int per_source_connection_rate = 20'000;  // new connections per source per 10 s; 0 = no limit
  struct server {
    std::string name;
    std::string host = "127.0.0.1";  // where HAProxy reaches the node (a fault proxy in drills)
    uint16_t port = 0;
    int weight = 100;
  };
  std::vector<server> servers;
};

std::string render_haproxy_config(const haproxy_config& config);

// With `--ha patroni`, a second HAProxy (TCP mode) in front of the database members: `primary_port` reaches
// whichever member answers Patroni's REST `GET /primary` with 200, `replica_port` the members answering
// `GET /replica` (reads that tolerate staleness). A member marked down has its sessions cut
// (on-marked-down shutdown-sessions), so no client keeps writing to a demoted primary.
struct haproxy_db_config {
  uint16_t primary_port = 0;
  uint16_t replica_port = 0;
  uint16_t runtime_port = 0;  // runtime API (operator level), loopback only; 0: none
  int maxconn = 2000;
  struct member {
    std::string name;
    uint16_t pg_port = 0;
    uint16_t rest_port = 0;
    std::string address;  // "host:port" HAProxy connects to instead of 127.0.0.1:pg_port (a fault proxy)
    std::string check_address;  // "host:port" of the REST API's health check instead of 127.0.0.1:rest_port
  };
  std::vector<member> members;
  // --shards with --ha patroni: `members` and `primary_port` are shard 0's; shard s >= 1's primary is
  // `listen postgres_primary_shardS` on its own port over its own cluster's members.
  struct shard_primary {
    uint16_t port = 0;
    std::vector<member> members;
  };
  std::vector<shard_primary> other_shards;
};
std::string render_haproxy_db_config(const haproxy_db_config& config);
bool valid_balance(std::string_view algorithm);

// Connection limits that fit `fd_limit` open files (HAProxy needs two descriptors per proxied connection,
// one on each side, plus a reserve for listeners, health checks and the stats and runtime sockets).
// Capped at 200,000 connections: HAProxy sizes its descriptor table from maxconn at start.
struct maxconn_sizing {
  int global = 0;
  int frontend = 0;
};
maxconn_sizing size_maxconn(uint64_t fd_limit);

}  // namespace stampede::shop
