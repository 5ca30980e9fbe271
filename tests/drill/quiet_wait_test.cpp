// The drill's quiet wait (drill/quiet_wait.h) against a real shop behind a real HAProxy, one node reached
// through a fault proxy: with nothing running it returns at once; with a request on its way to the node
// (held 3 s by an http_delay toxic, the client long gone after 300 ms) it waits until HAProxy has no
// session left on the nodes backend, then for the queue.
#include "drill/quiet_wait.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "chaos/proxy_server.h"
#include "common/http_client.h"
#include "drill/shop_process.h"
#include "tests/support/child_process.h"

namespace {

namespace json = boost::json;
using namespace stampede;
using namespace stampede::drill;

class quiet_wait_fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const uint16_t node_port = free_loopback_port();
    auto link =
        proxies_.add_proxy({"haproxy_node1", "127.0.0.1:0", "127.0.0.1:" + std::to_string(node_port), true});
    shop_ = std::make_unique<shop_process>(
        STAMPEDE_BINARY,
        std::vector<std::string>{"--nodes", "1", "--port", "0", "--kdf", "minimal", "--data",
                                 (dir_.path() / "shop").string(), "--node-ports", std::to_string(node_port),
                                 "--node-via", link.config.listen},
        dir_.path());
    const auto runtime = std::string(shop_->topology().at("haproxy").at("runtime_api").as_string());
    targets_ = {port_of(shop_->entry_url()), shop_->admin_token(),
                static_cast<uint16_t>(std::stoi(runtime.substr(runtime.rfind(':') + 1)))};
  }

  // One GET /api/products held `delay_ms` on its way to the node by an http_delay toxic (health checks and
  // the audit pass), its client gone after 300 ms. True if an answer came anyway.
  bool send_a_request_held_for(int64_t delay_ms) {
    chaos::toxic_spec slow;
    slow.name = "held";
    slow.type = chaos::toxic_type::http_delay;
    slow.stream = chaos::stream_direction::upstream;
    slow.method = "GET";
    slow.path = "/api/products";
    slow.delay = delay_ms;
    proxies_.add_toxic("haproxy_node1", slow);
    try {
      http::blocking_client client("127.0.0.1", targets_.entry_port, std::chrono::milliseconds{300});
      client.get("/api/products");
      return true;
    } catch (const std::exception&) {  // timed out: the client is gone, its request is not
      return false;
    }
  }

  stampede::testing::temp_dir dir_{"stampede-quiet-wait"};
  chaos::proxy_server proxies_{chaos::server_options{.threads = 1}};
  std::unique_ptr<shop_process> shop_;
  quiet_targets targets_;
};

TEST_F(quiet_wait_fixture, nothing_running_returns_at_once) {
  const auto seen = wait_until_quiet(targets_, std::chrono::seconds{10});
  EXPECT_TRUE(seen.at("drained").as_bool()) << json::serialize(seen);
  EXPECT_EQ(seen.at("sessions_at_nodes_first"), 0) << json::serialize(seen);
  EXPECT_EQ(seen.at("sessions_at_nodes"), 0);
  EXPECT_EQ(seen.at("outbox").at("pending"), 0);
  EXPECT_FALSE(seen.contains("error"));
  EXPECT_LT(seen.at("waited_s").to_number<double>(), 2.0) << "no 250 ms poll was needed";
}

TEST_F(quiet_wait_fixture, waits_for_a_request_still_running_at_a_node) {
  const auto sent = std::chrono::steady_clock::now();
  EXPECT_FALSE(send_a_request_held_for(3000))
      << "the answer came through a 3 s http_delay toxic within 300 ms";
  const auto seen = wait_until_quiet(targets_, std::chrono::seconds{15});
  const double since_sent = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  EXPECT_TRUE(seen.at("drained").as_bool()) << json::serialize(seen);
  EXPECT_GE(seen.at("sessions_at_nodes_first").to_number<int64_t>(), 1) << json::serialize(seen);
  EXPECT_EQ(seen.at("sessions_at_nodes"), 0);
  // The held request left the proxy 3 s after it came: the wait returned after that, not before.
  EXPECT_GE(since_sent, 2.9) << json::serialize(seen);
  EXPECT_LT(since_sent, 12.0) << json::serialize(seen);
}

TEST_F(quiet_wait_fixture, a_request_held_past_the_bound_is_named) {
  EXPECT_FALSE(send_a_request_held_for(6000));
  const auto seen = wait_until_quiet(targets_, std::chrono::seconds{1});
  EXPECT_FALSE(seen.at("drained").as_bool()) << json::serialize(seen);
  EXPECT_EQ(std::string(seen.at("error").as_string()), "1 request(s) still at the nodes")
      << json::serialize(seen);
  EXPECT_EQ(seen.at("sessions_at_nodes"), 1);
  EXPECT_FALSE(seen.contains("outbox")) << "the queue is not read while requests still run";
}

}  // namespace
