// Internals shared by the SQLite store's translation units (sqlite_store.cpp, sqlite_schema.cpp,
// sqlite_orders.cpp, sqlite_audit.cpp); not part of the store's interface.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>

#include "reference_shop/sqlite_store.h"

namespace stampede::shop {

namespace sqlite_detail {

// The integer stored under `key` in the meta table (0 when absent).
int64_t meta_value(sqlite::connection& db, const char* key);

}  // namespace sqlite_detail

template <class F>
auto sqlite_store::write(F&& fn) {
  std::minstd_rand jitter{static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id()))};
  for (int attempt = 0;; ++attempt) {
    try {
      auto& conn = db();
      sqlite::write_transaction tx{conn};
      return fn(conn, tx);
    } catch (const sqlite::error& e) {
      if (!e.busy() || attempt >= options_.busy_retries) throw;
      // Another process held the write lock past the busy timeout: back off with jitter and retry.
      std::this_thread::sleep_for(std::chrono::microseconds(500 + jitter() % 2000));
    }
  }
}

}  // namespace stampede::shop
