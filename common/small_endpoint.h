// The server options of a small endpoint beside a run (--metrics-listen, --dashboard): one thread, at most 16
// connections and 4 pipelined requests, 8 kB heads and 1 kB bodies, 5 s to send a head or a body, 30 s idle;
// writes bounded by `write_timeout` (a client that never reads holds a connection that long, never the run).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "common/http_server.h"

namespace stampede::http {

inline server_options small_endpoint_options(
    std::string address, uint16_t port, std::chrono::milliseconds write_timeout = std::chrono::seconds(10)) {
  server_options options;
  options.address = std::move(address);
  options.port = port;
  options.threads = 1;
  options.limits.max_header_bytes = 8 * 1024;
  options.limits.max_body_bytes = 1024;
  options.header_timeout = std::chrono::seconds(5);
  options.body_timeout = std::chrono::seconds(5);
  options.idle_timeout = std::chrono::seconds(30);
  options.write_timeout = write_timeout;
  options.max_connections = 16;
  options.max_pipelined = 4;
  return options;
}

}  // namespace stampede::http
