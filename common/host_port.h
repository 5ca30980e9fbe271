// "host:port" as users write it in flags and configuration, parsed in one place for the code base: a host
// name or IPv4 literal ("127.0.0.1:8080", "shop.test:80"), or an IPv6 literal in brackets ("[::1]:8080"),
// then a decimal port.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace stampede {

struct host_port {
  std::string host;  // without brackets: "::1"
  uint16_t port = 0;
};

struct host_port_rules {
  std::string_view default_host;   // what an empty host (":8080") means; empty: a host is required
  bool port_zero_allowed = false;  // listen addresses: 0 picks a free port
};

// Parses `text`. Throws std::invalid_argument naming `what` (the flag or field: "--payment", "upstream")
// and the text: "<what> '<text>' must be host:port" (no port; or a URL), "... has a bad port (1 to 65535)",
// "... has no host", "... has a bad host", or, for an IPv6 address without brackets, "... needs brackets
// around an IPv6 address ([::1]:8080)".
host_port parse_host_port(std::string_view text, std::string_view what, const host_port_rules& rules = {});

// "host:port", the IPv6 host in brackets: what parse_host_port reads back.
std::string to_string(const host_port& address);

}  // namespace stampede
