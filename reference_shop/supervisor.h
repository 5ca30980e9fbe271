// `stampede shop`: starts a whole shop on 127.0.0.1 (payment emulator, N shop nodes, HAProxy in front),
// writes the topology JSON, prints the entry URL, reports children that die, and stops everything on
// SIGINT/SIGTERM. Children get PR_SET_PDEATHSIG so that none outlives the supervisor, even if it is
// SIGKILLed. `stampede shop seed --scale S --data DIR` seeds a database without starting anything.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stampede::shop {

// HAProxy configuration for the shop (pure function, tested on its own).
struct haproxy_config {
  std::string balance = "roundrobin";  // roundrobin|leastconn|source|uri|random|first
  uint16_t frontend_port = 0;
  uint16_t stats_port = 0;    // Prometheus exporter (/metrics) and stats page (/stats)
  uint16_t runtime_port = 0;  // runtime API (admin level), loopback only
  struct server {
    std::string name;
    std::string host = "127.0.0.1";  // where HAProxy reaches the node (a fault proxy in drills)
    uint16_t port = 0;
    int weight = 100;
  };
  std::vector<server> servers;
};
std::string render_haproxy_config(const haproxy_config& config);
bool valid_balance(std::string_view algorithm);

int supervisor_command(std::span<char* const> args);

}  // namespace stampede::shop
