// Addresses of the fault proxy: "host:port" parsing and resolution, and whether a connection to one
// endpoint would arrive at a listener on another (to refuse proxies that loop back to themselves).
// Thread-safety: free functions without shared state.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/host_port.h"

namespace stampede::chaos {

// Parses "host:port" / "[v6]:port" with common's parser: an empty host is 127.0.0.1, and port 0 is allowed
// (a listen address picks a free port). Throws chaos_error(invalid_argument) naming `what`.
host_port parse_endpoint(std::string_view text, std::string_view what);

// Resolves numerically-ported "host:port". Throws chaos_error(invalid_argument) naming `what`.
std::vector<boost::asio::ip::tcp::endpoint> resolve(boost::asio::io_context& io, std::string_view text,
                                                    std::string_view what);

// "127.0.0.1:8080" / "[::1]:8080".
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

// True if `address` belongs to this host: loopback, unspecified, or an address of one of its interfaces.
bool is_local_address(const boost::asio::ip::address& address);

// True if a connection to `target` would be accepted by a listener bound to `listen` on this host:
// same port and the same address, where 0.0.0.0 / :: as a listen address means every local address
// (:: also takes IPv4 unless v6-only), 0.0.0.0 / :: as a target means loopback (as Linux connects),
// and ::ffff:a.b.c.d is a.b.c.d.
bool arrives_at(const boost::asio::ip::tcp::endpoint& target, const boost::asio::ip::tcp::endpoint& listen);

}  // namespace stampede::chaos
