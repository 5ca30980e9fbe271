// What the parts of the fault proxy share (proxy_server.cpp, connection.cpp): a toxic's runtime
// version, the snapshot of a proxy's toxics, the injection recorder and the state of one proxy.
// Internal: not for use outside chaos/. Thread-safety is stated per type.
#pragma once

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chaos/injection_log.h"
#include "chaos/proxy_server.h"
#include "common/epoll_set.h"

namespace stampede::chaos {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Completion of co_spawn: a coroutine must not end in an exception; if one does, say so.
void report_exception(std::exception_ptr e);

// One version of one toxic, shared read-only by all connections of a proxy (the first_n budget is an
// atomic shared across versions of the same toxic).
struct toxic_runtime {
  toxic_spec spec;
  uint64_t version = 1;  // per-name update count: part of every random decision's derivation
  uint64_t name_hash = 0;
  std::shared_ptr<std::atomic<int64_t>> first_n_used;
};

// A proxy's toxics at one moment. Immutable once published.
struct toxic_snapshot {
  std::vector<std::shared_ptr<const toxic_runtime>> toxics;  // add order
  bool has_http = false;
};

// Injection log plus per "proxy/toxic" counters. Thread-safe.
struct recorder {
  std::shared_ptr<injection_log> log;
  steady::time_point start = steady::now();
  mutable std::mutex mutex;
  std::map<std::string, uint64_t> counts;

  void record(std::string_view proxy, std::string_view toxic, std::string_view type,
              std::string_view direction, uint64_t connection, uint64_t request, std::string detail);
  // A proxy-level event (no toxic, not counted as an injection), e.g. "rejected".
  void note(std::string_view proxy, std::string_view type, std::string detail);
  uint64_t count(std::string_view proxy, std::string_view toxic) const;
};

class connection;
class io_loop;

// State shared by a proxy's listener and its connections; outlives the proxy while connections live.
// Thread-safety: atomics and the mutex-guarded members may be used from any thread; the rest is set
// before the proxy starts and then only read.
struct proxy_shared {
  std::string name;
  uint64_t seed = 0;
  server_options options;
  std::shared_ptr<recorder> rec;
  asio::io_context* io = nullptr;
  std::atomic<size_t> max_connections{0};                // this proxy's cap (config or server default)
  std::shared_ptr<std::atomic<uint64_t>> server_active;  // connections of every proxy of the server
  size_t server_max_connections = 0;                     // the server's cap (descriptor budget)
  // Splice pipes open across the server: two descriptors each, as a connection, so they count against
  // server_max_connections (accepting a connection and opening a pipe both check the sum).
  std::shared_ptr<std::atomic<uint64_t>> server_pipes = std::make_shared<std::atomic<uint64_t>>(0);

  std::atomic<uint64_t> generation{1};
  mutable std::mutex mutex;  // guards snapshot, upstream, toxics, connections
  std::shared_ptr<const toxic_snapshot> snapshot = std::make_shared<toxic_snapshot>();
  std::vector<tcp::endpoint> upstream;
  std::vector<std::shared_ptr<const toxic_runtime>> toxics;  // in add order
  std::unordered_map<uint64_t, std::weak_ptr<connection>> connections;

  std::atomic<uint64_t> next_connection{0};
  std::atomic<uint64_t> accepted{0}, active{0}, refused{0}, rejected{0}, bytes_up{0}, bytes_down{0};
  std::atomic<bool> rejection_reported{false};
  std::atomic<uint64_t> received_up{0}, received_down{0};  // read from the source, before any toxic
  std::atomic<uint64_t> spliced{0};                        // forwarded by splice(2), both directions
  std::atomic<int64_t> timer_lateness_ns{0};               // how late a toxic's timer fires (running mean)
  // The server's own epoll set for connections with no toxic (connection_epoll.cpp), shared by all its
  // proxies; null with several io threads or without STAMPEDE_PROXY_EPOLL. Used on the io thread only.
  std::shared_ptr<epoll_set> set;
  // The io thread's own loop (io_loop.h), or null when the io thread runs io_context::run().
  std::shared_ptr<io_loop> loop;

  // After posting to the io thread from another thread: wakes the own loop, which would not see the
  // post otherwise (io_loop.h). No-op without the loop.
  void kick() const;

  std::shared_ptr<const toxic_snapshot> current() const {
    std::lock_guard lock(mutex);
    return snapshot;
  }
  std::vector<tcp::endpoint> upstream_endpoints() const {
    std::lock_guard lock(mutex);
    return upstream;
  }
  // Publishes `toxics` (mutex held by caller) and returns the connections to wake.
  std::vector<std::shared_ptr<connection>> publish_locked();
  // The live connections (e.g. to close them).
  std::vector<std::shared_ptr<connection>> live_connections() const;
};

}  // namespace stampede::chaos
