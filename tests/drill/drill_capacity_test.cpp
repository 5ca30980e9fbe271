// `stampede capacity` against a target whose capacity is known by construction: K service slots with a
// fixed service time S (an M/D/K-like queue; requests beyond the free slots wait), so it completes at most
// K/S requests per second and latency grows without bound above that. The search must find the knee
// within 15%. Also: SLO parsing and stage judgement.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <mutex>
#include <vector>

#include <boost/json.hpp>

#include "common/http_server.h"
#include "drill/capacity.h"

namespace {

namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

class known_capacity_server {
 public:
  known_capacity_server(int slots, std::chrono::milliseconds service)
      : service_(service), free_at_(static_cast<size_t>(slots), clock_type::now()),
        server_({}, [this](stampede::http::request&, stampede::http::responder reply) { handle(std::move(reply)); }) {
    server_.start();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

 private:
  void handle(stampede::http::responder reply) {
    clock_type::time_point finish;
    const auto now = clock_type::now();
    {
      std::lock_guard lock(mutex_);
      auto slot = std::min_element(free_at_.begin(), free_at_.end());
      finish = std::max(now, *slot) + service_;
      *slot = finish;
    }
    reply.after(std::chrono::ceil<std::chrono::milliseconds>(finish - now), stampede::http::response::text(200, "ok"));
  }

  std::chrono::milliseconds service_;
  std::mutex mutex_;
  std::vector<clock_type::time_point> free_at_;
  stampede::http::server server_;
};

TEST(capacity_slo, parses_terms_and_rejects_bad_ones) {
  auto slo = stampede::drill::parse_slo("p(99)<300, error_rate<0.01,avg<=50");
  ASSERT_EQ(slo.size(), 3u);
  EXPECT_EQ(slo[0].metric, "p");
  EXPECT_DOUBLE_EQ(slo[0].percentile, 99);
  EXPECT_DOUBLE_EQ(slo[0].bound, 300);
  EXPECT_EQ(slo[1].metric, "error_rate");
  EXPECT_FALSE(slo[2].strict);
  for (const char* bad : {"", "p(99)", "p(0)<3", "p(101)<3", "rps>3", "p(99)<abc", "<3"}) {
    EXPECT_THROW(stampede::drill::parse_slo(bad), std::invalid_argument) << bad;
  }
}

TEST(capacity_slo, judges_a_stage_on_latency_errors_and_delivered_rate) {
  auto slo = stampede::drill::parse_slo("p(99)<100,error_rate<0.01");
  json::value r = json::parse(R"({"meta":{"duration_s":2.0,"generator":{"saturated":false}},
    "summary":{"requests":200,"iterations":200,"error_rate":0.0,"dropped_iterations":0,
               "latency_ms":{"p50":10,"p99":50,"mean":12,"max":60}}})");
  EXPECT_TRUE(stampede::drill::judge_stage(r, 100, slo).ok);
  auto slow = stampede::drill::judge_stage(r, 100, stampede::drill::parse_slo("p(99)<40"));
  EXPECT_FALSE(slow.ok);
  EXPECT_NE(slow.failed.find("latency"), std::string::npos);
  auto behind = stampede::drill::judge_stage(r, 200, slo);  // 100 iterations/s delivered of 200 offered
  EXPECT_FALSE(behind.ok);
  EXPECT_NE(behind.failed.find("throughput"), std::string::npos);
  r.at("summary").as_object()["error_rate"] = 0.05;
  EXPECT_NE(stampede::drill::judge_stage(r, 100, slo).failed.find("errors"), std::string::npos);
}

TEST(capacity_search, finds_the_knee_of_a_known_capacity_target_within_15_percent) {
  // 4 slots x 20 ms = 200 requests/s.
  known_capacity_server target(4, std::chrono::milliseconds{20});
  const auto dir = std::filesystem::temp_directory_path() / ("stampede-capacity-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  stampede::drill::capacity_request request;
  request.scenario = STAMPEDE_DRILL_TEST_SCENARIOS "/capacity_target.lua";
  request.target = target.url();
  request.slo_text = "p(99)<100,error_rate<0.01";
  request.start_rate = 50;
  request.max_rate = 1000;
  request.stage = std::chrono::milliseconds{1500};
  request.repeats = 2;
  request.precision = 0.05;
  request.quiet = true;
  request.out_path = (dir / "capacity.json").string();
  stampede::drill::capacity_outcome outcome;
  EXPECT_EQ(stampede::drill::run_capacity(request, &outcome), 0);
  EXPECT_NEAR(outcome.knee_rate, 200, 30) << outcome.limit_hint;
  EXPECT_FALSE(outcome.limit_hint.empty());
  // The results file holds the knee and the curve; the chart sits next to it.
  std::ifstream in(dir / "capacity.json");
  std::stringstream text;
  text << in.rdbuf();
  json::value doc = json::parse(text.str());
  EXPECT_DOUBLE_EQ(doc.at("capacity").at("knee_rate").to_number<double>(), outcome.knee_rate);
  EXPECT_GE(doc.at("capacity").at("curve").as_array().size(), 4u);
  EXPECT_EQ(doc.at("schema"), "stampede-results");
  EXPECT_TRUE(std::filesystem::exists(dir / "capacity.svg"));
  std::filesystem::remove_all(dir);
}

}  // namespace
