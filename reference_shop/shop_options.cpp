#include "reference_shop/shop_options.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "common/host_port.h"
#include "common/limits.h"
#include "reference_shop/data_tier.h"
#include "reference_shop/passwords.h"
#include "reference_shop/seed.h"
#include "reference_shop/sqlite_store.h"
#include "reference_shop/two_phase.h"

namespace stampede::shop {

namespace {

// "host:port" -> (host, port), through the one host:port parser; throws std::invalid_argument naming the
// flag.
std::pair<std::string, uint16_t> parse_address(const std::string& text, const std::string& flag) {
  auto address = parse_host_port(text, "--" + flag);
  return {std::move(address.host), address.port};
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// --shards, --txn (docs/SHOP.md "Sharding"): single PostgreSQL servers, or a Patroni cluster per shard.
void parse_shards(const arg_list& a, shop_options& o) {
  o.shards = a.get_int("shards", 1, 1, 8);
  o.txn = a.get("txn", "2pc");
  two_phase::parse_protocol(o.txn);  // throws naming --txn
  if (a.has("txn-fault")) two_phase::parse_fault(a.get("txn-fault"));
  // The shard bulkheads' flags go to the nodes unchanged (node_tuning_flags); a bad value is one line here,
  // with the nodes' own ranges (cli.cpp), not a node that will not start.
  a.get_int("shard-max-inflight", 0, 1, 1000);
  a.get_int("shard-breaker-failures", 1, 0, 1000);
  a.get_int("shard-breaker-open-ms", 1000, 10, 600'000);
  a.get_int("shard-read-timeout-ms", 500, 10, 600'000);
  if (o.shards == 1) return;
  if (o.db_kind != "postgres") throw std::invalid_argument("--shards needs --db postgres");
  if (o.ha == "patroni") {
    // A cluster per shard on a small machine: one replica each unless asked.
    if (!a.has("replicas")) o.replicas = 1;
    // --pg-ports and --replication-via (a drill's replication links) apply to shard 0's cluster, as --db-port
    // to shard 0's frontend.
    if (o.replica.reads != replica_read_mode::off) {
      throw std::invalid_argument("--shards with --ha patroni does not support --replica-reads yet");
    }
    if (!o.member_links.empty()) {
      throw std::invalid_argument(
          "--shards with --ha patroni does not support --dcs-via, --postgres-via, --rest-via, --etcd-port or "
          "--rest-ports yet");
    }
  }
  if (o.wal_archive) throw std::invalid_argument("--shards with --wal-archive on is not supported yet");
}

// --db, --db-pool, --pg-bin, --ha, --replicas, --sync-replication, --wal-archive, --shards, --txn.
void parse_data_tier(const arg_list& a, shop_options& o) {
  o.db_kind = a.get("db", "sqlite");
  if (o.db_kind != "sqlite" && o.db_kind != "postgres") {
    throw std::invalid_argument("--db must be sqlite or postgres");
  }
  o.db_pool = a.get_int("db-pool", 8, 1, 200);
  o.pg_bin = a.get("pg-bin", default_postgres_bin_dir);
  o.ha = a.get("ha", "none");
  if (o.ha != "none" && o.ha != "patroni") throw std::invalid_argument("--ha must be none or patroni");
  if (o.ha == "patroni" && o.db_kind != "postgres")
    throw std::invalid_argument("--ha patroni needs --db postgres");
  o.replicas = a.get_int("replicas", 2, 0, 8);
  const std::string sync = a.get("sync-replication", "off");
  if (sync != "on" && sync != "off") throw std::invalid_argument("--sync-replication must be on or off");
  o.sync_replication = sync == "on";
  o.replica = parse_replica_tier_options(a);
  const std::string archive = a.get("wal-archive", "off");
  if (archive != "on" && archive != "off") throw std::invalid_argument("--wal-archive must be on or off");
  o.wal_archive = archive == "on";
  if (o.wal_archive && (o.db_kind != "postgres" || o.ha != "none")) {
    throw std::invalid_argument("--wal-archive on needs --db postgres (without --ha patroni)");
  }
  o.member_links = parse_member_link_options(a);
  parse_shards(a, o);
}

// --weights, --node-ports, --node-via, --payment-via, --payment-port, --respawn-ms: one entry per node.
void parse_links(const arg_list& a, shop_options& o) {
  if (a.has("weights")) {
    for (const auto& w : split_commas(a.get("weights"))) {
      const int v = std::atoi(w.c_str());
      if (v < 0 || v > 256 || w.empty() || w.find_first_not_of("0123456789") != std::string::npos) {
        throw std::invalid_argument("--weights are integers 0..256");
      }
      o.weights.push_back(v);
    }
    if (static_cast<int64_t>(o.weights.size()) != o.nodes)
      throw std::invalid_argument("--weights needs one weight per node");
  }
  if (a.has("node-ports")) {
    for (const auto& p : split_commas(a.get("node-ports"))) {
      const int v = std::atoi(p.c_str());
      if (v <= 0 || v > 65535 || p.find_first_not_of("0123456789") != std::string::npos) {
        throw std::invalid_argument("--node-ports are ports 1..65535");
      }
      o.node_ports.push_back(static_cast<uint16_t>(v));
    }
    if (static_cast<int64_t>(o.node_ports.size()) != o.nodes)
      throw std::invalid_argument("--node-ports needs one port per node");
  }
  if (a.has("node-via")) {
    for (const auto& v : split_commas(a.get("node-via"))) o.node_via.push_back(parse_address(v, "node-via"));
    if (static_cast<int64_t>(o.node_via.size()) != o.nodes)
      throw std::invalid_argument("--node-via needs one address per node");
  }
  if (a.has("payment-via")) o.payment_via = parse_address(a.get("payment-via"), "payment-via");
  o.payment_port = a.get_int("payment-port", 0, 0, 65535);
  o.respawn_ms = a.get_int("respawn-ms", -1, 0, 600'000);
}

// HAProxy's limits and timeouts (--server-maxconn, --queue-timeout-ms, --edge-*), maxconn from RLIMIT_NOFILE.
void parse_edge(const arg_list& a, haproxy_config& e) {
  e.server_maxconn = static_cast<int>(a.get_int("server-maxconn", e.server_maxconn, 1, 100'000));
  e.queue_timeout =
      std::chrono::milliseconds{a.get_int("queue-timeout-ms", e.queue_timeout.count(), 1, 600'000)};
  e.per_source_connections =
      static_cast<int>(a.get_int("edge-conn-limit", e.per_source_connections, 0, 10'000'000));
  e.per_source_connection_rate =
      static_cast<int>(a.get_int("edge-conn-rate", e.per_source_connection_rate, 0, 100'000'000));
  e.http_request_timeout = std::chrono::milliseconds{
      a.get_int("edge-request-timeout-ms", e.http_request_timeout.count(), 100, 600'000)};
  const auto sizing = size_maxconn(current_fd_limits().soft);
  e.global_maxconn = sizing.global;
  e.frontend_maxconn = sizing.frontend;
}

// --observe, --observe-rules, --prometheus, --alertmanager, --observe-generator; the others mean nothing
// without --observe.
void parse_observe(const arg_list& a, shop_options& o) {
  o.observe = a.has("observe");
  for (const char* flag : {"observe-rules", "prometheus", "alertmanager", "observe-generator"}) {
    if (a.has(flag) && !o.observe) throw std::invalid_argument(std::string{"--"} + flag + " needs --observe");
  }
  o.observability.rules = a.get("observe-rules", "drill");
  if (!valid_rule_set(o.observability.rules))
    throw std::invalid_argument("--observe-rules must be drill or production");
  o.observability.prometheus_bin = a.get("prometheus", default_prometheus_bin);
  o.observability.alertmanager_bin = a.get("alertmanager", default_alertmanager_bin);
  if (a.has("observe-generator")) {
    const host_port generator = parse_host_port(a.get("observe-generator"), "--observe-generator");
    in6_addr any;
    if (::inet_pton(AF_INET, generator.host.c_str(), &any) != 1 &&
        ::inet_pton(AF_INET6, generator.host.c_str(), &any) != 1)
      throw std::invalid_argument("--observe-generator '" + a.get("observe-generator") +
                                  "' needs an IP address, not a host name (nothing here resolves names)");
    o.observability.generator_address = to_string(generator);
  }
}

// --data (a new temporary directory without it), made absolute; --topology inside it by default.
void make_data_directory(const arg_list& a, shop_options& o) {
  o.data = a.get("data");
  if (o.data.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "stampede-shop-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a data directory");
    o.data = pattern;
  }
  std::filesystem::create_directories(o.data);
  o.data = std::filesystem::absolute(o.data).string();
  o.topology_path = a.get("topology", (std::filesystem::path{o.data} / "topology.json").string());
}

}  // namespace

int seed_command(const arg_list& a) {
  if (a.get("db", "sqlite") != "sqlite") {
    throw std::invalid_argument(
        "`shop seed` seeds SQLite only; `stampede shop --db postgres --scale S` seeds PostgreSQL");
  }
  const std::string dir = a.get("data", "stampede-shop-data");
  const int64_t scale = a.get_int("scale", 1, 1, 1000);
  auto kdf = parse_kdf_cost(a.get("kdf", "interactive"));
  if (!kdf) throw std::invalid_argument("--kdf must be interactive, moderate or minimal");
  std::filesystem::create_directories(dir);
  sqlite_store db{(std::filesystem::path{dir} / "shop.db").string()};
  db.migrate();
  db.reseed(scale, hash_password(seed_password, *kdf));
  std::printf("seeded %s/shop.db at scale %lld: %lld products, %lld customers (password '%s')\n", dir.c_str(),
              static_cast<long long>(scale), static_cast<long long>(1000 * scale),
              static_cast<long long>(1000 * scale), seed_password);
  return 0;
}

shop_options parse_shop_options(const arg_list& a) {
  shop_options o;
  o.nodes = a.get_int("nodes", 3, 1, 64);
  o.threads = a.get_int("threads", 2, 1, 256);
  o.scale = a.get_int("scale", 1, 1, 1000);
  o.port = a.get_int("port", 8080, 0, 65535);
  o.lb = a.get("lb", "roundrobin");
  if (!valid_balance(o.lb))
    throw std::invalid_argument("--lb must be roundrobin, leastconn, source, uri, random or first");
  o.kdf_text = a.get("kdf", "interactive");
  if (!parse_kdf_cost(o.kdf_text))
    throw std::invalid_argument("--kdf must be interactive, moderate or minimal");
  if (a.has("inject-bug") && a.get("inject-bug") != "double-capture") {
    throw std::invalid_argument("--inject-bug: unknown bug '" + a.get("inject-bug") +
                                "' (known: double-capture)");
  }
  o.haproxy_bin = a.get("haproxy", "/usr/sbin/haproxy");
  parse_data_tier(a, o);
  parse_links(a, o);
  parse_edge(a, o.edge);
  parse_observe(a, o);
  o.autoscale = parse_autoscale_options(a, o.nodes, o.lb);
  make_data_directory(a, o);
  o.cache = parse_cache_tier_options(a, o.data);
  o.data_links = parse_data_link_options(a, o.nodes, o.db_kind, o.cache.kind, o.shards);
  o.cache.port = o.data_links.redis_port;
  return o;
}

}  // namespace stampede::shop
