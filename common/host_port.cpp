#include "common/host_port.h"

#include <boost/asio/ip/address_v6.hpp>
#include <stdexcept>

namespace stampede {

namespace {

// Host names as RFC 1123 writes them, plus '_' (container and service names); IPv4 literals are names too.
bool valid_name(std::string_view host) {
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

host_port parse_host_port(std::string_view text, std::string_view what, const host_port_rules& rules) {
  auto fail = [&](std::string_view problem) {
    throw std::invalid_argument(std::string(what) + " '" + std::string(text) + "' " + std::string(problem));
  };
  if (text.find("://") != std::string_view::npos) fail("must be host:port, not a URL");
  std::string_view host, port_text;
  const bool bracketed = text.starts_with('[');
  if (bracketed) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) fail("has a bad host (no ']' after the IPv6 address)");
    if (close + 2 > text.size() || text[close + 1] != ':' || close + 2 == text.size())
      fail("must be host:port");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) fail("must be host:port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) fail("needs brackets around an IPv6 address ([::1]:8080)");
  }

  const char* port_range =
      rules.port_zero_allowed ? "has a bad port (0 to 65535)" : "has a bad port (1 to 65535)";
  unsigned long port = 0;
  if (port_text.size() > 5) fail(port_range);
  for (char c : port_text) {
    if (c < '0' || c > '9') fail(port_range);
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (port > 65535 || (port == 0 && !rules.port_zero_allowed)) fail(port_range);

  host_port out;
  out.port = static_cast<uint16_t>(port);
  if (bracketed) {
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address_v6(std::string(host), ec);
    if (ec) fail("has a bad host (not an IPv6 address in the brackets)");
    out.host = host;
  } else if (host.empty()) {
    if (rules.default_host.empty()) fail("has no host");
    out.host = rules.default_host;
  } else {
    if (!valid_name(host)) fail("has a bad host");
    out.host = host;
  }
  return out;
}

std::string to_string(const host_port& address) {
  const std::string port = std::to_string(address.port);
  if (address.host.find(':') != std::string::npos) return "[" + address.host + "]:" + port;
  return address.host + ":" + port;
}

}  // namespace stampede
