// The one host:port parser (common/host_port.h) on good and bad input with known answers.
#include "common/host_port.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace stampede {
namespace {

// The message of the std::invalid_argument that parsing `text` throws ("" when it parses).
std::string error_of(std::string_view text, const host_port_rules& rules = {}) {
  try {
    parse_host_port(text, "--flag", rules);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(host_port, ipv4_names_and_bracketed_ipv6) {
  auto a = parse_host_port("127.0.0.1:8080", "--flag");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  a = parse_host_port("shop_node-1.test:1", "--flag");
  EXPECT_EQ(a.host, "shop_node-1.test");
  EXPECT_EQ(a.port, 1);
  a = parse_host_port("[::1]:65535", "--flag");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 65535);
  a = parse_host_port("[::ffff:127.0.0.1]:80", "--flag");
  EXPECT_EQ(a.host, "::ffff:127.0.0.1");
  EXPECT_EQ(to_string(a), "[::ffff:127.0.0.1]:80");
  EXPECT_EQ(to_string(parse_host_port("10.0.0.2:0080", "--flag")), "10.0.0.2:80");
}

TEST(host_port, port_zero_and_an_empty_host_only_where_the_rules_allow) {
  const host_port_rules listen{.default_host = "127.0.0.1", .port_zero_allowed = true};
  auto a = parse_host_port(":0", "listen", listen);
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 0);
  a = parse_host_port("[::]:0", "listen", listen);
  EXPECT_EQ(a.host, "::");
  EXPECT_EQ(error_of("127.0.0.1:0"), "--flag '127.0.0.1:0' has a bad port (1 to 65535)");
  EXPECT_EQ(error_of(":8080"), "--flag ':8080' has no host");
  EXPECT_EQ(error_of("127.0.0.1:70000", listen), "--flag '127.0.0.1:70000' has a bad port (0 to 65535)");
}

TEST(host_port, bad_input_names_the_flag_the_text_and_the_problem) {
  EXPECT_EQ(error_of("127.0.0.1"), "--flag '127.0.0.1' must be host:port");
  EXPECT_EQ(error_of("127.0.0.1:"), "--flag '127.0.0.1:' must be host:port");
  EXPECT_EQ(error_of(""), "--flag '' must be host:port");
  EXPECT_EQ(error_of("[::1]"), "--flag '[::1]' must be host:port");
  EXPECT_EQ(error_of("[::1]:"), "--flag '[::1]:' must be host:port");
  EXPECT_EQ(error_of("[::1]8080"), "--flag '[::1]8080' must be host:port");
  EXPECT_EQ(error_of("127.0.0.1:70000"), "--flag '127.0.0.1:70000' has a bad port (1 to 65535)");
  EXPECT_EQ(error_of("127.0.0.1:65536"), "--flag '127.0.0.1:65536' has a bad port (1 to 65535)");
  EXPECT_EQ(error_of("127.0.0.1:123456"), "--flag '127.0.0.1:123456' has a bad port (1 to 65535)");
  EXPECT_EQ(error_of("127.0.0.1:80x"), "--flag '127.0.0.1:80x' has a bad port (1 to 65535)");
  EXPECT_EQ(error_of("127.0.0.1:-1"), "--flag '127.0.0.1:-1' has a bad port (1 to 65535)");
  EXPECT_EQ(error_of("127.0.0.1: 80"), "--flag '127.0.0.1: 80' has a bad port (1 to 65535)");
  EXPECT_EQ(error_of("::1:8080"), "--flag '::1:8080' needs brackets around an IPv6 address ([::1]:8080)");
  EXPECT_EQ(error_of("[::1:8080"), "--flag '[::1:8080' has a bad host (no ']' after the IPv6 address)");
  EXPECT_EQ(error_of("[]:8080"), "--flag '[]:8080' has a bad host (not an IPv6 address in the brackets)");
  EXPECT_EQ(error_of("[127.0.0.1]:8080"),
            "--flag '[127.0.0.1]:8080' has a bad host (not an IPv6 address in the brackets)");
  EXPECT_EQ(error_of("bad host:80"), "--flag 'bad host:80' has a bad host");
  EXPECT_EQ(error_of("http://x:80"), "--flag 'http://x:80' must be host:port, not a URL");
}

}  // namespace
}  // namespace stampede
