// The fixture of the sharded store's tests (shop_shards_test, shop_shards_recovery_test): one throwaway
// PostgreSQL 15 server per test process with max_prepared_transactions, each shard a schema of its own (a
// test's shards share the server, so gids carry the test's prefix and the shard), seeded at scale 1.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reference_shop/pg_connection.h"
#include "reference_shop/postgres_server.h"
#include "reference_shop/shards.h"
#include "tests/reference_shop/pg_template.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// The server, once per test process.
class shard_server {
 public:
  static shard_server& get() {
    static shard_server s;
    return s;
  }
  postgres_server& server() {
    if (!server_) {
      dir_ = std::make_unique<testing::temp_dir>();
      postgres_server_options o;
      o.dir = dir_->path() / "postgres";
      testing::copy_pg_template(o.dir);  // a cluster of its own without an initdb
      o.max_connections = 120;
      o.settings = {"max_prepared_transactions=100"};
      server_ = std::make_unique<postgres_server>(o);
      server_->init();
      server_->start();
    }
    return *server_;
  }
  // A new schema: one shard.
  std::string shard_conninfo() {
    const std::string name = "s" + std::to_string(++schemas_);
    pg::connection admin{server().superuser_conninfo(), pg::settings{}};
    admin.exec("CREATE SCHEMA " + name);
    return server().superuser_conninfo() + " options='-c search_path=" + name + "'";
  }

 private:
  std::unique_ptr<testing::temp_dir> dir_;
  std::unique_ptr<postgres_server> server_;
  int schemas_ = 0;
};

class shards_test : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      for (int s = 0; s < 2; ++s) urls_.push_back(shard_server::get().shard_conninfo());
    } catch (const std::exception& e) {
      GTEST_FAIL() << "PostgreSQL test server: " << e.what();
    }
    prefix_ = std::string{"t"} + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    auto db = open();
    db->migrate();
    db->reseed(1, "h");
  }
  void TearDown() override {
    // Nothing of this test stays prepared (it would hold locks for the next test on the same server).
    pg::connection admin{shard_server::get().server().superuser_conninfo(), pg::settings{}};
    auto r =
        admin.query("SELECT gid FROM pg_prepared_xacts WHERE left(gid, length($1) + 1) = $1 || ':'", prefix_);
    for (int i = 0; i < r.rows(); ++i) admin.exec("ROLLBACK PREPARED '" + r.text(i, 0) + "'");
  }
  std::unique_ptr<sharded_store> open(sharded_store_options o = {}) {
    o.recovery_interval = 0ms;  // recovery by hand, so the tests decide when
    o.coordinator.gid_prefix = prefix_;
    o.shard.pool.size = 4;
    return std::make_unique<sharded_store>(urls_, std::move(o));
  }
  pg::connection session(int shard) {
    return pg::connection{urls_.at(static_cast<size_t>(shard)), pg::settings{}};
  }
  int64_t value(int shard, const std::string& sql) { return session(shard).exec(sql).int64(0, 0); }
  int64_t stock(int64_t product) {
    return value(shard_of_product(product, 2),
                 "SELECT stock FROM products WHERE id = " + std::to_string(product));
  }
  int64_t prepared() {
    return value(0, "SELECT COUNT(*) FROM pg_prepared_xacts WHERE gid LIKE '" + prefix_ + ":%'");
  }
  // The audit's invariant on every SKU and the totals (what checkers.lua checks).
  static void expect_balanced(const json::object& audit) {
    for (const auto& v : audit.at("skus").as_array()) {
      const auto& s = v.as_object();
      EXPECT_EQ(s.at("initial_stock").as_int64(), s.at("remaining").as_int64() + s.at("sold").as_int64())
          << json::serialize(s);
    }
    const auto& t = audit.at("sku_totals").as_object();
    EXPECT_EQ(t.at("initial_stock").as_int64(), t.at("remaining").as_int64() + t.at("sold").as_int64());
  }

  // "0:placed 1:placed": an audit order's parts.
  static std::string part_statuses(const json::value& order) {
    std::string out;
    for (const auto& p : order.at("parts").as_array()) {
      out += (out.empty() ? "" : " ") + std::to_string(p.at("shard").as_int64()) + ":" +
             std::string{p.at("status").as_string()};
    }
    return out;
  }

  std::vector<std::string> urls_;
  std::string prefix_;
};

// User 3's home is shard 1 (3 mod 2); product 2 is on shard 0, product 3 on shard 1.
constexpr int64_t user = 3;
const std::vector<line_request> cross_cart{{2, 1}, {3, 2}};

[[maybe_unused]] sharded_store_options saga_options() {  // not every test file including this uses it
  sharded_store_options o;
  o.coordinator.mode = two_phase::protocol::saga;
  return o;
}

}  // namespace
}  // namespace stampede::shop
