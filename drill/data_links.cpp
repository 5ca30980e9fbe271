#include "drill/data_links.h"

#include <boost/json.hpp>
#include <stdexcept>

#include "common/loopback.h"
#include "drill/replication_links.h"

namespace stampede::drill {

namespace json = boost::json;

namespace {

// One proxy `<kind>:nodeK` per node in front of 127.0.0.1:port; returns the shop flags that route the
// nodes through them: {port_flag, port, via_flag, A1,A2,...}.
std::vector<std::string> links_for(const std::string& kind, const std::string& to, int nodes,
                                   const std::string& port_flag, const std::string& via_flag,
                                   chaos::proxy_server& proxies, json::array& links) {
  const std::string upstream = "127.0.0.1:" + std::to_string(free_loopback_port());
  std::string via;
  for (int i = 1; i <= nodes; ++i) {
    const std::string node = "node" + std::to_string(i);
    auto info = proxies.add_proxy({kind + node, "127.0.0.1:0", upstream, true});
    via += (i == 1 ? "" : ",") + info.config.listen;
    links.push_back(json::object{{"name", info.config.name},
                                 {"from", node},
                                 {"to", to},
                                 {"listen", info.config.listen},
                                 {"upstream", info.config.upstream}});
  }
  return {port_flag, upstream.substr(upstream.rfind(':') + 1), via_flag, via};
}

std::vector<std::string> redis_links(const std::vector<std::string>& shop_args, int nodes,
                                     chaos::proxy_server& proxies, json::array& links) {
  if (shop_flag_value(shop_args, "--cache").value_or("local") != "redis") return {};
  return links_for("redis:", "redis", nodes, "--redis-port", "--redis-via", proxies, links);
}

int shard_count(const std::vector<std::string>& shop_args) {
  const std::string text = shop_flag_value(shop_args, "--shards").value_or("1");
  try {
    return std::stoi(text);
  } catch (const std::exception&) {
    throw std::invalid_argument("--shards must be an integer in [1, 8]: " + text);
  }
}

// --shards K: one proxy `db:shardS:nodeK` per shard and node (shard 0's as --db-port/--db-via, the others'
// as --db-shard-ports/--db-shard-via), then `extra` (the Redis flags).
std::vector<std::string> shard_links(int shards, int nodes, chaos::proxy_server& proxies, json::array& links,
                                     std::vector<std::string> extra) {
  std::vector<std::string> out;
  std::string ports, shard_via;
  for (int s = 0; s < shards; ++s) {
    const std::string prefix = "db:shard" + std::to_string(s) + ":";
    auto flags = links_for(prefix, "postgres shard" + std::to_string(s), nodes, "--db-port", "--db-via",
                           proxies, links);
    if (s == 0) {
      out = std::move(flags);
      continue;
    }
    ports += (ports.empty() ? "" : ",") + flags[1];
    shard_via += (shard_via.empty() ? "" : ",") + flags[3];
  }
  out.insert(out.end(), {"--db-shard-ports", ports, "--db-shard-via", shard_via});
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

}  // namespace

std::vector<std::string> add_data_links(const std::vector<std::string>& shop_args, chaos::proxy_server& proxies,
                                        json::array& links) {
  const std::string nodes_text = shop_flag_value(shop_args, "--nodes").value_or("3");
  int nodes = 0;
  try {
    nodes = std::stoi(nodes_text);
  } catch (const std::exception&) {
    throw std::invalid_argument("--nodes must be an integer in [1, 64]: " + nodes_text);
  }
  if (nodes < 1 || nodes > 64) throw std::invalid_argument("--nodes must be an integer in [1, 64]");
  std::vector<std::string> out;
  if (shop_flag_value(shop_args, "--db").value_or("sqlite") == "postgres") {
    const bool patroni = shop_flag_value(shop_args, "--ha").value_or("none") == "patroni";
    const int shards = shard_count(shop_args);
    if (shards > 1)
      return shard_links(shards, nodes, proxies, links, redis_links(shop_args, nodes, proxies, links));
    out = links_for("db:", patroni ? "database haproxy (primary)" : "postgres", nodes, "--db-port",
                    "--db-via", proxies, links);
  }
  auto redis = redis_links(shop_args, nodes, proxies, links);
  out.insert(out.end(), redis.begin(), redis.end());
  return out;
}

}  // namespace stampede::drill
