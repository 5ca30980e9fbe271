#include "reference_shop/data_links.h"

#include <stdexcept>

#include "common/host_port.h"

namespace stampede::shop {

namespace {

// A comma-separated list of HOST:PORT, `count` of them, each checked by the one host:port parser.
std::vector<std::string> addresses(const arg_list& a, const char* flag, int64_t count, const char* needs) {
  std::vector<std::string> out;
  if (!a.has(flag)) return out;
  const std::string text = a.get(flag);
  const std::string what = std::string{"--"} + flag;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(to_string(parse_host_port(text.substr(start, comma - start), what)));
    start = comma + 1;
  }
  if (static_cast<int64_t>(out.size()) != count) throw std::invalid_argument(what + " needs " + needs);
  return out;
}

std::vector<std::string> via_list(const arg_list& a, const char* flag, int64_t nodes) {
  return addresses(a, flag, nodes, "one address per node");
}

// --db-shard-ports: K - 1 ports, 1..65535.
std::vector<uint16_t> shard_ports(const arg_list& a, int64_t shards) {
  std::vector<uint16_t> out;
  if (!a.has("db-shard-ports")) return out;
  const std::string text = a.get("db-shard-ports");
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string p = text.substr(start, comma - start);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(p) < 1 || std::stoi(p) > 65535) {
      throw std::invalid_argument("--db-shard-ports are ports 1..65535 (got '" + p + "')");
    }
    out.push_back(static_cast<uint16_t>(std::stoi(p)));
    start = comma + 1;
  }
  if (static_cast<int64_t>(out.size()) != shards - 1) {
    throw std::invalid_argument("--db-shard-ports needs one port per shard after shard 0 (--shards - 1)");
  }
  return out;
}

// Replaces the host:port of the `index`-th URL of a comma-separated list.
std::string with_shard_address(const std::string& urls, size_t index, const std::string& address);

// "postgresql://USER[:PW]@HOST:PORT/DB" with HOST:PORT replaced by `address`.
std::string with_address(const std::string& url, const std::string& address) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t host = at != std::string::npos ? at + 1 : (scheme == std::string::npos ? 0 : scheme + 3);
  const size_t end = url.find('/', host);
  return url.substr(0, host) + address + (end == std::string::npos ? "" : url.substr(end));
}

std::string with_shard_address(const std::string& urls, size_t index, const std::string& address) {
  size_t start = 0;
  for (size_t n = 0; n < index; ++n) {
    start = urls.find(',', start);
    if (start == std::string::npos) return urls;  // fewer URLs than shards: nothing to route
    ++start;
  }
  const size_t end = std::min(urls.find(',', start), urls.size());
  return urls.substr(0, start) + with_address(urls.substr(start, end - start), address) + urls.substr(end);
}

}  // namespace

data_link_options parse_data_link_options(const arg_list& a, int64_t nodes, const std::string& db_kind,
                                          const std::string& cache_kind, int64_t shards) {
  data_link_options o;
  o.db_port = static_cast<uint16_t>(a.get_int("db-port", 0, 0, 65535));
  o.redis_port = static_cast<uint16_t>(a.get_int("redis-port", 0, 0, 65535));
  o.db_via = via_list(a, "db-via", nodes);
  o.redis_via = via_list(a, "redis-via", nodes);
  if (db_kind != "postgres" && (a.has("db-port") || a.has("db-via"))) {
    throw std::invalid_argument(std::string{a.has("db-port") ? "--db-port" : "--db-via"} + " needs --db postgres");
  }
  if (shards < 2 && (a.has("db-shard-ports") || a.has("db-shard-via"))) {
    throw std::invalid_argument(std::string{a.has("db-shard-ports") ? "--db-shard-ports" : "--db-shard-via"} +
                                " needs --shards 2 or more");
  }
  o.db_shard_ports = shard_ports(a, shards);
  if (a.has("db-shard-via")) {
    const auto all =
        addresses(a, "db-shard-via", (shards - 1) * nodes,
                  "one address per node for each shard after shard 0 ((--shards - 1) x --nodes)");
    for (int64_t s = 1; s < shards; ++s) {
      const auto first = all.begin() + (s - 1) * nodes;
      o.db_shard_via.emplace_back(first, first + nodes);
    }
  }
  if (cache_kind != "redis" && (a.has("redis-port") || a.has("redis-via"))) {
    throw std::invalid_argument(std::string{a.has("redis-port") ? "--redis-port" : "--redis-via"} +
                                " needs --cache redis");
  }
  return o;
}

void route_node_links(std::vector<std::string>& argv, const data_link_options& links, int64_t index) {
  const auto i = static_cast<size_t>(index - 1);
  for (size_t k = 0; k + 1 < argv.size(); ++k) {
    if (argv[k] == "--db-url" && i < links.db_via.size()) argv[k + 1] = with_address(argv[k + 1], links.db_via[i]);
    if (argv[k] == "--redis" && i < links.redis_via.size()) argv[k + 1] = links.redis_via[i];
    if (argv[k] != "--db-shards") continue;
    if (i < links.db_via.size()) argv[k + 1] = with_shard_address(argv[k + 1], 0, links.db_via[i]);
    for (size_t s = 0; s < links.db_shard_via.size(); ++s) {
      if (i < links.db_shard_via[s].size()) {
        argv[k + 1] = with_shard_address(argv[k + 1], s + 1, links.db_shard_via[s][i]);
      }
    }
  }
}

}  // namespace stampede::shop
