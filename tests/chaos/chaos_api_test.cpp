// Toxiproxy API conformance: paths, JSON shapes, status codes, error bodies (real HTTP on 127.0.0.1).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "chaos/api.h"
#include "chaos/json_text.h"
#include "chaos/proxy_server.h"
#include "chaos/splice_pipe.h"
#include "chaos_test_support.h"
#include "common/http_client.h"
#include "common/http_server.h"

namespace stampede::chaos {
namespace {

using namespace testing;
namespace json = boost::json;

class api_fixture : public ::testing::Test {
 protected:
  api_fixture() : api_({}, make_api_handler(server_)) {
    api_.start();
    client_ =
        std::make_unique<http::blocking_client>("127.0.0.1", api_.port(), std::chrono::milliseconds(3000));
  }

  http::client_response call(std::string_view method, std::string_view target, std::string_view body = {},
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
    return client_->request(method, target, body, headers);
  }
  static json::value body(const http::client_response& r) { return json::parse(r.body); }
  static void expect_error(const http::client_response& r, int status, std::string_view message) {
    EXPECT_EQ(r.status, status);
    auto v = body(r);
    EXPECT_EQ(v.at("status").as_int64(), status);
    EXPECT_EQ(v.at("error").as_string(), message);
  }
  std::string create_body(std::string_view name) {
    return R"({"name":")" + std::string(name) + R"(","listen":"127.0.0.1:0","upstream":")" + echo_.address() +
           R"("})";
  }

  tcp_server echo_{echo_handler};
  proxy_server server_{server_options{.seed = 3}};
  http::server api_;
  std::unique_ptr<http::blocking_client> client_;
};

TEST_F(api_fixture, version_and_unknown_paths) {
  auto r = call("GET", "/version");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r).at("version").as_string(), STAMPEDE_CMAKE_VERSION);  // project(VERSION) in CMakeLists.txt
  expect_error(call("GET", "/nope"), 404, "not found");
  expect_error(call("PUT", "/proxies"), 405, "method not allowed");
}

// GET /metrics: Toxiproxy's byte counters under its names, plus connections and injections per toxic;
// the values match the traffic sent, and the exposition passes promtool's linter.
TEST_F(api_fixture, metrics_count_bytes_connections_and_injections) {
  ASSERT_EQ(call("POST", "/proxies", create_body("shop")).status, 201);
  ASSERT_EQ(call("POST", "/proxies/shop/toxics",
                 R"({"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":1}})")
                .status,
            200);
  const auto info = server_.proxy("shop");
  ASSERT_TRUE(info.has_value());
  const std::string listen = info->config.listen;
  {
    fd_guard c = connect_to(port_of(listen));
    ASSERT_TRUE(send_all(c.get(), "ping-12345"));  // 10 bytes, echoed back
    EXPECT_EQ(read_until(c.get(), 10, std::chrono::milliseconds(3000)).data, "ping-12345");
  }
  const std::string up = "{direction=\"upstream\",listener=\"" + listen + "\",proxy=\"shop\",upstream=\"" +
                         echo_.address() + "\"}";
  const std::string down = "{direction=\"downstream\",listener=\"" + listen +
                           "\",proxy=\"shop\",upstream=\"" + echo_.address() + "\"}";
  const std::vector<std::string> expected = {
      "toxiproxy_proxy_received_bytes_total" + up + " 10",
      "toxiproxy_proxy_sent_bytes_total" + up + " 10",
      "toxiproxy_proxy_received_bytes_total" + down + " 10",
      "toxiproxy_proxy_sent_bytes_total" + down + " 10",
      "stampede_proxy_connections_accepted_total{proxy=\"shop\"} 1",
      "stampede_proxy_spliced_bytes_total{proxy=\"shop\"} 0",  // small chunks never splice
      "stampede_proxy_toxic_injections_total{proxy=\"shop\",toxic=\"slow\"} 1"};
  // A counter moves when the proxy's write completes, which may be just after the echo arrived here.
  http::client_response r;
  auto all_there = [&] {
    return std::all_of(expected.begin(), expected.end(), [&](const std::string& line) {
      return r.body.find(line + "\n") != std::string::npos;
    });
  };
  for (int attempt = 0; attempt < 100; ++attempt) {
    r = call("GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    if (all_there()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const std::string& line : expected)
    EXPECT_NE(r.body.find(line + "\n"), std::string::npos) << line << "\n" << r.body;
  EXPECT_NE(r.body.find("# TYPE toxiproxy_proxy_sent_bytes_total counter\n"), std::string::npos);
  if (::access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  char path[] = "/tmp/stampede-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << r.body;
  const std::string command = std::string("/usr/bin/promtool check metrics < ") + path + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << r.body;
  ::unlink(path);
}

// A large transfer without a toxic goes through splice(2) (when built with it): /metrics says how much,
// the same figure as proxy_info::bytes_spliced, once every byte came back.
TEST_F(api_fixture, metrics_count_spliced_bytes) {
  ASSERT_EQ(call("POST", "/proxies", create_body("bulk")).status, 201);
  const std::string listen = server_.proxy("bulk")->config.listen;
  fd_guard c = connect_to(port_of(listen));
  ASSERT_GE(c.get(), 0);
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i * 7 % 26);
  std::thread sender([&] { send_all(c.get(), data); });
  const auto echoed = read_until(c.get(), data.size(), std::chrono::milliseconds(20000));
  sender.join();
  ASSERT_TRUE(echoed.data == data);
  // The last write's counter moves just after its bytes left: wait until both directions are counted.
  std::optional<proxy_info> info;
  for (int attempt = 0; attempt < 100; ++attempt) {
    info = server_.proxy("bulk");
    if (info->bytes_upstream == data.size() && info->bytes_downstream == data.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(info->bytes_upstream + info->bytes_downstream, 2 * data.size());
  if (splice_enabled()) {
    EXPECT_GT(info->bytes_spliced, 0u);
  } else {
    EXPECT_EQ(info->bytes_spliced, 0u);
  }
  EXPECT_LE(info->bytes_spliced, 2 * data.size());
  const auto r = call("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("# TYPE stampede_proxy_spliced_bytes_total counter\n"), std::string::npos);
  const std::string line =
      "stampede_proxy_spliced_bytes_total{proxy=\"bulk\"} " + std::to_string(info->bytes_spliced) + "\n";
  EXPECT_NE(r.body.find(line), std::string::npos) << line << r.body;
}

TEST_F(api_fixture, proxy_lifecycle_shapes_and_status_codes) {
  auto created = call("POST", "/proxies", create_body("shop"));
  ASSERT_EQ(created.status, 201);
  auto p = body(created).as_object();
  EXPECT_EQ(p.at("name").as_string(), "shop");
  EXPECT_EQ(p.at("upstream").as_string(), echo_.address());
  EXPECT_TRUE(p.at("enabled").as_bool());
  EXPECT_TRUE(p.at("toxics").as_array().empty());
  const std::string listen(p.at("listen").as_string());
  EXPECT_NE(listen, "127.0.0.1:0");  // the ephemeral port is echoed back
  const auto port = port_of(listen);

  expect_error(call("POST", "/proxies", create_body("shop")), 409, "proxy already exists");
  expect_error(call("POST", "/proxies", R"({"name":"x"})"), 400, "missing required field: upstream");
  EXPECT_EQ(call("POST", "/proxies", "{not json").status, 400);

  auto all = body(call("GET", "/proxies")).as_object();
  ASSERT_TRUE(all.contains("shop"));
  EXPECT_EQ(all.at("shop").at("listen").as_string(), listen);
  expect_error(call("GET", "/proxies/missing"), 404, "proxy not found");

  auto disabled = call("POST", "/proxies/shop", R"({"enabled":false})");
  EXPECT_EQ(disabled.status, 200);
  EXPECT_FALSE(body(disabled).at("enabled").as_bool());
  EXPECT_EQ(connect_errno(port), ECONNREFUSED);
  EXPECT_TRUE(body(call("PATCH", "/proxies/shop", R"({"enabled":true})")).at("enabled").as_bool());
  EXPECT_EQ(connect_errno(port), 0);

  EXPECT_EQ(call("DELETE", "/proxies/shop").status, 204);
  expect_error(call("DELETE", "/proxies/shop"), 404, "proxy not found");
  EXPECT_EQ(connect_errno(port), ECONNREFUSED);
}

// Addresses go through common's host:port parser: 400 naming the field and the problem, as Toxiproxy
// refuses them (an IPv6 address without brackets is ambiguous: "::1:9" was taken as [::1]:9 before).
TEST_F(api_fixture, bad_addresses_are_refused_naming_the_field) {
  auto create = [&](std::string_view listen, std::string_view upstream) {
    return call("POST", "/proxies",
                R"({"name":"bad","listen":")" + std::string(listen) + R"(","upstream":")" +
                    std::string(upstream) + R"("})");
  };
  expect_error(create("127.0.0.1:0", "::1:9"), 400,
               "upstream '::1:9' needs brackets around an IPv6 address ([::1]:8080)");
  expect_error(create("127.0.0.1:70000", echo_.address()), 400,
               "listen address '127.0.0.1:70000' has a bad port (0 to 65535)");
  expect_error(create("127.0.0.1:0", "127.0.0.1"), 400, "upstream '127.0.0.1' must be host:port");
  expect_error(create("127.0.0.1:0", "[::1"), 400,
               "upstream '[::1' has a bad host (no ']' after the IPv6 address)");
  EXPECT_TRUE(server_.proxies().empty());
}

TEST_F(api_fixture, toxic_lifecycle_shapes_and_status_codes) {
  ASSERT_EQ(call("POST", "/proxies", create_body("db")).status, 201);
  auto added =
      call("POST", "/proxies/db/toxics", R"({"type":"latency","attributes":{"latency":250,"jitter":50}})");
  ASSERT_EQ(added.status, 200);
  auto t = body(added).as_object();
  EXPECT_EQ(t.at("name").as_string(), "latency_downstream");
  EXPECT_EQ(t.at("type").as_string(), "latency");
  EXPECT_EQ(t.at("stream").as_string(), "downstream");
  EXPECT_DOUBLE_EQ(t.at("toxicity").to_number<double>(), 1.0);
  EXPECT_EQ(t.at("attributes").at("latency").as_int64(), 250);
  EXPECT_EQ(t.at("attributes").at("jitter").as_int64(), 50);

  expect_error(call("POST", "/proxies/db/toxics", R"({"type":"latency"})"), 409, "toxic already exists");
  expect_error(call("POST", "/proxies/db/toxics", R"({"type":"lag"})"), 400, "invalid toxic type: lag");
  expect_error(call("POST", "/proxies/db/toxics", R"({"type":"latency","name":"x","stream":"sideways"})"),
               400, "invalid stream: must be upstream, downstream or both");
  expect_error(call("POST", "/proxies/nope/toxics", R"({"type":"latency"})"), 404, "proxy not found");
  EXPECT_EQ(call("POST", "/proxies/db/toxics", R"({"type":"latency","name":"y","attributes":{"latency":-1}})")
                .status,
            400);
  EXPECT_EQ(
      call("POST", "/proxies/db/toxics", R"({"type":"latency","name":"y","attributes":{"bogus":1}})").status,
      400);

  auto list = body(call("GET", "/proxies/db/toxics")).as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(body(call("GET", "/proxies/db")).at("toxics").as_array().size(), 1u);

  // Update: partial, keeps other attributes; toxicity can change.
  auto updated = call("POST", "/proxies/db/toxics/latency_downstream",
                      R"({"toxicity":0.5,"attributes":{"latency":10}})");
  ASSERT_EQ(updated.status, 200);
  auto u = body(updated).as_object();
  EXPECT_EQ(u.at("attributes").at("latency").as_int64(), 10);
  EXPECT_EQ(u.at("attributes").at("jitter").as_int64(), 50);
  EXPECT_DOUBLE_EQ(u.at("toxicity").to_number<double>(), 0.5);
  EXPECT_EQ(
      body(call("GET", "/proxies/db/toxics/latency_downstream")).at("attributes").at("latency").as_int64(),
      10);
  expect_error(call("GET", "/proxies/db/toxics/none"), 404, "toxic not found");

  EXPECT_EQ(call("DELETE", "/proxies/db/toxics/latency_downstream").status, 204);
  expect_error(call("DELETE", "/proxies/db/toxics/latency_downstream"), 404, "toxic not found");
}

TEST_F(api_fixture, extensions_accept_duration_strings_and_new_types) {
  ASSERT_EQ(call("POST", "/proxies", create_body("x")).status, 201);
  auto r = call(
      "POST", "/proxies/x/toxics",
      R"({"type":"http_abort","name":"checkout","attributes":{"method":"POST","path":"/checkout","status":502,"first_n":3}})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body(r).at("stream").as_string(), "upstream");
  EXPECT_EQ(body(r).at("attributes").at("status").as_int64(), 502);
  auto cut = call("POST", "/proxies/x/toxics", R"({"type":"limit_time","attributes":{"time":"1.5s"}})");
  ASSERT_EQ(cut.status, 200);
  EXPECT_EQ(body(cut).at("attributes").at("time").as_int64(), 1500);
  EXPECT_EQ(call("POST", "/proxies/x/toxics", R"({"type":"http_delay","stream":"downstream"})").status, 400);
}

TEST_F(api_fixture, reset_removes_toxics_and_enables_everything) {
  ASSERT_EQ(call("POST", "/proxies", create_body("a")).status, 201);
  ASSERT_EQ(call("POST", "/proxies/a/toxics", R"({"type":"timeout"})").status, 200);
  ASSERT_EQ(call("POST", "/proxies/a", R"({"enabled":false})").status, 200);
  EXPECT_EQ(call("POST", "/reset").status, 204);
  auto a = body(call("GET", "/proxies/a"));
  EXPECT_TRUE(a.at("enabled").as_bool());
  EXPECT_TRUE(a.at("toxics").as_array().empty());
}

TEST_F(api_fixture, populate_creates_or_keeps_proxies) {
  const std::string list = "[" + create_body("one") + "," + create_body("two") + "]";
  auto r = call("POST", "/populate", list);
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(body(r).at("proxies").as_array().size(), 2u);
  EXPECT_EQ(call("POST", "/populate", list).status, 201);  // idempotent
  EXPECT_EQ(body(call("GET", "/proxies")).as_object().size(), 2u);
  EXPECT_EQ(call("POST", "/populate", R"({"name":"x"})").status, 400);
}

TEST_F(api_fixture, refuses_browsers) {
  auto r = call("GET", "/proxies", {}, {{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"}});
  expect_error(r, 403, "User agent not allowed");
}

TEST_F(api_fixture, injections_endpoint_lists_the_log) {
  auto created = body(call("POST", "/proxies", create_body("l")));
  const std::string listen(created.at("listen").as_string());
  ASSERT_EQ(call("POST", "/proxies/l/toxics", R"({"type":"latency","attributes":{"latency":1}})").status,
            200);
  auto fd = connect_to(port_of(listen));
  send_all(fd.get(), "x");
  read_until(fd.get(), 1, 2s);
  auto v = body(call("GET", "/injections"));
  EXPECT_EQ(v.at("seed").as_int64(), 3);
  EXPECT_EQ(v.at("total").as_int64(), 1);
  EXPECT_EQ(v.at("counts").at("l/latency_downstream").as_int64(), 1);
  auto e = v.at("injections").at(0);
  EXPECT_EQ(e.at("proxy").as_string(), "l");
  EXPECT_EQ(e.at("connection").as_int64(), 1);
  EXPECT_EQ(body(call("GET", "/injections?after=1")).at("injections").as_array().size(), 0u);
  EXPECT_EQ(call("GET", "/injections?after=x").status, 400);
}

// Toxiproxy (Go) writes 1 and 0.5; Boost.JSON wrote 1E0 and 5E-1, which strict clients reject (#11.3).
TEST_F(api_fixture, numbers_are_written_as_toxiproxy_writes_them) {
  ASSERT_EQ(call("POST", "/proxies", create_body("n")).status, 201);
  const auto one =
      call("POST", "/proxies/n/toxics", R"({"name":"lat","type":"latency","attributes":{"latency":5}})");
  EXPECT_NE(one.body.find(R"("toxicity":1,)"), std::string::npos) << one.body;
  const auto half = call("POST", "/proxies/n/toxics/lat", R"({"toxicity":0.5})");
  EXPECT_NE(half.body.find(R"("toxicity":0.5,)"), std::string::npos) << half.body;
  const auto loss =
      call("POST", "/proxies/n/toxics",
           R"({"type":"packet_loss","toxicity":0.001,"attributes":{"probability":0.25,"correlation":0}})");
  EXPECT_NE(loss.body.find(R"("toxicity":0.001,)"), std::string::npos) << loss.body;
  EXPECT_NE(loss.body.find(R"("probability":0.25)"), std::string::npos) << loss.body;
  EXPECT_NE(loss.body.find(R"("correlation":0)"), std::string::npos) << loss.body;
  const auto tail =
      call("POST", "/proxies/n/toxics",
           R"({"name":"tail","type":"latency","attributes":{"distribution":"pareto","alpha":2}})");
  EXPECT_NE(tail.body.find(R"("alpha":2})"), std::string::npos) << tail.body;
  const auto logn =
      call("POST", "/proxies/n/toxics",
           R"({"name":"logn","type":"latency","attributes":{"distribution":"lognormal","sigma":0.1}})");
  EXPECT_NE(logn.body.find(R"("sigma":0.1})"), std::string::npos) << logn.body;
  const std::string listen(body(call("GET", "/proxies/n")).at("listen").as_string());
  {
    auto fd = connect_to(port_of(listen));
    send_all(fd.get(), "x");
    read_until(fd.get(), 1, 2s);
  }
  // Every body the API writes: no number with an exponent.
  const std::regex exponent(R"([0-9.][eE][-+]?[0-9])");
  for (const char* path :
       {"/proxies", "/proxies/n", "/proxies/n/toxics", "/proxies/n/toxics/lat", "/injections"}) {
    const auto r = call("GET", path);
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(std::regex_search(r.body, exponent)) << path << ": " << r.body;
  }
  EXPECT_NE(call("GET", "/injections").body.find(R"("since_start_ms":)"), std::string::npos);
}

TEST(json_text, integers_as_integers_and_other_numbers_in_shortest_round_trip_decimal) {
  auto text = [](double d) {
    std::string out;
    append_json_number(out, d);
    return out;
  };
  EXPECT_EQ(text(1.0), "1");
  EXPECT_EQ(text(0.0), "0");
  EXPECT_EQ(text(-0.0), "0");
  EXPECT_EQ(text(-3.0), "-3");
  EXPECT_EQ(text(0.5), "0.5");
  EXPECT_EQ(text(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(text(1e-7), "0.0000001");
  EXPECT_EQ(text(123456789.125), "123456789.125");
  EXPECT_EQ(text(1e21), "1000000000000000000000");
  EXPECT_EQ(text(std::nan("")), "null");
  std::mt19937_64 random(17);  // seeded: the same 20,000 doubles every run, over many magnitudes
  for (int i = 0; i < 20'000; ++i) {
    const double d = std::ldexp(std::uniform_real_distribution<double>(-1.0, 1.0)(random),
                                std::uniform_int_distribution<int>(-60, 80)(random));
    const std::string t = text(d);
    ASSERT_EQ(t.find_first_of("eE"), std::string::npos) << t;
    double back = 0;
    std::from_chars(t.data(), t.data() + t.size(), back);
    ASSERT_EQ(back, d) << t;
  }
  EXPECT_EQ(to_json_text(boost::json::parse(R"({"a":[1.5,2,"x\"y"],"b":{"c":null,"d":true,"e":1e300}})")),
            R"({"a":[1.5,2,"x\"y"],"b":{"c":null,"d":true,"e":1)" + std::string(300, '0') + "}}");
}

}  // namespace
}  // namespace stampede::chaos
