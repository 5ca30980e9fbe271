// The topology JSON of a running shop (docs/SHOP.md, "Topology"): what drills and `stampede run
// --topology` read to find the entry URL, the processes to fault and the admin token.
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <stdexcept>

#include "reference_shop/supervisor_internal.h"

namespace stampede::shop::supervision {

namespace json = boost::json;

void supervisor::write_topology() {
  json::array node_list;
  json::object haproxy, emulator, db_haproxy;
  for (const auto& c : children_) {
    if (c.role == "node") {
      // A respawned node is named by its new pid once it is ready (drills take that as "back").
      const auto respawning = respawning_.find(c.name);
      const pid_t pid = respawning == respawning_.end() ? c.pid : respawning->second.previous_pid;
      node_list.push_back(json::object{{"name", c.name},
                                       {"pid", pid},
                                       {"port", c.port},
                                       {"url", "http://127.0.0.1:" + std::to_string(c.port)}});
    } else if (c.role == "haproxy") {
      haproxy =
          json::object{{"pid", c.pid},
                       {"url", entry_},
                       {"config", config_path_},
                       {"metrics_url", "http://127.0.0.1:" + std::to_string(hc_.stats_port) + "/metrics"},
                       {"stats_url", "http://127.0.0.1:" + std::to_string(hc_.stats_port) + "/stats"},
                       {"runtime_api", "127.0.0.1:" + std::to_string(hc_.runtime_port)}};
    } else if (c.role == "haproxy_db") {
      db_haproxy = json::object{
          {"pid", c.pid},
          {"primary", "127.0.0.1:" + std::to_string(c.port)},
          {"replicas", "127.0.0.1:" + std::to_string(data_.db_haproxy_config().replica_port)},
          {"config", db_haproxy_config_path()},
          {"runtime_api", "127.0.0.1:" + std::to_string(data_.db_haproxy_config().runtime_port)}};
    } else if (c.role == "payment_emulator") {
      emulator = json::object{{"pid", c.pid}, {"url", "http://127.0.0.1:" + std::to_string(c.port)}};
    }
  }
  json::object topology{
      {"entry_url", entry_},           {"admin_token", admin_token_},
      {"supervisor_pid", ::getpid()},  {"data_dir", o_.data},
      {"database", data_.topology()},  {"lb", o_.lb},
      {"threads", o_.threads},         {"nodes", std::move(node_list)},
      {"haproxy", std::move(haproxy)}, {"payment_emulator", std::move(emulator)},
  };
  if (!db_haproxy.empty()) topology["database_haproxy"] = std::move(db_haproxy);
  // Chaos targets by name for drills (`pg1`, `primary`, `etcd`; --shards with Patroni: `shard1-primary`,
  // `shard0-pg2`...; --shards without: each shard's server, `shard0`, `shard1`..., for a pause that freezes
  // one shard): loadgen/topology.h reads them as nodes.
  if (data_.cluster() != nullptr) {
    json::array nodes;
    for (const auto* cluster : data_.clusters()) {
      for (auto& n : cluster->fault_nodes(restart_dir())) nodes.push_back(std::move(n));
    }
    topology["database_nodes"] = std::move(nodes);
  } else if (auto shards = data_.shard_fault_nodes(); !shards.empty()) {
    topology["database_nodes"] = std::move(shards);
  }
  topology["cache"] = cache_.redis() ? "redis" : "local";
  if (const child* redis = find("cache")) {
    json::object entry = cache_.topology(redis->pid);
    entry["commands"] = json::object{{"restart", restart_command("redis")}};  // after the fault's SIGKILL
    topology["redis"] = std::move(entry);
  }
  if (observe_) topology["observability"] = observability_topology();
  if (elastic_) topology["autoscale"] = elastic_->topology();
  const std::string tmp = o_.topology_path + ".tmp";
  std::error_code ignored;
  std::filesystem::remove(tmp, ignored);  // a new file: nobody holds an old one open
  std::ofstream out{tmp};
  // The admin token and the database's password: for the shop's user only (DIR may be enterable by
  // others, so that PostgreSQL's user reaches its data).
  std::filesystem::permissions(tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               ignored);
  out << json::serialize(topology) << '\n';
  out.close();
  if (!out) throw std::runtime_error("cannot write " + o_.topology_path);
  std::filesystem::rename(tmp, o_.topology_path);  // readers never see half a file
}

}  // namespace stampede::shop::supervision
