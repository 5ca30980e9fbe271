// The shop checker against deliberately broken shops: a small test double of the shop's order and audit
// API that loses an acknowledged order, oversells a flash sale, or charges an order twice. A real
// `stampede run` (loadgen::execute_run) places orders recorded as history, then verify() runs the
// shipped checkers (scenarios/lib/checkers.lua): each break is caught (exit 98) and named with its ids.
#include <gtest/gtest.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "common/http_server.h"
#include "loadgen/run.h"

namespace {

namespace json = boost::json;

enum class mode { healthy, lose_order, oversell, double_charge };

class broken_shop {
 public:
  explicit broken_shop(mode m) : mode_(m), server_({}, [this](stampede::http::request& r) { return handle(r); }) {
    server_.start();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

 private:
  struct order {
    int64_t id, user;
    std::string key;
    int64_t total;
  };

  stampede::http::response handle(stampede::http::request& r) {
    std::lock_guard lock(mutex_);
    if (r.method == "POST" && r.path() == "/api/orders") {
      const int64_t id = static_cast<int64_t>(orders_.size()) + 1;
      orders_.push_back({id, std::atoll(std::string(r.header("X-User")).c_str()), std::string(r.header("Idempotency-Key")), 1000});
      return stampede::http::response::json(201, json::serialize(json::object{
          {"order_id", id}, {"status", "pending"}, {"total", 1000},
          {"lines", json::array{json::object{{"product_id", 7}, {"qty", 1}}}}}));
    }
    if (r.path() == "/api/admin/audit") {
      if (r.header("Authorization") != "Bearer secret") return stampede::http::response::error(403, "forbidden");
      return stampede::http::response::json(200, json::serialize(audit()));
    }
    if (r.path() == "/v1/captures") {
      json::array captures;
      for (const auto& o : orders_) {
        captures.push_back(json::object{{"order_id", o.id}, {"amount", o.total}, {"calls", 1}, {"refunded", false}});
        if (mode_ == mode::double_charge && o.id == 2) {  // a gateway without idempotency charged a retry again
          captures.push_back(json::object{{"order_id", o.id}, {"amount", o.total}, {"calls", 1}, {"refunded", false}});
        }
      }
      return stampede::http::response::json(200, json::serialize(json::object{{"captures", captures}}));
    }
    return stampede::http::response::error(404, "not_found");
  }

  json::object audit() const {
    json::array orders;
    int64_t kept = 0;
    for (const auto& o : orders_) {
      if (mode_ == mode::lose_order && o.id == 3) continue;  // acknowledged, then lost with its stock back
      ++kept;
      orders.push_back(json::object{{"order_id", o.id}, {"user_id", o.user}, {"status", "paid"}, {"total", o.total},
                                    {"captured", o.total}, {"refunded", 0}, {"idempotency_key", o.key}});
    }
    json::object sale{{"sale_id", 1}, {"product_id", 1}, {"stock", 1}, {"remaining", 1}, {"per_user_limit", 1},
                      {"sold", 0}, {"purchases", json::array{}}};
    if (mode_ == mode::oversell) {
      sale["remaining"] = -1;
      sale["sold"] = 2;
      sale["purchases"] = json::array{json::object{{"user_id", 77}, {"count", 2}}};
    }
    return {{"skus", json::array{json::object{{"product_id", 7}, {"initial_stock", 100}, {"remaining", 100 - kept}, {"sold", kept}}}},
            {"orders", orders},
            {"orders_by_state", json::object{{"pending", 0}, {"paid", kept}, {"failed", 0}}},
            {"flash_sales", json::array{sale}},
            {"outbox", json::object{{"pending", 0}, {"in_flight", 0}, {"done", kept}, {"dead", 0}}},
            {"dead_letters", json::array{}}};
  }

  mode mode_;
  std::mutex mutex_;
  std::vector<order> orders_;
  stampede::http::server server_;
};

struct run_outcome {
  int code = -1;
  json::value results;
};

run_outcome drill_against(mode m) {
  ::setenv("LUA_PATH", STAMPEDE_SCENARIOS_DIR "/?.lua;;", 1);
  broken_shop shop(m);
  stampede::loadgen::run_request run;
  run.script_path = STAMPEDE_DRILL_TEST_SCENARIOS "/broken_shop.lua";
  run.overrides.target = shop.url();
  run.env = {{"ADMIN_TOKEN", "secret"}, {"PAYMENT_URL", shop.url()}};
  run.quiet = true;
  run_outcome out;
  run.finish_results = [&](json::value& r) { out.results = r; };
  out.code = stampede::loadgen::execute_run(run);
  return out;
}

// The failing invariant with this name, as "detail" text; fails the test if it passed or is absent.
std::string failed_detail(const json::value& results, const std::string& name) {
  for (const auto& inv : results.at("verify").at("invariants").as_array()) {
    if (inv.at("name").as_string() == name) {
      EXPECT_FALSE(inv.at("ok").as_bool()) << name;
      return std::string(inv.at("detail").as_string());
    }
  }
  ADD_FAILURE() << "no invariant " << name;
  return {};
}

TEST(broken_shop, healthy_double_passes) {
  auto r = drill_against(mode::healthy);
  EXPECT_EQ(r.code, 0);
  ASSERT_TRUE(r.results.at("verify").is_object());
  EXPECT_TRUE(r.results.at("verify").at("ok").as_bool()) << json::serialize(r.results.at("verify"));
  EXPECT_EQ(r.results.at("verify").at("invariants").as_array().size(), 5u);
}

TEST(broken_shop, lost_acknowledged_order_is_caught_with_its_id) {
  auto r = drill_against(mode::lose_order);
  EXPECT_EQ(r.code, stampede::loadgen::exit_invariant_failed);
  const std::string detail = failed_detail(r.results, "acknowledged orders exist exactly once");
  EXPECT_NE(detail.find("1 lost: 3"), std::string::npos) << detail;
  // The structured evidence lists the id too.
  for (const auto& inv : r.results.at("verify").at("invariants").as_array()) {
    if (inv.at("name").as_string() == "acknowledged orders exist exactly once") {
      EXPECT_EQ(inv.at("evidence").at("lost").as_array().at(0).to_number<int64_t>(), 3);
    }
  }
}

TEST(broken_shop, oversold_flash_sale_is_caught) {
  auto r = drill_against(mode::oversell);
  EXPECT_EQ(r.code, stampede::loadgen::exit_invariant_failed);
  const std::string detail = failed_detail(r.results, "flash sale never oversold, nobody over the per-user limit");
  EXPECT_NE(detail.find("sale 1: stock 1, sold 2, remaining -1"), std::string::npos) << detail;
  EXPECT_NE(detail.find("user 77 (2)"), std::string::npos) << detail;
}

TEST(broken_shop, double_charge_is_caught_with_the_order) {
  auto r = drill_against(mode::double_charge);
  EXPECT_EQ(r.code, stampede::loadgen::exit_invariant_failed);
  const std::string detail = failed_detail(r.results, "one capture per paid order, captures - refunds = paid totals");
  EXPECT_NE(detail.find("charged twice: orders 2"), std::string::npos) << detail;
}

}  // namespace
