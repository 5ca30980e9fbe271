// The shop's cache tier as the supervisor runs it (`stampede shop --cache local|redis`): nothing for the
// nodes' own in-process caches, or one redis-server (redis_server.h) in DIR/redis shared by every node.
// The supervisor starts it before the nodes, watches and reaps its process with its other children
// (role "cache", name "redis": chaos node faults target it by that name through the topology), starts it
// again on the same port --redis-respawn-ms after it died, and stops it with the rest.
//
// Thread-safety: one owner thread (the supervisor's).
#pragma once

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "reference_shop/options.h"
#include "reference_shop/redis_server.h"

namespace stampede::shop {

struct cache_tier_options {
  std::string kind = "local";  // local | redis
  std::filesystem::path data;  // the shop's data directory
  std::string redis_bin = default_redis_server_bin;
  int64_t maxmemory_mb = 64;
  int64_t respawn_ms = 1000;  // < 0: a Redis that died stays down
  uint16_t port = 0;          // 0: a free one (--redis-port fixes it, for a fault proxy in front)
};

// --cache, --redis-bin, --redis-maxmemory-mb, --redis-respawn-ms MS|off; std::invalid_argument naming
// the flag.
cache_tier_options parse_cache_tier_options(const arg_list& args, const std::filesystem::path& data);

class cache_tier {
 public:
  explicit cache_tier(cache_tier_options options);
  ~cache_tier();

  bool redis() const noexcept { return server_ != nullptr; }
  // Redis: starts the server and hands its process over (the caller reaps and stops it); returns its pid.
  // Local: nothing, -1. Throws std::runtime_error with one line (a missing binary names the package).
  pid_t start();
  // The server again on the same port, after its process died; returns the new pid.
  pid_t restart();
  // Node flags (`--cache redis --redis 127.0.0.1:PORT`, or `--cache local`) and environment (the password).
  std::vector<std::string> node_args() const;
  std::vector<std::pair<std::string, std::string>> node_env() const;
  // The topology's `redis` entry: {name, pid, port, url, log, maxmemory_mb, maxmemory_policy}.
  boost::json::object topology(pid_t pid) const;
  uint16_t port() const noexcept { return server_ ? server_->port() : 0; }
  std::chrono::milliseconds respawn_delay() const noexcept { return std::chrono::milliseconds{options_.respawn_ms}; }

 private:
  cache_tier_options options_;
  std::unique_ptr<redis_server> server_;
};

}  // namespace stampede::shop
