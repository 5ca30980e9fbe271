// The payment emulator's /metrics: known requests give known counts (captures by result, refunds,
// injected faults, the delay histogram, replies in flight), and the text passes `promtool check metrics`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <string>

#include "common/http_client.h"
#include "reference_shop/payment_emulator.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;

// The value of the sample whose name and labels are exactly `series`, or -1 when it is missing.
double sample(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.starts_with(prefix)) return std::stod(line.substr(prefix.size()));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return -1;
}

class emulator_metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    emulator_options o;
    o.settings.latency_median_ms = 0;  // immediate replies unless a fault delays them
    emulator_ = std::make_unique<payment_emulator>(o);
    emulator_->start();
  }
  http::client_response capture(int64_t order, int64_t amount, const std::string& key = {}) {
    http::blocking_client c{"127.0.0.1", emulator_->port()};
    std::vector<std::pair<std::string, std::string>> headers;
    if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
    return c.post_json(
        "/v1/captures",
        R"({"order_id":)" + std::to_string(order) + R"(,"amount":)" + std::to_string(amount) + "}", headers);
  }
  int post(const std::string& path, const std::string& body) {
    http::blocking_client c{"127.0.0.1", emulator_->port()};
    return c.post_json(path, body).status;
  }
  int settings(const std::string& body) {
    http::blocking_client c{"127.0.0.1", emulator_->port()};
    return c.request("PUT", "/v1/settings", body).status;
  }
  std::string metrics() {
    http::blocking_client c{"127.0.0.1", emulator_->port()};
    auto r = c.get("/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers.find("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }

  testing::temp_dir dir_;
  std::unique_ptr<payment_emulator> emulator_;
};

TEST_F(emulator_metrics, a_new_emulator_reports_zeros) {
  const std::string text = metrics();
  for (const char* result : {"captured", "replayed", "declined", "failed", "lost", "rejected"}) {
    EXPECT_EQ(sample(text, std::string{"payment_capture_requests_total{result=\""} + result + "\"}"), 0)
        << result;
  }
  EXPECT_EQ(sample(text, R"(payment_injected_faults_total{fault="failure"})"), 0);
  EXPECT_EQ(sample(text, R"(payment_in_flight_requests)"), 0);
  EXPECT_EQ(sample(text, R"(payment_charges{state="captured"})"), 0);
  EXPECT_EQ(sample(text, R"(payment_emulator_setting{name="latency_median_seconds"})"), 0);
}

TEST_F(emulator_metrics, every_outcome_is_counted_once) {
  EXPECT_EQ(capture(1, 500, "k1").status, 201);
  EXPECT_EQ(capture(1, 500, "k1").status, 200);                 // replayed
  EXPECT_EQ(capture(1, 700, "k1").status, 422);                 // the key reused for another amount
  EXPECT_EQ(post("/v1/captures", R"({"order_id":"x"})"), 400);  // rejected
  ASSERT_EQ(settings(R"({"decline_rate":1})"), 200);
  EXPECT_EQ(capture(2, 300).status, 402);
  ASSERT_EQ(settings(R"({"decline_rate":0,"failure_rate":1})"), 200);
  EXPECT_EQ(capture(3, 300).status, 503);
  ASSERT_EQ(settings(R"({"failure_rate":0,"lose_response_rate":1,"lose_delay_ms":1500})"), 200);
  auto lost = std::async(std::launch::async, [this] { return capture(4, 900).status; });
  // Charged, its reply held for 1.5 s from its arrival: in flight until then (seen by polling within it).
  EXPECT_TRUE(
      testing::eventually([&] { return sample(metrics(), "payment_in_flight_requests") == 1; }, 5000ms));
  EXPECT_EQ(lost.get(), 504);
  EXPECT_TRUE(
      testing::eventually([&] { return sample(metrics(), "payment_in_flight_requests") == 0; }, 5000ms));
  EXPECT_EQ(post("/v1/refunds", R"({"order_id":1})"), 200);
  EXPECT_EQ(post("/v1/refunds", R"({"order_id":1})"), 200);   // repeated
  EXPECT_EQ(post("/v1/refunds", R"({"order_id":99})"), 200);  // nothing charged
  EXPECT_EQ(post("/v1/refunds", R"({})"), 400);

  const std::string text = metrics();
  const std::pair<const char*, double> captures[] = {{"captured", 1}, {"replayed", 1}, {"declined", 1},
                                                     {"failed", 1},   {"lost", 1},     {"rejected", 2}};
  for (auto [result, count] : captures) {
    EXPECT_EQ(sample(text, std::string{"payment_capture_requests_total{result=\""} + result + "\"}"), count)
        << result;
  }
  const std::pair<const char*, double> refunds[] = {
      {"refunded", 1}, {"repeated", 1}, {"no_charge", 1}, {"rejected", 1}};
  for (auto [result, count] : refunds) {
    EXPECT_EQ(sample(text, std::string{"payment_refund_requests_total{result=\""} + result + "\"}"), count)
        << result;
  }
  EXPECT_EQ(sample(text, R"(payment_injected_faults_total{fault="failure"})"), 1);
  EXPECT_EQ(sample(text, R"(payment_injected_faults_total{fault="lost_response"})"), 1);
  EXPECT_EQ(sample(text, R"(payment_charges{state="captured"})"), 1);  // order 4's
  EXPECT_EQ(sample(text, R"(payment_charges{state="refunded"})"), 1);  // order 1's
  EXPECT_EQ(sample(text, "payment_charged_amount_total"), 1400);
  EXPECT_EQ(sample(text, "payment_refunded_amount_total"), 500);
  EXPECT_EQ(sample(text, R"(payment_emulator_setting{name="lose_response_rate"})"), 1);
  EXPECT_EQ(sample(text, R"(payment_emulator_setting{name="lose_delay_seconds"})"), 1.5);
  // The delay each reply was given: the lost response's 1.5 s, the others none.
  const std::string lost_series = R"(payment_http_request_duration_seconds_)";
  EXPECT_EQ(sample(text, lost_series + R"(count{route="/v1/captures",method="POST",status="504"})"), 1);
  EXPECT_EQ(sample(text, lost_series + R"(sum{route="/v1/captures",method="POST",status="504"})"), 1.5);
  EXPECT_EQ(sample(text, lost_series + R"(bucket{route="/v1/captures",method="POST",status="504",le="1"})"),
            0);
  EXPECT_EQ(sample(text, lost_series + R"(bucket{route="/v1/captures",method="POST",status="504",le="2.5"})"),
            1);
  EXPECT_EQ(sample(text, lost_series + R"(count{route="/v1/captures",method="POST",status="201"})"), 1);
  EXPECT_EQ(sample(text, lost_series + R"(count{route="/v1/refunds",method="POST",status="200"})"), 3);

  // The exposition passes Prometheus's own linter (Debian's prometheus package ships promtool).
  if (::access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  const std::string file = dir_.file("metrics.txt");
  {
    std::ofstream out{file};
    out << text;
  }
  const std::string command = "/usr/bin/promtool check metrics < " + file + " > " + file + ".log 2>&1";
  const int rc = std::system(command.c_str());
  std::ifstream log{file + ".log"};
  const std::string lint{std::istreambuf_iterator<char>{log}, {}};
  EXPECT_EQ(rc, 0) << lint;
}

}  // namespace
}  // namespace stampede::shop
