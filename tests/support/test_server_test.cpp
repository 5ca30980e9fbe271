// The endpoints other suites rely on, and the precision of stall().
#include "tests/support/test_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <thread>

#include "common/http_client.h"

namespace stampede::testing {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace json = boost::json;

TEST(test_server, hello_echo_status_json) {
  test_server server;
  http::blocking_client client("127.0.0.1", server.port());
  const auto hello = client.get("/hello");
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body.size(), 615u);
  EXPECT_EQ(hello.body, test_server::hello_body());

  const auto echo = client.request("PUT", "/echo?x=1", "payload", {{"X-Test", "a"}, {"X-Test", "b"}});
  const auto e = json::parse(echo.body).as_object();
  EXPECT_EQ(e.at("method").as_string(), "PUT");
  EXPECT_EQ(e.at("path").as_string(), "/echo");
  EXPECT_EQ(e.at("query").as_string(), "x=1");
  EXPECT_EQ(e.at("body").as_string(), "payload");
  EXPECT_EQ(e.at("headers").at("X-Test").as_string(), "a, b");

  EXPECT_EQ(client.get("/status/503").status, 503);
  EXPECT_EQ(client.get("/status/204").body, "");
  EXPECT_EQ(client.get("/status/abc").status, 400);
  EXPECT_EQ(client.get("/nothing-here").status, 404);
  EXPECT_TRUE(json::parse(client.get("/json").body).as_object().contains("products"));
  EXPECT_EQ(server.base_url(), "http://127.0.0.1:" + std::to_string(server.port()));
}

TEST(test_server, chunked_cookies_close_counter_stats) {
  test_server server;
  http::blocking_client client("127.0.0.1", server.port());
  const auto chunked = client.get("/chunked?n=3");
  EXPECT_EQ(chunked.headers.find("transfer-encoding"), "chunked");
  EXPECT_EQ(chunked.body, "chunk 0\nchunk 1\nchunk 2\n");

  const auto set = client.get("/set-cookie?a=1&b=two");
  std::vector<std::string> cookies;
  set.headers.for_each([&](std::string_view n, std::string_view v) {
    if (n == "Set-Cookie") cookies.emplace_back(v);
  });
  EXPECT_EQ(cookies, (std::vector<std::string>{"a=1; Path=/", "b=two; Path=/"}));
  const auto echoed = client.request("GET", "/cookies", {}, {{"Cookie", "a=1; b=two"}});
  EXPECT_EQ(json::parse(echoed.body).at("cookies").at("b").as_string(), "two");

  EXPECT_EQ(client.get("/close").headers.find("connection"), "close");
  EXPECT_EQ(client.get("/counter").body, R"({"count":1})");
  EXPECT_EQ(client.get("/counter").body, R"({"count":2})");
  EXPECT_EQ(server.hits("/counter"), 2u);
  const auto stats = json::parse(client.get("/stats").body);
  EXPECT_EQ(stats.at("paths").at("/counter").to_number<uint64_t>(), 2u);
  EXPECT_EQ(stats.at("total").to_number<uint64_t>(), server.total_hits());
  server.reset_hits();
  EXPECT_EQ(server.total_hits(), 0u);
}

TEST(test_server, delay_does_not_block_other_connections) {
  test_server server(1);  // one thread: a blocking delay would serialise everything
  std::thread slow([&] {
    http::blocking_client client("127.0.0.1", server.port());
    EXPECT_EQ(client.get("/delay?ms=500").body, R"({"delayed_ms":500})");
  });
  // Wait until the slow request is in (bounded), then time a fast one on another connection.
  const auto until = steady::now() + 3s;
  while (server.hits("/delay") == 0 && steady::now() < until) std::this_thread::sleep_for(1ms);
  http::blocking_client fast("127.0.0.1", server.port());
  const auto start = steady::now();
  EXPECT_EQ(fast.get("/hello").status, 200);
  EXPECT_LT(steady::now() - start, 250ms);
  slow.join();
  EXPECT_EQ(fast.get("/delay?ms=-1").status, 400);
}

TEST(test_server, stall_holds_every_thread_then_serves_queued_requests) {
  test_server server(2);
  http::blocking_client client("127.0.0.1", server.port());
  ASSERT_EQ(client.get("/hello").status, 200);
  const auto start = steady::now();
  server.stall(400ms);
  const auto r = client.get("/counter");  // queued in the kernel during the stall
  const auto elapsed = steady::now() - start;
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(elapsed, 390ms);
  EXPECT_LT(elapsed, 1500ms);
}

}  // namespace
}  // namespace stampede::testing
