// The proxy's control API as an attack surface: browsers are refused (CSRF guard, as Toxiproxy), peers
// that are not on loopback are refused unless --allow-remote, and proxies may not listen on other
// addresses unless allowed. The handler is called in-process with the peer address the server would
// fill in (a non-loopback peer cannot be produced on a test machine's loopback).
#include <gtest/gtest.h>

#include "chaos/api.h"
#include "chaos/proxy_server.h"
#include "common/http_server.h"

namespace stampede::chaos {
namespace {

http::request make(std::string method, std::string target, std::string remote, std::string headers = {},
                   std::string body = {}) {
  http::request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.remote_address = std::move(remote);
  r.headers.raw = std::move(headers);
  r.body = std::move(body);
  return r;
}

TEST(proxy_api_security, browsers_are_refused_on_every_path_and_method) {
  proxy_server proxies;
  auto handler = make_api_handler(proxies);
  const std::string browser = "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\n";
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/proxies"}, {"POST", "/proxies"}, {"POST", "/reset"}, {"DELETE", "/proxies/x"},
           {"POST", "/populate"}, {"GET", "/version"}}) {
    auto request = make(method, target, "127.0.0.1", browser,
                        R"({"name":"evil","listen":"127.0.0.1:0","upstream":"127.0.0.1:9"})");
    EXPECT_EQ(handler(request).status, 403) << method << " " << target;
  }
  EXPECT_TRUE(proxies.proxies().empty());
}

TEST(proxy_api_security, remote_peers_are_refused_unless_allowed) {
  proxy_server proxies;
  auto local_only = make_api_handler(proxies);
  for (const char* peer : {"10.0.0.7", "192.168.1.2", "2001:db8::1", "::ffff:10.0.0.7"}) {
    auto request = make("POST", "/reset", peer);
    EXPECT_EQ(local_only(request).status, 403) << peer;
  }
  for (const char* peer : {"127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"}) {
    auto request = make("GET", "/version", peer);
    EXPECT_EQ(local_only(request).status, 200) << peer;
  }
  // Remote peers, once allowed, need the opt-in token; loopback peers never do.
  const std::string token = "0123456789abcdef0123";
  auto open = make_api_handler(proxies, {.allow_remote = true, .token = token});
  auto anonymous = make("GET", "/version", "10.0.0.7");
  EXPECT_EQ(open(anonymous).status, 401);
  auto wrong = make("GET", "/version", "10.0.0.7", "Authorization: Bearer 0123456789abcdef0124\r\n");
  EXPECT_EQ(open(wrong).status, 401);
  auto shorter = make("GET", "/version", "10.0.0.7", "Authorization: Bearer 0123456789abcdef012\r\n");
  EXPECT_EQ(open(shorter).status, 401);
  auto authorized = make("GET", "/version", "10.0.0.7", "Authorization: Bearer " + token + "\r\n");
  EXPECT_EQ(open(authorized).status, 200);
  auto local = make("GET", "/version", "127.0.0.1");
  EXPECT_EQ(open(local).status, 200);
  auto no_token = make_api_handler(proxies, {.allow_remote = true});  // no token configured: remote refused
  auto remote = make("GET", "/version", "10.0.0.7", "Authorization: Bearer \r\n");
  EXPECT_EQ(no_token(remote).status, 401);
}

TEST(proxy_api_security, proxies_listen_on_loopback_only_unless_allowed) {
  proxy_server proxies;
  auto handler = make_api_handler(proxies);
  auto request = make("POST", "/proxies", "127.0.0.1", {},
                      R"({"name":"wide","listen":"0.0.0.0:0","upstream":"127.0.0.1:9"})");
  const auto response = handler(request);
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_TRUE(proxies.proxies().empty());
  EXPECT_THROW(proxies.add_proxy({.name = "wide", .listen = "0.0.0.0:0", .upstream = "127.0.0.1:9"}), chaos_error);
}

}  // namespace
}  // namespace stampede::chaos
