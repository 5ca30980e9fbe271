#include "reference_shop/cache_tier.h"

#include <stdexcept>

namespace stampede::shop {

namespace json = boost::json;

cache_tier_options parse_cache_tier_options(const arg_list& a, const std::filesystem::path& data) {
  cache_tier_options o;
  o.data = data;
  o.kind = a.get("cache", "local");
  if (o.kind != "local" && o.kind != "redis") throw std::invalid_argument("--cache must be local or redis");
  o.redis_bin = a.get("redis-bin", default_redis_server_bin);
  o.maxmemory_mb = a.get_int("redis-maxmemory-mb", 64, 1, 1'048'576);
  o.respawn_ms = a.get("redis-respawn-ms") == "off" ? -1 : a.get_int("redis-respawn-ms", 1000, 0, 600'000);
  if (o.kind != "redis") {
    for (const char* flag : {"redis-bin", "redis-maxmemory-mb", "redis-respawn-ms"}) {
      if (a.has(flag)) throw std::invalid_argument(std::string{"--"} + flag + " needs --cache redis");
    }
  }
  if (o.kind == "redis") {
    redis_server_options ro;
    ro.bin = o.redis_bin;
    redis_server{ro}.check_binary();  // before anything starts: one line naming the package, exit 1
  }
  return o;
}

cache_tier::cache_tier(cache_tier_options options) : options_(std::move(options)) {
  if (options_.kind == "redis") {
    redis_server_options ro;
    ro.bin = options_.redis_bin;
    ro.dir = options_.data / "redis";
    ro.maxmemory_mb = options_.maxmemory_mb;
    ro.port = options_.port;
    server_ = std::make_unique<redis_server>(ro);
  }
}

cache_tier::~cache_tier() = default;

pid_t cache_tier::start() {
  if (!server_) return -1;
  const pid_t pid = server_->start();
  server_->release();
  return pid;
}

pid_t cache_tier::restart() {
  if (!server_) throw std::logic_error("cache_tier::restart without Redis");
  return start();
}

std::vector<std::string> cache_tier::node_args() const {
  if (!server_) return {"--cache", "local"};
  return {"--cache", "redis", "--redis", "127.0.0.1:" + std::to_string(server_->port())};
}

// The password travels in the environment, not on command lines that every user can read in ps.
std::vector<std::pair<std::string, std::string>> cache_tier::node_env() const {
  if (!server_) return {};
  return {{"STAMPEDE_REDIS_PASSWORD", server_->password()}};
}

json::object cache_tier::topology(pid_t pid) const {
  if (!server_) return {};
  return json::object{{"name", "redis"},
                      {"pid", pid},
                      {"port", server_->port()},
                      // A password made for this run, as the admin token next to it.
                      {"url", "redis://:" + server_->password() + "@127.0.0.1:" + std::to_string(server_->port())},
                      {"log", server_->log_path().string()},
                      {"maxmemory_mb", server_->options().maxmemory_mb},
                      {"maxmemory_policy", server_->options().maxmemory_policy},
                      {"respawn_ms", options_.respawn_ms}};
}

}  // namespace stampede::shop
