// chaos::proxy_server: named TCP fault proxies (Toxiproxy model) and their io threads.
//
// Concurrency model: one io_context run by options.threads threads; a strand per proxy listener and a
// strand per connection. Each connection is two pumps (client->upstream = "upstream",
// upstream->client = "downstream"), each a reader and a writer coroutine joined by a bounded queue,
// plus one supervisor coroutine that enforces deadlines (connect, idle, write stall, timed toxics).
// With one io thread, connections with no toxic leave Asio for the server's own epoll set, and the io
// thread runs its own loop around it and Asio's reactor (chaos/io_loop.h; server_options::own_loop).
// What each toxic does lives in its own unit (chaos/toxics/); the pumps only ask the units
// (chaos/connection.h states the lifetime rule of per-connection toxic state).
//
// Control plane never waits on the data plane: toxics live in an immutable snapshot per proxy that
// control calls replace under a short mutex and then *post* a wake-up to each connection's strand.
// Nothing in the control path blocks on a socket or on a connection's progress, so removing a toxic
// under traffic, reset() and heal_all() return in bounded time (Toxiproxy #558/#760 cannot happen).
// The one bounded wait: disabling or removing a proxy waits up to 1 s for its listener to close so
// that "connect refused" is guaranteed when the call returns.
//
// Thread-safety: every public member function is safe to call from any thread, concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "chaos/injection_log.h"
#include "chaos/toxic.h"

namespace stampede::chaos {

enum class error_kind { invalid_argument, not_found, already_exists, io_error };

// Whether this build moves connections with no toxic into the proxy's own epoll set (CMake
// STAMPEDE_PROXY_EPOLL; chaos/connection_epoll.cpp).
bool epoll_set_enabled();

// Errors of the control API; `kind` maps to HTTP 400/404/409/500 in the Toxiproxy-compatible API.
class chaos_error : public std::runtime_error {
 public:
  chaos_error(error_kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  error_kind kind() const noexcept { return kind_; }

 private:
  error_kind kind_;
};

struct proxy_config {
  std::string name;
  std::string listen;     // "host:port"; port 0 = ephemeral (the chosen port is reported back)
  std::string upstream;   // "host:port", resolved when the proxy is created or updated
  bool enabled = true;
  size_t max_connections = 0;  // open connections at most (beyond: accepted and closed, counted);
                               // 0 = server_options::max_connections
};

struct toxic_counters {
  uint64_t injections = 0;    // connections that rolled the toxic (TCP) or requests hit (HTTP), chunks dropped...
};

struct proxy_info {
  proxy_config config;        // config.listen holds the bound address (real port)
  std::vector<toxic_spec> toxics;
  std::map<std::string, uint64_t> injections;   // toxic name -> injections so far (for live toxics)
  uint64_t connections_accepted = 0;
  uint64_t connections_active = 0;
  uint64_t connections_refused = 0;              // accepted but upstream unreachable
  uint64_t connections_rejected = 0;             // accepted and closed at once: over max_connections
  uint64_t bytes_upstream = 0;                   // forwarded client -> upstream
  uint64_t bytes_downstream = 0;                 // forwarded upstream -> client
  uint64_t received_upstream = 0;                // read from the client (toxics may hold or drop some)
  uint64_t received_downstream = 0;              // read from the upstream
  uint64_t bytes_spliced = 0;                    // forwarded by splice(2), zero copy (both directions)
};

struct server_options {
  int threads = 1;
  uint64_t seed = 1;                             // drives every random decision (see chaos/rng.h)
  size_t log_capacity = 10'000;                  // injections kept in memory (counters are exact)
  bool allow_remote = false;                     // false: proxies may listen on loopback only
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds idle_timeout{600'000};   // no byte either way for this long -> close
  std::chrono::milliseconds write_timeout{60'000};   // one write blocked this long -> close
  size_t max_queued_bytes = 1024 * 1024;         // per direction; the reader waits beyond (backpressure)
  // Per proxy (default for proxy_config::max_connections); beyond: accept and close at once, counted
  // as rejected (the first rejection is logged). Bounds what a loop through proxies we cannot see
  // (another process) can take: ~45 KB and 2 descriptors per connection.
  size_t max_connections = 4'096;
  // All proxies together; 0 = from RLIMIT_NOFILE at construction: (soft limit - 256) / 2, so that a
  // flood or a loop cannot take the descriptors the API and the rest of the process need.
  size_t max_total_connections = 0;
  // With one io thread (and a STAMPEDE_PROXY_EPOLL build), the io thread runs the proxy's own loop
  // (chaos/io_loop.h): one epoll_wait on the server's set, which holds the sockets with no toxic and
  // Asio's reactor. false, or STAMPEDE_PROXY_LOOP=0 in the environment, keeps io_context::run() with the
  // set nested in Asio's reactor (the A/B switch).
  bool own_loop = true;
  // Where the loop looks for Asio's reactor descriptor (fd/ and fdinfo/ below it). Not found: the
  // nested form, said once on stderr. Tests point it elsewhere to take that path.
  std::string proc_self = "/proc/self";
};

// How the io thread waits (proxy_server::io_wait_mode()).
enum class io_wait {
  own_loop,  // chaos/io_loop.h: epoll_wait on the server's set, Asio's reactor inside it
  nested,    // io_context::run(), the server's set nested in Asio's reactor
  asio,      // io_context::run(), no own set (several io threads, or no STAMPEDE_PROXY_EPOLL)
};

class proxy_server {
 public:
  explicit proxy_server(server_options options = {});
  ~proxy_server();  // closes every proxy and joins the threads (bounded)
  proxy_server(const proxy_server&) = delete;
  proxy_server& operator=(const proxy_server&) = delete;

  // Creates and (if enabled) starts listening. Throws chaos_error: already_exists, invalid_argument
  // (bad name/address, non-loopback listen without allow_remote, a proxy that would loop: its upstream
  // is its own listen address, or a cycle through other proxies of this server), io_error (bind failed).
  // A port-0 listen never picks the port of a loop: the kernel's choice is traded for another.
  proxy_info add_proxy(proxy_config config);
  // Create-or-replace: an existing proxy with the same listen+upstream is updated in place (enabled),
  // otherwise recreated. Returns the resulting proxies in input order. Stops at the first error.
  std::vector<proxy_info> populate(const std::vector<proxy_config>& configs);
  // Changes listen/upstream/enabled/max_connections. Changing listen or upstream restarts the proxy
  // (drops connections). A change that would make a loop is refused (invalid_argument), nothing changed.
  proxy_info update_proxy(std::string_view name, std::optional<std::string> listen,
                          std::optional<std::string> upstream, std::optional<bool> enabled,
                          std::optional<size_t> max_connections = std::nullopt);
  void remove_proxy(std::string_view name);  // closes the listener and all its connections
  void set_enabled(std::string_view name, bool enabled) { update_proxy(name, {}, {}, enabled); }

  std::optional<proxy_info> proxy(std::string_view name) const;
  std::vector<proxy_info> proxies() const;  // sorted by name

  // Toxics. add: already_exists if the name is taken; update: replaces the toxic's settings (the type
  // cannot change) and re-rolls its per-connection toxicity on live connections; remove: not_found.
  toxic_spec add_toxic(std::string_view proxy, toxic_spec toxic);
  toxic_spec update_toxic(std::string_view proxy, const toxic_spec& toxic);
  void remove_toxic(std::string_view proxy, std::string_view toxic);
  std::optional<toxic_spec> toxic(std::string_view proxy, std::string_view toxic) const;
  std::vector<toxic_spec> toxics(std::string_view proxy) const;

  // Removes all toxics and enables all proxies (Toxiproxy's POST /reset). Bounded time.
  void reset();
  // The "big red button": reset() and a wake-up of every connection so held data flows at once.
  // Never blocks on traffic; returns within about 1 s per proxy that had to be re-enabled (bind).
  void heal_all() { reset(); }

  // Injection log and counters.
  std::vector<injection> injections() const { return log_->entries(); }
  std::vector<injection> injections_after(uint64_t sequence) const { return log_->entries_after(sequence); }
  uint64_t injections_total() const { return log_->total(); }
  // Injections per "proxy/toxic" since start (including removed toxics).
  std::map<std::string, uint64_t> injection_counts() const;

  uint64_t seed() const noexcept { return options_.seed; }
  io_wait io_wait_mode() const noexcept;
  const server_options& options() const noexcept { return options_; }

  struct impl;  // internal (proxy_server.cpp)

 private:
  void make_own_set();

  server_options options_;
  std::shared_ptr<injection_log> log_;
  std::unique_ptr<impl> impl_;
};

}  // namespace stampede::chaos
