#include "chaos/endpoints.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <boost/asio/ip/address.hpp>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "chaos/proxy_server.h"

namespace stampede::chaos {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

host_port parse_endpoint(std::string_view text, std::string_view what) {
  try {
    return parse_host_port(text, what, {.default_host = "127.0.0.1", .port_zero_allowed = true});
  } catch (const std::invalid_argument& e) {
    throw chaos_error(error_kind::invalid_argument, e.what());
  }
}

std::vector<tcp::endpoint> resolve(asio::io_context& io, std::string_view text, std::string_view what) {
  const host_port address = parse_endpoint(text, what);
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results =
      resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw chaos_error(error_kind::invalid_argument,
                      std::string(what) + " '" + std::string(text) + "' cannot be resolved: " + ec.message());
  }
  std::vector<tcp::endpoint> out;
  for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto address = ep.address();
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(ep.port());
  return address.to_string() + ":" + std::to_string(ep.port());
}

namespace {

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

bool is_local_address(const asio::ip::address& address) {
  const auto a = unmapped(address);
  if (a.is_loopback() || a.is_unspecified()) return true;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  const std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> guard(list, &::freeifaddrs);
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET && a.is_v4()) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      if (asio::ip::address_v4(ntohl(in->sin_addr.s_addr)) == a.to_v4()) return true;
    } else if (i->ifa_addr->sa_family == AF_INET6 && a.is_v6()) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), in6->sin6_addr.s6_addr, bytes.size());
      if (asio::ip::address_v6(bytes) == a.to_v6()) return true;
    }
  }
  return false;
}

bool arrives_at(const tcp::endpoint& target, const tcp::endpoint& listen) {
  if (target.port() != listen.port()) return false;
  auto to = unmapped(target.address());
  const auto at = unmapped(listen.address());
  if (to.is_unspecified()) {  // Linux connects "any" to loopback
    to = to.is_v4() ? asio::ip::address(asio::ip::address_v4::loopback())
                    : asio::ip::address(asio::ip::address_v6::loopback());
  }
  if (to == at) return true;
  if (!at.is_unspecified()) return false;
  if (at.is_v4() && !to.is_v4()) return false;  // 0.0.0.0 takes IPv4 only; :: takes both
  return is_local_address(to);
}

}  // namespace stampede::chaos
