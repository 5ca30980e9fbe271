// A throwaway PostgreSQL 15 server for the store tests, through the shop's own postgres_server: started on
// first use, once per test process (a GoogleTest environment: ctest runs each test in a process of its
// own, a whole-binary run shares one server), in a temporary directory (a copy of the build tree's template
// cluster, pg_template.h; data dir owned by the postgres user, a free 127.0.0.1 port, the unix socket
// beside it), and stopped and removed at the end. If the process dies, the server follows it
// (PR_SET_PDEATHSIG). Missing binaries fail the PostgreSQL tests with one line naming the package; they are
// never skipped.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "reference_shop/pg_connection.h"
#include "reference_shop/postgres_server.h"
#include "tests/reference_shop/pg_template.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop::testing {

class pg_test_environment : public ::testing::Environment {
 public:
  // The one environment of this test binary (registered by the first call, before RUN_ALL_TESTS).
  static pg_test_environment& get() {
    static pg_test_environment* env = [] {
      auto* e = new pg_test_environment;  // GoogleTest owns registered environments
      ::testing::AddGlobalTestEnvironment(e);
      return e;
    }();
    return *env;
  }

  // The running server, started on first use. Throws std::runtime_error (one line) when it cannot start;
  // later calls throw the same.
  postgres_server& server() {
    if (server_) return *server_;
    if (failure_) throw std::runtime_error(*failure_);
    try {
      dir_ = std::make_unique<temp_dir>();
      postgres_server_options o;
      o.dir = dir_->path() / "postgres";
      copy_pg_template(o.dir);  // a cluster of its own without an initdb; the server itself still fsyncs
      o.max_connections = 200;
      auto server = std::make_unique<postgres_server>(o);
      server->init();
      server->start();
      server_ = std::move(server);
    } catch (const std::exception& e) {
      failure_ = std::string{"PostgreSQL test server: "} + e.what();
      throw std::runtime_error(*failure_);
    }
    return *server_;
  }

  // A new, empty schema of the superuser in the test database (a schema takes milliseconds, a database
  // half a second); the key=value connection string that makes it the session's search path.
  std::string create_database() {
    auto& s = server();
    const std::string name = "t" + std::to_string(++databases_);
    pg::connection admin{s.superuser_conninfo(), pg::settings{}};
    admin.exec("CREATE SCHEMA " + name);
    return s.superuser_conninfo() + " options='-c search_path=" + name + "'";
  }

  void TearDown() override {
    server_.reset();  // fast shutdown, waits for the server
    dir_.reset();     // removes the cluster
  }

 private:
  pg_test_environment() = default;
  std::unique_ptr<temp_dir> dir_;
  std::unique_ptr<postgres_server> server_;
  std::optional<std::string> failure_;
  int databases_ = 0;  // schemas made so far
};

}  // namespace stampede::shop::testing
