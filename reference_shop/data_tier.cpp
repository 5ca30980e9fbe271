#include "reference_shop/data_tier.h"

#include <boost/json.hpp>
#include <cstdio>
#include <stdexcept>

#include "common/loopback.h"
#include "reference_shop/seed.h"
#include "reference_shop/store_factory.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

constexpr const char* shop_role = "shop";
constexpr const char* shop_database = "shop";
// Sessions beyond the nodes' pools: the supervisor's own, a respawned node whose predecessor's sessions
// are still closing, an operator's psql, superuser_reserved_connections (3).
constexpr int spare_connections = 20;

}  // namespace

data_tier::data_tier(data_tier_options options) : options_(std::move(options)) {
  if (options_.kind != "sqlite" && options_.kind != "postgres") {
    throw std::invalid_argument("--db must be sqlite or postgres");
  }
  if (options_.ha != "none" && options_.ha != "patroni")
    throw std::invalid_argument("--ha must be none or patroni");
  if (options_.ha == "patroni" && options_.kind != "postgres") {
    throw std::invalid_argument("--ha patroni needs --db postgres");
  }
  const auto& r = options_.replica;
  if (options_.ha != "patroni" &&
      (r.reads != replica_read_mode::off || !r.pg_ports.empty() || !r.replication_via.empty())) {
    throw std::invalid_argument(r.reads != replica_read_mode::off
                                    ? "--replica-reads needs --ha patroni"
                                    : "--pg-ports and --replication-via need --ha patroni");
  }
  if (options_.wal_archive && (options_.kind != "postgres" || options_.ha != "none")) {
    // Patroni members would each need the archive in their Patroni configuration (and the archive one
    // timeline per promotion): not done; the backup game day runs on the single server.
    throw std::invalid_argument("--wal-archive on needs --db postgres --ha none");
  }
  if (r.reads != replica_read_mode::off && options_.replicas == 0) {
    throw std::invalid_argument("--replica-reads needs at least one replica (--replicas >= 1)");
  }
  if (!r.pg_ports.empty() && static_cast<int>(r.pg_ports.size()) != options_.replicas + 1) {
    throw std::invalid_argument("--pg-ports needs one port per member (--replicas + 1)");
  }
  for (const auto& [member, via] : r.replication_via) {
    const int index = member.size() > 4 ? 0 : std::stoi(member.substr(2));  // "pg" + digits (parsed)
    if (index < 1 || index > options_.replicas + 1) {
      throw std::invalid_argument("--replication-via: " + member + " is not a member (pg1..pg" +
                                  std::to_string(options_.replicas + 1) + ")");
    }
  }
}

data_tier::~data_tier() = default;

void data_tier::start() {
  if (options_.kind != "postgres") return;
  password_ = random_token();
  if (options_.ha == "patroni") {
    start_clusters();
    return;
  }
  postgres_server_options po;
  po.bin_dir = options_.pg_bin_dir;
  po.dir = options_.data / "postgres";
  po.port = options_.db_port;
  po.max_connections = static_cast<int>(options_.nodes) * options_.pool_size + spare_connections;
  po.wal_archive = options_.wal_archive;
  // Two-phase commit: a prepared transaction outlives its session, but each session prepares one at a
  // time, so as many as sessions (a few more stay in doubt while recovery is due).
  if (options_.shards > 1) {
    po.settings.push_back("max_prepared_transactions=" + std::to_string(po.max_connections));
  }
  server_ = std::make_unique<postgres_server>(po);
  server_->init();
  server_->start();
  server_->ensure_database(shop_role, password_, shop_database);
  for (int s = 1; s < options_.shards; ++s) {
    po.dir = options_.data / ("postgres-shard" + std::to_string(s));
    po.port = static_cast<size_t>(s) <= options_.shard_ports.size()
                  ? options_.shard_ports[static_cast<size_t>(s - 1)]
                  : 0;
    shard_servers_.push_back(std::make_unique<postgres_server>(po));
    shard_servers_.back()->init();
    shard_servers_.back()->start();
    shard_servers_.back()->ensure_database(shop_role, password_, shop_database);
  }
}

// --ha patroni: shard 0's cluster (the one etcd), then with --shards one more per shard sharing that etcd.
void data_tier::start_clusters() {
  patroni_cluster_options co;
  co.dir = options_.data / "patroni";
  co.replicas = options_.replicas;
  co.synchronous = options_.synchronous;
  co.pg_bin_dir = options_.pg_bin_dir;
  // Replica reads: a second pool per node.
  const int pools = options_.replica.reads == replica_read_mode::off ? 1 : 2;
  co.max_connections = static_cast<int>(options_.nodes) * options_.pool_size * pools + spare_connections;
  co.pg_ports = options_.replica.pg_ports;
  co.replication_via = options_.replica.replication_via;
  co.dcs_via = options_.member_links.dcs_via;
  co.rest_via = options_.member_links.rest_via;
  co.etcd_client_port = options_.member_links.etcd_port;
  co.rest_ports = options_.member_links.rest_ports;
  if (options_.shards > 1) {
    // As the single servers' (start()): a prepared transaction per session, a few more in doubt.
    co.max_prepared_transactions = co.max_connections;
    co.fault_prefix = "shard0-";
  }
  cluster_ = std::make_unique<patroni_cluster>(co);
  cluster_->start();
  cluster_->ensure_database(shop_role, password_, shop_database);
  primary_port_ = options_.db_port != 0 ? options_.db_port : free_loopback_port();
  replica_port_ = free_loopback_port();
  runtime_port_ = free_loopback_port();
  for (int s = 1; s < options_.shards; ++s) {
    patroni_cluster_options shard = co;
    shard.dir = options_.data / ("patroni-shard" + std::to_string(s));
    shard.scope = "stampede-shop-shard" + std::to_string(s);
    shard.shared_etcd_port = cluster_->etcd_client_port();
    shard.fault_prefix = "shard" + std::to_string(s) + "-";
    shard.pg_ports.clear();  // links through fault proxies: shard 0's only
    shard.replication_via.clear();
    shard.dcs_via.clear();
    shard.rest_via.clear();
    shard.rest_ports.clear();
    shard_clusters_.push_back(std::make_unique<patroni_cluster>(shard));
    shard_clusters_.back()->start();
    shard_clusters_.back()->ensure_database(shop_role, password_, shop_database);
    // --db-shard-ports: a drill's `db:shardS:nodeK` proxies lead to this shard's primary frontend.
    shard_primary_ports_.push_back(static_cast<size_t>(s) <= options_.shard_ports.size()
                                       ? options_.shard_ports[static_cast<size_t>(s - 1)]
                                       : free_loopback_port());
  }
}

std::vector<patroni_cluster*> data_tier::clusters() noexcept {
  std::vector<patroni_cluster*> out;
  if (cluster_) out.push_back(cluster_.get());
  for (auto& c : shard_clusters_) out.push_back(c.get());
  return out;
}

std::pair<patroni_cluster*, std::string> data_tier::cluster_of(const std::string& name) noexcept {
  if (!cluster_) return {nullptr, {}};
  if (options_.shards == 1) return {name.starts_with("pg") ? cluster_.get() : nullptr, name};
  const auto clusters = this->clusters();
  for (size_t s = 0; s < clusters.size(); ++s) {
    const std::string prefix = "shard" + std::to_string(s) + "-";
    if (name.starts_with(prefix) && name.substr(prefix.size()).starts_with("pg")) {
      return {clusters[s], name.substr(prefix.size())};
    }
  }
  return {nullptr, {}};
}

std::vector<std::string> data_tier::shard_urls(const std::string& password) const {
  if (cluster_) {  // each shard's primary through its frontend of the database HAProxy
    std::vector<std::string> out{shop_url(password)};
    for (const uint16_t port : shard_primary_ports_) {
      out.push_back("postgresql://" + std::string{shop_role} + (password.empty() ? "" : ":" + password) +
                    "@127.0.0.1:" + std::to_string(port) + "/" + shop_database);
    }
    return out;
  }
  std::vector<std::string> out{server_->url(shop_role, password, shop_database)};
  for (const auto& s : shard_servers_) out.push_back(s->url(shop_role, password, shop_database));
  return out;
}

std::vector<std::pair<pid_t, uint16_t>> data_tier::other_shard_servers() const {
  std::vector<std::pair<pid_t, uint16_t>> out;
  for (const auto& s : shard_servers_) out.emplace_back(s->pid(), s->port());
  return out;
}

json::array data_tier::shard_fault_nodes() const {
  json::array out;
  if (shard_servers_.empty()) return out;
  for (int s = 0; s < options_.shards; ++s) {
    const postgres_server& server = s == 0 ? *server_ : *shard_servers_[static_cast<size_t>(s - 1)];
    const std::string pid = std::to_string(server.pid());
    // The postmaster first (it forks no new backend while stopped), then its children; resumed in reverse.
    out.push_back(json::object{
        {"name", "shard" + std::to_string(s)},
        {"pid", server.pid()},
        {"commands", json::object{{"pause", "kill -STOP " + pid + " && pkill -STOP -P " + pid + "; true"},
                                  {"resume", "pkill -CONT -P " + pid + "; kill -CONT " + pid}}}});
  }
  return out;
}

void data_tier::prepare(int64_t scale, bool reseed, kdf_cost kdf) {
  store_config config;
  if (server_ || cluster_) {
    config.postgres_url = shop_url(password_);
    config.pool_size = 1;
    config.application_name = "stampede-shop-supervisor";
    if (options_.shards > 1) {
      config.shard_urls = shard_urls(password_);
      config.postgres_url.clear();
      config.recovery_interval = std::chrono::milliseconds{0};  // the nodes' workers recover
    }
  } else {
    config.sqlite_path = (options_.data / "shop.db").string();
  }
  auto db = open_store(config);
  db->migrate();
  if (!db->seeded() || reseed) {
    std::fprintf(stderr, "stampede shop: seeding %s at scale %lld\n", description().c_str(),
                 static_cast<long long>(scale));
    db->reseed(scale, hash_password(seed_password, kdf));
  }
}

// PostgreSQL's URL for the shop role: the server, or the database HAProxy's primary frontend.
std::string data_tier::shop_url(const std::string& password) const {
  if (server_) return server_->url(shop_role, password, shop_database);
  return "postgresql://" + std::string{shop_role} + (password.empty() ? "" : ":" + password) +
         "@127.0.0.1:" + std::to_string(primary_port_) + "/" + shop_database;
}

std::string data_tier::replicas_url(const std::string& password) const {
  return "postgresql://" + std::string{shop_role} + (password.empty() ? "" : ":" + password) +
         "@127.0.0.1:" + std::to_string(replica_port_) + "/" + shop_database;
}

haproxy_db_config data_tier::db_haproxy_config() const {
  haproxy_db_config c;
  c.primary_port = primary_port_;
  c.replica_port = replica_port_;
  c.runtime_port = runtime_port_;
  const int pools = options_.replica.reads == replica_read_mode::off ? 1 : 2;
  c.maxconn = (static_cast<int>(options_.nodes) * options_.pool_size * 2 * pools + 2 * spare_connections) *
              options_.shards;  // a pool per shard and node
  if (cluster_) {
    for (const auto& m : cluster_->members()) {
      haproxy_db_config::member member{m.name, m.pg_port, m.rest_port, {}, {}};
      // Behind fault proxies (--postgres-via, --rest-via): the partition game day cuts them.
      if (const auto it = options_.member_links.postgres_via.find(m.name);
          it != options_.member_links.postgres_via.end()) {
        member.address = it->second;
      }
      if (const auto it = options_.member_links.rest_via.find(m.name);
          it != options_.member_links.rest_via.end()) {
        member.check_address = it->second;
      }
      c.members.push_back(std::move(member));
    }
  }
  for (size_t s = 0; s < shard_clusters_.size(); ++s) {
    haproxy_db_config::shard_primary shard{shard_primary_ports_[s], {}};
    for (const auto& m : shard_clusters_[s]->members())
      shard.members.push_back({m.name, m.pg_port, m.rest_port, {}, {}});
    c.other_shards.push_back(std::move(shard));
  }
  return c;
}

bool data_tier::refresh_cluster() {
  bool changed = false;
  for (auto* c : clusters()) {
    const auto before = json::serialize(c->topology());
    c->refresh();
    changed = json::serialize(c->topology()) != before || changed;
  }
  return changed;
}

// Shard 0's last: the others use its etcd.
void data_tier::stop_cluster() {
  for (auto it = shard_clusters_.rbegin(); it != shard_clusters_.rend(); ++it) (*it)->stop();
  if (cluster_) cluster_->stop();
}

std::vector<std::string> data_tier::node_args() const {
  if (!server_ && !cluster_) return {"--db", (options_.data / "shop.db").string()};
  std::vector<std::string> args{"--db-url", shop_url(""), "--db-pool", std::to_string(options_.pool_size)};
  if (options_.shards > 1) {
    std::string urls;
    for (const auto& u : shard_urls("")) urls += (urls.empty() ? "" : ",") + u;
    args.insert(args.end(), {"--db-shards", urls, "--txn", options_.txn});
  }
  if (cluster_ && options_.replica.reads != replica_read_mode::off) {
    args.insert(args.end(), {"--db-replica-url", replicas_url(""), "--replica-reads",
                             std::string{to_string(options_.replica.reads)}, "--replica-pin-ms",
                             std::to_string(options_.replica.pin.count())});
  }
  return args;
}

// The password travels in the environment, not on command lines that every user can read in ps.
std::vector<std::pair<std::string, std::string>> data_tier::node_env() const {
  if (!server_ && !cluster_) return {};
  return {{"PGPASSWORD", password_}};
}

json::object data_tier::topology() const {
  if (cluster_) {
    json::object out = cluster_->topology();
    out["kind"] = "postgres";
    out["ha"] = "patroni";
    out["pool_per_node"] = options_.pool_size;
    out["primary_url"] = shop_url(password_);  // through the database HAProxy
    out["replicas_url"] = replicas_url(password_);
    out["replica_reads"] = to_string(options_.replica.reads);
    if (options_.shards > 1) add_shards(out);
    return out;
  }
  if (!server_) return json::object{{"kind", "sqlite"}, {"path", (options_.data / "shop.db").string()}};
  json::object out{{"kind", "postgres"},
                   {"role", "primary"},
                   {"pid", server_->pid()},
                   {"port", server_->port()},
                   {"data_dir", server_->data_dir().string()},
                   {"log", server_->log_path().string()},
                   {"pool_per_node", options_.pool_size},
                   // A test password made for this run, as the admin token next to it.
                   {"url", server_->url(shop_role, password_, shop_database)}};
  if (!shard_servers_.empty()) add_shards(out);
  if (options_.wal_archive) {
    // The superuser: pg_basebackup (replication), pg_create_restore_point and pg_switch_wal need it.
    out["wal_archive"] = json::object{{"dir", server_->wal_archive_dir().string()},
                                      {"superuser_url", server_->superuser_url()},
                                      {"bin_dir", server_->bin_dir()}};
  }
  return out;
}

std::string data_tier::description() const {
  if (cluster_ && options_.shards > 1) {
    std::string ports = std::to_string(primary_port_);
    for (const uint16_t p : shard_primary_ports_) ports += "," + std::to_string(p);
    return "PostgreSQL, " + std::to_string(options_.shards) + " shards, each a Patroni cluster of " +
           std::to_string(cluster_->members().size()) + " members (" +
           (options_.synchronous ? "synchronous" : "asynchronous") + "), primaries via 127.0.0.1:" + ports +
           " (--txn " + options_.txn + ")";
  }
  if (cluster_) {
    return "PostgreSQL with Patroni (" + std::to_string(cluster_->members().size()) + " members, " +
           (options_.synchronous ? "synchronous" : "asynchronous") +
           "), primary via 127.0.0.1:" + std::to_string(primary_port_);
  }
  if (!server_) return (options_.data / "shop.db").string();
  if (!shard_servers_.empty()) {
    std::string ports = std::to_string(server_->port());
    for (const auto& s : shard_servers_) ports += "," + std::to_string(s->port());
    return "PostgreSQL, " + std::to_string(options_.shards) + " shards on 127.0.0.1:" + ports + " (--txn " +
           options_.txn + ")";
  }
  return "PostgreSQL on 127.0.0.1:" + std::to_string(server_->port()) + " (" + server_->data_dir().string() +
         ")";
}

void data_tier::release() noexcept {
  if (server_) server_->release();
  for (auto& s : shard_servers_) s->release();
}

void data_tier::add_shards(json::object& out) const {
  out["shards"] = shards_topology();
  out["partition"] = json::object{{"skus", "product_id mod K"},
                                  {"users", "user_id mod K (carts, order headers, outbox)"},
                                  {"accounts", "shard 0"},
                                  {"sessions", "fnv1a(token) mod K"},
                                  {"flash_sales", "shard 0"}};
  out["txn"] = options_.txn;
}

// Shard 0 is the server (or cluster) of the `database` entry; each shard's SKUs and users by the rule
// (shards.h). With --ha patroni each shard lists its cluster (members, roles, pids) and its url is the
// database HAProxy's frontend for that shard's current primary.
json::array data_tier::shards_topology() const {
  const int k = options_.shards;
  json::array shards;
  const auto urls = shard_urls(password_);
  for (int s = 0; s < k; ++s) {
    if (cluster_) {
      const patroni_cluster& c = s == 0 ? *cluster_ : *shard_clusters_[static_cast<size_t>(s - 1)];
      json::object shard = c.topology();
      shard.erase("etcd");  // the one etcd: the database entry's
      shard["shard"] = s;
      shard["url"] = urls[static_cast<size_t>(s)];
      shard["primary_port"] = s == 0 ? primary_port_ : shard_primary_ports_[static_cast<size_t>(s - 1)];
      shard["fault_targets"] = "shard" + std::to_string(s) + "-primary, shard" + std::to_string(s) +
                               "-replica1, shard" + std::to_string(s) + "-pgN";
      shard["skus"] = "product_id % " + std::to_string(k) + " == " + std::to_string(s);
      shard["users"] = "user_id % " + std::to_string(k) + " == " + std::to_string(s);
      shards.push_back(std::move(shard));
      continue;
    }
    const postgres_server& server = s == 0 ? *server_ : *shard_servers_[static_cast<size_t>(s - 1)];
    shards.push_back(json::object{{"shard", s},
                                  {"pid", server.pid()},
                                  {"port", server.port()},
                                  {"data_dir", server.data_dir().string()},
                                  {"log", server.log_path().string()},
                                  {"url", urls[static_cast<size_t>(s)]},
                                  {"skus", "product_id % " + std::to_string(k) + " == " + std::to_string(s)},
                                  {"users", "user_id % " + std::to_string(k) + " == " + std::to_string(s)}});
  }
  return shards;
}

}  // namespace stampede::shop
