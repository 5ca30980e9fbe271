// A request URL, parsed by Boost.URL into what the engine needs: scheme, host, port and request-target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stampede::loadgen {

struct origin_pool;

// Relative URLs ("/x?y") take scheme, host and port from the base (the run's target).
struct parsed_url {
  bool tls = false;
  std::string host;  // without brackets for an IPv6 literal; never resolved here
  uint16_t port = 80;
  std::string path;                // request-target: path and query (the fragment is dropped), "/" when empty
  std::string origin_key() const;  // "http://host:port"
  // The Host header's value: brackets around an IPv6 literal, the port unless it is the scheme's default.
  void append_host_header(std::string& out) const;
  mutable origin_pool* pool = nullptr;  // filled by the engine on first use: later requests skip the lookup
};

// Parses http(s)://host[:port][/path][?query] or /path[?query] (relative to `base`). Characters a URL may
// not contain (a space, "|", "{", "[" in a query, a lone "%", non-ASCII) are percent-encoded first, as
// browsers do. Returns nullopt and sets `error` (naming the URL) otherwise: another scheme, credentials,
// a bad host or port, a relative URL without a base.
std::optional<parsed_url> parse_url(std::string_view url, const parsed_url* base, std::string& error);

}  // namespace stampede::loadgen
