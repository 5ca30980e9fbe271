#include "reference_shop/data_links.h"

#include <stdexcept>

#include "common/host_port.h"

namespace stampede::shop {

namespace {

// A comma-separated list of HOST:PORT, one per node, each checked by the one host:port parser.
std::vector<std::string> via_list(const arg_list& a, const char* flag, int64_t nodes) {
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
  if (static_cast<int64_t>(out.size()) != nodes) throw std::invalid_argument(what + " needs one address per node");
  return out;
}

// "postgresql://USER[:PW]@HOST:PORT/DB" with HOST:PORT replaced by `address`.
std::string with_address(const std::string& url, const std::string& address) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t host = at != std::string::npos ? at + 1 : (scheme == std::string::npos ? 0 : scheme + 3);
  const size_t end = url.find('/', host);
  return url.substr(0, host) + address + (end == std::string::npos ? "" : url.substr(end));
}

}  // namespace

data_link_options parse_data_link_options(const arg_list& a, int64_t nodes, const std::string& db_kind,
                                          const std::string& cache_kind) {
  data_link_options o;
  o.db_port = static_cast<uint16_t>(a.get_int("db-port", 0, 0, 65535));
  o.redis_port = static_cast<uint16_t>(a.get_int("redis-port", 0, 0, 65535));
  o.db_via = via_list(a, "db-via", nodes);
  o.redis_via = via_list(a, "redis-via", nodes);
  if (db_kind != "postgres" && (a.has("db-port") || a.has("db-via"))) {
    throw std::invalid_argument(std::string{a.has("db-port") ? "--db-port" : "--db-via"} + " needs --db postgres");
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
    if (argv[k] == "--db-shards" && i < links.db_via.size()) {  // --shards: shard 0's link (its --db-url)
      const size_t comma = argv[k + 1].find(',');
      argv[k + 1] = with_address(argv[k + 1].substr(0, comma), links.db_via[i]) + argv[k + 1].substr(comma);
    }
  }
}

}  // namespace stampede::shop
