// One redis-server (Redis 7, Debian's `redis-server` package) on 127.0.0.1 as the shop's cache tier,
// run by the supervisor (`stampede shop --cache redis`) or by a test.
//
// Configuration (written to DIR/redis.conf, mode 0600, because it holds the password):
// - bind 127.0.0.1, protected-mode yes, requirepass (random per server object), no unix socket;
// - no persistence (`save ""`, appendonly no): the cache is rebuilt from the database, so a restart
//   starts empty, as a lost cache node does;
// - maxmemory (default 64 MB) with maxmemory-policy allkeys-lru. Why: every key is derived data with a
//   TTL, so under memory pressure the least recently used can always go. noeviction would turn memory
//   pressure into failed writes, and volatile-ttl would evict the shortest TTLs first, which are the
//   rebuild locks (the stampede protection) rather than cold pages.
// The log goes to DIR/redis.log. The child gets PR_SET_PDEATHSIG (SIGKILL) from the thread that starts it,
// so start() must be called from a thread that outlives the server (the supervisor's, a test's main).
//
// Thread-safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace stampede::shop {

inline constexpr const char* default_redis_server_bin = "/usr/bin/redis-server";

struct redis_server_options {
  std::string bin = default_redis_server_bin;
  std::filesystem::path dir;  // created if missing
  uint16_t port = 0;          // 0: a free one (another is tried if it was taken in between)
  int64_t maxmemory_mb = 64;
  std::string maxmemory_policy = "allkeys-lru";
};

class redis_server {
 public:
  explicit redis_server(redis_server_options options);
  ~redis_server();  // stop()
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  // Throws std::runtime_error with one line naming the Debian package when the binary is missing.
  void check_binary() const;
  // Starts the server (again on the same port after the first start) and waits until it answers PING
  // (std::runtime_error with the end of its log when it exits or `timeout` passes). Returns its pid.
  pid_t start(std::chrono::milliseconds timeout = std::chrono::seconds{10});
  // SIGTERM, SIGKILL after `grace`; waits for the process.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds{5});
  // Hands the process over: the caller (a supervisor that reaps its children) stops and reaps it.
  void release() noexcept { pid_ = -1; }

  pid_t pid() const noexcept { return pid_; }
  uint16_t port() const noexcept { return port_; }
  const std::string& password() const noexcept { return password_; }
  const redis_server_options& options() const noexcept { return options_; }
  std::filesystem::path log_path() const { return options_.dir / "redis.log"; }
  std::string log_tail(size_t lines = 6) const;

 private:
  void write_config() const;
  pid_t launch() const;

  redis_server_options options_;
  std::string password_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace stampede::shop
