// The two store backends behind one test interface, so one suite runs the same cases on SQLite (a temporary
// file) and on PostgreSQL (a new database on the test process's throwaway server, pg_test_server.h).
#pragma once

#include <sqlite3.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reference_shop/pg_connection.h"
#include "reference_shop/postgres_store.h"
#include "reference_shop/sqlite_store.h"
#include "tests/reference_shop/pg_test_server.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop::testing {

class store_backend {
 public:
  virtual ~store_backend() = default;
  // A store on this test's database, with connections of its own (as another node process would have).
  virtual std::unique_ptr<store> open() = 0;
  // `count` stores (as many node processes) on another, new and empty database.
  virtual std::vector<std::unique_ptr<store>> open_fresh(int count = 1) = 0;
  // Direct SQL on this test's database, for set-up the API does not offer (e.g. a low stock). Throws.
  virtual void sql(const std::string& text) = 0;
};

class sqlite_backend final : public store_backend {
 public:
  std::unique_ptr<store> open() override { return std::make_unique<sqlite_store>(dir_.file("shop.db")); }
  std::vector<std::unique_ptr<store>> open_fresh(int count) override {
    const std::string path = dir_.file("fresh" + std::to_string(++fresh_) + ".db");
    std::vector<std::unique_ptr<store>> out;
    for (int i = 0; i < count; ++i) out.push_back(std::make_unique<sqlite_store>(path));
    return out;
  }
  void sql(const std::string& text) override {
    sqlite3* db = nullptr;
    if (sqlite3_open(dir_.file("shop.db").c_str(), &db) != SQLITE_OK)
      throw std::runtime_error("sqlite3_open");
    sqlite3_busy_timeout(db, 5000);
    const int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, nullptr);
    const std::string message = sqlite3_errmsg(db);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw std::runtime_error(message);
  }

 private:
  temp_dir dir_;
  int fresh_ = 0;
};

class postgres_backend final : public store_backend {
 public:
  postgres_backend() : conninfo_(pg_test_environment::get().create_database()) {}
  std::unique_ptr<store> open() override { return open_store(conninfo_); }
  std::vector<std::unique_ptr<store>> open_fresh(int count) override {
    const std::string conninfo = pg_test_environment::get().create_database();
    std::vector<std::unique_ptr<store>> out;
    for (int i = 0; i < count; ++i) out.push_back(open_store(conninfo));
    return out;
  }
  void sql(const std::string& text) override {
    pg::connection db{conninfo_, pg::settings{}};
    db.exec(text);
  }
  const std::string& conninfo() const noexcept { return conninfo_; }

  static postgres_store_options options() {
    postgres_store_options o;
    o.pool.size = 16;  // the concurrency tests run 8 to 12 threads on one store
    o.pool.session.application_name = "stampede-store-test";
    return o;
  }
  // A store with connections of its own on `conninfo` (every PostgreSQL store of the tests opens here).
  static std::unique_ptr<postgres_store> open_store(const std::string& conninfo,
                                                    postgres_store_options o = options()) {
    return std::make_unique<postgres_store>(conninfo, std::move(o));
  }

 private:
  std::string conninfo_;
};

inline std::unique_ptr<store_backend> make_backend(std::string_view kind) {
  if (kind == "sqlite") return std::make_unique<sqlite_backend>();
  return std::make_unique<postgres_backend>();
}

}  // namespace stampede::shop::testing
