#include "reference_shop/member_links.h"

#include <algorithm>
#include <stdexcept>

#include "common/host_port.h"

namespace stampede::shop {

std::map<std::string, std::string> parse_member_addresses(std::string_view text, std::string_view flag) {
  std::map<std::string, std::string> out;
  const std::string name{flag};
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const size_t eq = item.find('=');
    const std::string_view member = item.substr(0, eq);
    if (eq == std::string_view::npos || member.size() < 3 || member.size() > 4 ||
        member.substr(0, 2) != "pg" || member.find_first_not_of("0123456789", 2) != std::string_view::npos) {
      throw std::invalid_argument(name + " takes MEMBER=HOST:PORT,... with members pg1, pg2, ... (got '" +
                                  std::string{item} + "')");
    }
    const auto hp = parse_host_port(item.substr(eq + 1), name);  // throws std::invalid_argument
    out[std::string{member}] = to_string(hp);
  }
  return out;
}

member_link_options parse_member_link_options(const arg_list& a) {
  member_link_options o;
  if (a.has("dcs-via")) o.dcs_via = parse_member_addresses(a.get("dcs-via"), "--dcs-via");
  if (a.has("postgres-via")) o.postgres_via = parse_member_addresses(a.get("postgres-via"), "--postgres-via");
  if (a.has("rest-via")) o.rest_via = parse_member_addresses(a.get("rest-via"), "--rest-via");
  o.etcd_port = static_cast<uint16_t>(a.get_int("etcd-port", 0, 0, 65535));
  const std::string ports = a.get("rest-ports");  // get() returns a copy
  for (size_t start = 0; start < ports.size();) {
    const size_t comma = std::min(ports.find(',', start), ports.size());
    const std::string p = ports.substr(start, comma - start);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(p) < 1 || std::stoi(p) > 65535) {
      throw std::invalid_argument("--rest-ports are ports 1..65535");
    }
    o.rest_ports.push_back(static_cast<uint16_t>(std::stoi(p)));
    start = comma + 1;
  }
  if (o.empty()) return o;
  if (a.get("ha", "none") != "patroni") {
    throw std::invalid_argument(
        "--dcs-via, --postgres-via, --rest-via, --etcd-port and --rest-ports need --ha patroni");
  }
  const int64_t members = a.get_int("replicas", 2, 0, 8) + 1;
  if (!o.rest_ports.empty() && static_cast<int64_t>(o.rest_ports.size()) != members) {
    throw std::invalid_argument("--rest-ports needs one port per member (--replicas + 1)");
  }
  for (const auto* links : {&o.dcs_via, &o.postgres_via, &o.rest_via}) {
    for (const auto& [member, via] : *links) {
      if (std::stoi(member.substr(2)) < 1 || std::stoi(member.substr(2)) > members) {
        throw std::invalid_argument(member + " is not a member (pg1..pg" + std::to_string(members) +
                                    ") in --dcs-via, --postgres-via or --rest-via");
      }
    }
  }
  return o;
}

std::pair<std::string, uint16_t> split_member_address(const std::string& address) {
  const auto hp = parse_host_port(address, "member address");
  return {hp.host, hp.port};
}

}  // namespace stampede::shop
