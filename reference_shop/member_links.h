// Addresses at which the Patroni members' other links cross fault proxies (`stampede drill` passes them for
// the partition game day, docs/DRILLS.md): besides `--replication-via` (replica_reads.h), per member pgK
//   --dcs-via pgK=HOST:PORT       pgK's Patroni reaches etcd there (its `etcd.host`, with `use_proxies`, so
//                                 python-etcd does not discover etcd's own address and go around the proxy);
//   --postgres-via pgK=HOST:PORT  the database HAProxy reaches pgK's PostgreSQL port there (the clients'
//   path);
//   --rest-via pgK=HOST:PORT      pgK's Patroni REST API as the database HAProxy's health checks and the
//   other
//                                 members reach it (its `restapi.connect_address`, the checks'
//                                 `addr`/`port`).
//   --etcd-port P, --rest-ports P1,P2,...  fix etcd's client port and the members' REST ports, so that the
//                                 proxies exist (and know their upstreams) before the shop starts.
// With all four behind proxies, cutting them cuts the member off from the DCS, the clients, the health
// checks and its replicas, while its processes keep running: a network partition of that machine.
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "reference_shop/options.h"

namespace stampede::shop {

struct member_link_options {
  std::map<std::string, std::string> dcs_via;       // member -> "host:port" in front of etcd's client port
  std::map<std::string, std::string> postgres_via;  // member -> "host:port" in front of its PostgreSQL port
  std::map<std::string, std::string> rest_via;      // member -> "host:port" in front of its REST API
  uint16_t etcd_port = 0;                           // etcd's client port (0: a free one)
  std::vector<uint16_t> rest_ports;                 // the members' REST ports in order (empty: free ones)
  bool empty() const noexcept {
    return dcs_via.empty() && postgres_via.empty() && rest_via.empty() && etcd_port == 0 &&
           rest_ports.empty();
  }
};

// `pg1=HOST:PORT,pg2=...` for the flag named `flag` (in errors). Throws std::invalid_argument naming it.
std::map<std::string, std::string> parse_member_addresses(std::string_view text, std::string_view flag);

// --dcs-via, --postgres-via, --rest-via, --etcd-port, --rest-ports (they need --ha patroni; members are
// checked against --replicas). Throws std::invalid_argument naming the flag.
member_link_options parse_member_link_options(const arg_list& a);

// "host", "port" of a "host:port" made by parse_member_addresses.
std::pair<std::string, uint16_t> split_member_address(const std::string& address);

}  // namespace stampede::shop
