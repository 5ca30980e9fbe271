#include "drill/replication_links.h"

#include <boost/json.hpp>
#include <optional>
#include <stdexcept>

#include "common/loopback.h"

namespace stampede::drill {

namespace json = boost::json;

std::optional<std::string> shop_flag_value(const std::vector<std::string>& args, const std::string& name) {
  std::optional<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) {
      out = args[++i];
    } else if (args[i].rfind(name + "=", 0) == 0) {
      out = args[i].substr(name.size() + 1);
    }
  }
  return out;
}

std::vector<std::string> add_replication_links(const std::vector<std::string>& shop_args,
                                               chaos::proxy_server& proxies, json::array& links) {
  // A replica's lag reaches customers when they read from replicas (stale reads) or when replication is
  // asynchronous (what a failover loses).
  const auto reads = shop_flag_value(shop_args, "--replica-reads");
  const auto sync = shop_flag_value(shop_args, "--sync-replication");
  if (shop_flag_value(shop_args, "--ha").value_or("none") != "patroni" ||
      (reads.value_or("off") == "off" && sync.value_or("off") != "off"))
    return {};
  // The shop's default: 2 replicas, 1 per shard with --shards (whose links are shard 0's cluster's).
  const bool sharded = shop_flag_value(shop_args, "--shards").value_or("1") != "1";
  const std::string replicas_text = shop_flag_value(shop_args, "--replicas").value_or(sharded ? "1" : "2");
  int replicas = 0;
  try {
    replicas = std::stoi(replicas_text);
  } catch (const std::exception&) {
    throw std::invalid_argument("--replicas must be an integer in [0, 8]: " + replicas_text);
  }
  if (replicas < 0 || replicas > 8) throw std::invalid_argument("--replicas must be an integer in [0, 8]");
  std::string ports, via;
  for (int i = 1; i <= replicas + 1; ++i) {
    const uint16_t port = free_loopback_port();
    const std::string member = "pg" + std::to_string(i);
    const std::string name = "replication:" + member;
    auto info = proxies.add_proxy({name, "127.0.0.1:0", "127.0.0.1:" + std::to_string(port), true});
    ports += (i == 1 ? "" : ",") + std::to_string(port);
    via += (i == 1 ? "" : ",") + member + "=" + info.config.listen;
    links.push_back(json::object{{"name", name},
                                 {"from", member},
                                 {"to", "its replicas"},
                                 {"listen", info.config.listen},
                                 {"upstream", info.config.upstream}});
  }
  return {"--pg-ports", ports, "--replication-via", via};
}

}  // namespace stampede::drill
