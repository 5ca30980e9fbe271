// The order pipeline against the real payment emulator over HTTP: capture -> paid, decline -> failed
// with stock released, gateway outage -> retries then dead letter, lost response -> retry captures once.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/http_client.h"
#include "reference_shop/node.h"
#include "reference_shop/payment_emulator.h"
#include "reference_shop/sqlite_store.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class pipeline_test : public ::testing::Test {
 protected:
  void start(emulator_settings settings, int max_attempts = 3) {
    emulator_options eo;
    eo.settings = settings;
    emulator_ = std::make_unique<payment_emulator>(eo);
    emulator_->start();
    node_options o;
    o.db_path = dir_.file("shop.db");
    o.kdf = kdf_cost::minimal;
    o.seed_scale = 1;
    o.pipeline_enabled = true;
    o.pipeline.payment_port = emulator_->port();
    o.pipeline.payment_timeout = 200ms;
    o.pipeline.lease = 2000ms;
    o.pipeline.backoff_base = 10ms;
    o.pipeline.backoff_cap = 50ms;
    o.pipeline.max_attempts = max_attempts;
    o.pipeline.poll_interval = 10ms;
    o.pipeline.bug_double_capture = bug_double_capture_;
    node_ = std::make_unique<node>(o);
    user_ = *node_->database().create_user("p@example.com", "P", "x");
    node_->start();
  }
  order place(int64_t product, int64_t qty, const std::string& key) {
    auto r = node_->database().checkout(user_, key, "h", {{product, qty}}, unix_millis());
    EXPECT_EQ(r.status, checkout_status::created);
    node_->database().find_order(user_, r.placed.id);
    return r.placed;
  }
  std::string status_of(int64_t order_id) { return node_->database().find_order(user_, order_id)->status; }
  json::object captures() {
    http::blocking_client c{"127.0.0.1", emulator_->port()};
    return json::parse(c.get("/v1/captures").body).as_object();
  }

  testing::temp_dir dir_;
  std::unique_ptr<payment_emulator> emulator_;
  std::unique_ptr<node> node_;
  int64_t user_ = 0;
  bool bug_double_capture_ = false;
};

TEST_F(pipeline_test, captured_payment_marks_order_paid) {
  start(emulator_settings{.latency_median_ms = 1, .latency_p99_ms = 5});
  auto o = place(3, 2, "a");
  ASSERT_TRUE(testing::eventually([&] { return status_of(o.id) == "paid"; }));
  auto caps = captures();
  ASSERT_EQ(caps["captures"].as_array().size(), 1u);
  EXPECT_EQ(caps["captures"].at(0).at("order_id").as_int64(), o.id);
  EXPECT_EQ(caps["captures"].at(0).at("amount").as_int64(), o.total);
  auto audit = node_->database().audit();
  EXPECT_EQ(audit["payments"].at("captured").as_int64(), o.total);
  EXPECT_EQ(audit["outbox"].at("done").as_int64(), 1);
}

TEST_F(pipeline_test, declined_payment_fails_order_and_releases_stock) {
  start(emulator_settings{.latency_median_ms = 0, .decline_rate = 1.0});
  const int64_t before = node_->database().find_product(4)->stock;
  auto o = place(4, 3, "d");
  EXPECT_EQ(node_->database().find_product(4)->stock, before - 3);
  ASSERT_TRUE(testing::eventually([&] { return status_of(o.id) == "failed"; }));
  EXPECT_EQ(node_->database().find_product(4)->stock, before);
  EXPECT_EQ(node_->database().find_order(user_, o.id)->failure, "payment declined");
  EXPECT_TRUE(captures()["captures"].as_array().empty());
}

TEST_F(pipeline_test, gateway_outage_retries_then_dead_letters) {
  start(emulator_settings{.latency_median_ms = 0, .failure_rate = 1.0}, 3);
  const int64_t before = node_->database().find_product(6)->stock;
  auto o = place(6, 1, "x");
  ASSERT_TRUE(testing::eventually([&] { return status_of(o.id) == "failed"; }));
  auto audit = node_->database().audit();
  EXPECT_EQ(audit["outbox"].at("dead").as_int64(), 1);
  const auto& dead = audit["dead_letters"].at(0).as_object();
  EXPECT_EQ(dead.at("order_id").as_int64(), o.id);
  EXPECT_EQ(dead.at("attempts").as_int64(), 3);
  EXPECT_NE(std::string{dead.at("last_error").as_string()}.find("503"), std::string::npos);
  EXPECT_EQ(node_->database().find_product(6)->stock, before);
  EXPECT_EQ(captures()["totals"].at("capture_calls").as_int64(), 3);
}

TEST_F(pipeline_test, lost_response_is_retried_without_double_capture) {
  emulator_settings s;
  s.latency_median_ms = 0;
  s.lose_response_rate = 1.0;  // every first capture loses its response
  s.lose_delay = 1000ms;       // well past the 200 ms payment timeout
  start(s, 5);
  auto o = place(9, 1, "l");
  ASSERT_TRUE(testing::eventually([&] { return status_of(o.id) == "paid"; }));
  auto caps = captures();
  // One charge; every request after the first carried the same Idempotency-Key and replayed it.
  EXPECT_EQ(caps["totals"].at("charges").as_int64(), 1);
  const auto& list = caps["captures"].as_array();
  ASSERT_GE(list.size(), 2u);
  for (size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].at("capture_id"), list[0].at("capture_id"));
    EXPECT_EQ(list[i].at("idempotency_key").as_string(), "order-" + std::to_string(o.id) + "-capture");
    EXPECT_EQ(list[i].at("replayed").as_bool(), i > 0);
  }
  EXPECT_EQ(caps["totals"].at("lost_responses").as_int64(), 1);
  EXPECT_EQ(node_->database().audit()["payments"].at("captured").as_int64(), o.total);
}

// The gateway is idempotent by Idempotency-Key only: a capture without a key is a new charge even for an
// order already charged, and /v1/captures lists every accepted request, so a double charge is visible.
TEST_F(pipeline_test, emulator_charges_by_idempotency_key_and_lists_every_capture_request) {
  start(emulator_settings{.latency_median_ms = 0});
  http::blocking_client c{"127.0.0.1", emulator_->port()};
  const std::string body = R"({"order_id":77,"amount":1234})";
  auto first = c.post_json("/v1/captures", body, {{"Idempotency-Key", "k77"}});
  ASSERT_EQ(first.status, 201) << first.body;
  auto replay = c.post_json("/v1/captures", body, {{"Idempotency-Key", "k77"}});
  ASSERT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(json::parse(replay.body).at("capture_id"), json::parse(first.body).at("capture_id"));
  EXPECT_TRUE(json::parse(replay.body).at("replayed").as_bool());
  // The same key for another order or amount is refused, never a silent second charge.
  EXPECT_EQ(c.post_json("/v1/captures", R"({"order_id":78,"amount":1234})", {{"Idempotency-Key", "k77"}}).status, 422);
  EXPECT_EQ(c.post_json("/v1/captures", R"({"order_id":77,"amount":1})", {{"Idempotency-Key", "k77"}}).status, 422);
  EXPECT_EQ(c.post_json("/v1/captures", body, {{"Idempotency-Key", std::string(256, 'k')}}).status, 400);
  // Without a key: a second charge of order 77.
  auto keyless = c.post_json("/v1/captures", body);
  ASSERT_EQ(keyless.status, 201);
  EXPECT_NE(json::parse(keyless.body).at("capture_id"), json::parse(first.body).at("capture_id"));
  auto caps = captures();
  const auto& list = caps["captures"].as_array();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].at("idempotency_key").as_string(), "k77");
  EXPECT_FALSE(list[0].at("replayed").as_bool());
  EXPECT_TRUE(list[1].at("replayed").as_bool());
  EXPECT_TRUE(list[2].at("idempotency_key").is_null());
  EXPECT_EQ(caps["totals"].at("charges").as_int64(), 2);
  EXPECT_EQ(caps["totals"].at("captured").as_int64(), 2 * 1234);
  // A refund by order id returns every charge of the order.
  auto refund = json::parse(c.post_json("/v1/refunds", R"({"order_id":77})").body);
  EXPECT_TRUE(refund.at("refunded").as_bool());
  EXPECT_EQ(refund.at("amount").as_int64(), 2 * 1234);
  caps = captures();
  EXPECT_EQ(caps["totals"].at("refunded").as_int64(), 2 * 1234);
  for (const auto& e : caps["captures"].as_array()) EXPECT_TRUE(e.at("refunded").as_bool());
}

// The deliberately broken mode that the checkers must catch: every order charged twice.
TEST_F(pipeline_test, injected_double_capture_bug_charges_each_order_twice) {
  emulator_settings s{.latency_median_ms = 0};
  bug_double_capture_ = true;
  start(s);
  auto o = place(5, 1, "bug");
  ASSERT_TRUE(testing::eventually([&] { return status_of(o.id) == "paid"; }));
  auto caps = captures();
  EXPECT_EQ(caps["totals"].at("charges").as_int64(), 2);
  for (const auto& e : caps["captures"].as_array()) {
    EXPECT_EQ(e.at("order_id").as_int64(), o.id);
    EXPECT_TRUE(e.at("idempotency_key").is_null());
  }
}

TEST_F(pipeline_test, emulator_settings_change_at_run_time_and_reject_bad_input) {
  start(emulator_settings{});
  http::blocking_client c{"127.0.0.1", emulator_->port()};
  EXPECT_EQ(c.request("PUT", "/v1/settings", R"({"failure_rate":2})").status, 400);
  EXPECT_EQ(c.request("PUT", "/v1/settings", R"({"failure_rate":"x"})").status, 400);
  EXPECT_EQ(c.request("PUT", "/v1/settings", "nope").status, 400);
  auto ok = c.request("PUT", "/v1/settings", R"({"decline_rate":0.5,"lose_delay_ms":10})");
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(json::parse(ok.body).at("decline_rate").as_double(), 0.5);
  EXPECT_EQ(c.post_json("/v1/captures", R"({"order_id":"1"})").status, 400);
  EXPECT_EQ(c.get("/v1/nope").status, 404);
}

}  // namespace
}  // namespace stampede::shop
