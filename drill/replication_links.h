// Fault proxies on the Patroni replicas' replication links, for `stampede drill` on the reference shop.
//
// Made when the shop's arguments read from replicas (`--ha patroni --replica-reads on|read-your-writes`):
// that is when a replica's lag reaches customers. The drill fixes the members' PostgreSQL ports
// (`--pg-ports`) and puts one proxy `replication:pgK` in front of each member; the shop's
// `--replication-via pgK=ADDR` makes it pgK's Patroni connect_address, the address the other members stream
// WAL from (and clone from) while pgK leads. So `replication:pg1` is the first primary's outgoing replication
// link: a latency toxic on its downstream holds back the WAL every replica of pg1 receives. (A link per
// replica is not possible with Patroni 3.0: it drops host and port from a member's own replication
// settings.) The links follow a failover: the new leader's replicas stream through its own proxy.
//
// Thread-safety: none (the drill's thread, before the shop starts).
#pragma once

#include <boost/json/array.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chaos/proxy_server.h"

namespace stampede::drill {

// The last value given to `--name` in `stampede shop` arguments (as "--name V" or "--name=V"), as the
// shop's parser keeps it.
std::optional<std::string> shop_flag_value(const std::vector<std::string>& args, const std::string& name);

// The shop flags for the links (empty when the arguments do not read from replicas); adds the proxies to
// `proxies` and their entries ({name, from, to, listen, upstream}) to `links`. Throws std::invalid_argument
// for a --replicas it cannot read.
std::vector<std::string> add_replication_links(const std::vector<std::string>& shop_args,
                                               chaos::proxy_server& proxies, boost::json::array& links);

}  // namespace stampede::drill
