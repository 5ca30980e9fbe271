// A small synchronous Redis client for the shop's cache tier (hiredis), shared by one node's threads:
// - a pool of at most `pool_size` connections, opened on demand; a caller that finds none free waits at
//   most `pool_wait`, then gets error_kind::pool_busy;
// - every call bounded: connect timeout, a command timeout on the socket (SO_RCVTIMEO/SO_SNDTIMEO), so a
//   paused or slow Redis costs a caller at most connect_timeout + command_timeout;
// - errors classified by kind (connect, timeout, closed, io, protocol, reply, auth, pool_busy) and counted;
// - a circuit: after a failure that says Redis is unreachable, calls fail at once (error_kind::down, not
//   counted as an error) until a backoff has passed (backoff_initial doubling to backoff_max, jittered);
//   then one call at a time probes with a fresh connection, and the first success closes the circuit.
//   So a dead Redis costs one timeout per backoff period, not one per request.
//
// Thread-safety: all members are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace stampede::shop::redis {

enum class error_kind { connect, timeout, closed, io, protocol, reply, auth, pool_busy, down };
inline constexpr std::array<error_kind, 8> counted_error_kinds{
    error_kind::connect, error_kind::timeout, error_kind::closed,   error_kind::io,
    error_kind::protocol, error_kind::reply,  error_kind::auth, error_kind::pool_busy};
std::string_view to_string(error_kind kind) noexcept;

class error : public std::runtime_error {
 public:
  error(error_kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  error_kind kind() const noexcept { return kind_; }

 private:
  error_kind kind_;
};

struct reply {
  enum class type { nil, string, integer, status, array };
  type kind = type::nil;
  std::string text;  // string and status
  int64_t integer = 0;
  std::vector<reply> elements;
  bool nil() const noexcept { return kind == type::nil; }
};

struct client_options {
  std::string host = "127.0.0.1";  // an IP literal (no name lookups on the request path)
  uint16_t port = 6379;
  std::string password;  // empty: no AUTH
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds command_timeout{100};
  std::chrono::milliseconds pool_wait{100};
  int pool_size = 8;
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
};

struct client_stats {
  std::array<uint64_t, counted_error_kinds.size()> errors{};  // by counted_error_kinds
  uint64_t commands = 0;     // answered (including error replies)
  uint64_t connections = 0;  // opened
  uint64_t reconnects = 0;   // circuit closed again after a failure
  uint64_t skipped = 0;      // calls refused at once while the circuit was open
  bool up = true;            // false while the circuit is open or probing
};

class client {
 public:
  explicit client(client_options options);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Runs one command. An error reply (e.g. WRONGTYPE) throws error_kind::reply and keeps the connection;
  // any other failure throws its kind and closes the connection. Never blocks longer than pool_wait +
  // connect_timeout + command_timeout (plus AUTH on a new connection: another command_timeout).
  reply command(std::span<const std::string_view> args);
  reply command(std::initializer_list<std::string_view> args) {
    return command(std::span<const std::string_view>(args.begin(), args.size()));
  }

  // False while the circuit is open: calls would fail at once with error_kind::down.
  bool available() const;
  client_stats stats() const;
  const client_options& options() const noexcept { return options_; }

 private:
  struct context_deleter {
    void operator()(redisContext* c) const noexcept;
  };
  using context = std::unique_ptr<redisContext, context_deleter>;

  context acquire(bool& probe);
  context connect();
  void give_back(context c) noexcept;
  void succeeded(bool probe) noexcept;
  void failed(error_kind kind, bool probe) noexcept;
  void count(error_kind kind) noexcept;

  const client_options options_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<context> idle_;
  int open_ = 0;  // idle + on loan + being connected
  bool failing_ = false;
  bool probing_ = false;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_;
  std::array<std::atomic<uint64_t>, counted_error_kinds.size()> errors_{};
  std::atomic<uint64_t> commands_{0}, connections_{0}, reconnects_{0}, skipped_{0};
};

}  // namespace stampede::shop::redis
