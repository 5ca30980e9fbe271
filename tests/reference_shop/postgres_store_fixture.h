// The fixture of the PostgreSQL store tests (shop_postgres_store_test.cpp, shop_postgres_node_test.cpp): a
// new database on the test process's throwaway server (pg_test_server.h), migrated and seeded, with an admin
// connection to look at it, a way to end a session from the server side and a login for a node.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "tests/reference_shop/store_backends.h"

namespace stampede::shop {

class postgres_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      backend_ = std::make_unique<testing::postgres_backend>();
    } catch (const std::exception& e) {
      GTEST_FAIL() << e.what();
    }
    auto db = open();
    db->migrate();
    db->reseed(1, "h");
    admin_ = std::make_unique<pg::connection>(backend_->conninfo(), pg::settings{});
  }
  std::unique_ptr<postgres_store> open(postgres_store_options o = testing::postgres_backend::options()) {
    return testing::postgres_backend::open_store(backend_->conninfo(), std::move(o));
  }
  // A login role of its own for a node on this test's schema (a superuser, named after the schema, so that
  // the test can lock it out or find its sessions), and the node's db_url logging in as it.
  struct node_login {
    std::string role, db_url;
  };
  node_login create_node_login() {
    const std::string schema = admin_->exec("SELECT current_schema()").text(0, 0);
    node_login login{"node_" + schema, {}};
    admin_->exec("CREATE ROLE " + login.role + " LOGIN SUPERUSER PASSWORD 'node-password'");
    login.db_url =
        "host=127.0.0.1 port=" + std::to_string(testing::pg_test_environment::get().server().port()) +
        " dbname=postgres user=" + login.role + " password=node-password options='-c search_path=" + schema +
        "'";
    return login;
  }
  int64_t count(const std::string& sql) { return admin_->exec(sql).int64(0, 0); }
  // Ends a session from the server side and waits until it is gone.
  void terminate(int pid) {
    pg::connection killer{backend_->conninfo(), pg::settings{}};
    killer.query("SELECT pg_terminate_backend($1)", pid);
    ASSERT_TRUE(testing::eventually(
        [&] { return killer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid).rows() == 0; },
        std::chrono::seconds{10}));
  }

  std::unique_ptr<testing::postgres_backend> backend_;
  std::unique_ptr<pg::connection> admin_;
};

}  // namespace stampede::shop
