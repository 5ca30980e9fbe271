// Thin RAII layer over the SQLite C API for the reference shop: one connection per thread, prepared
// statements cached per connection, write transactions that take the write lock up front (BEGIN IMMEDIATE)
// and are retried when another process holds it past the busy timeout.
// Thread-safety: a connection and its statements belong to one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace stampede::shop::sqlite {

// An SQLite error with its primary result code (SQLITE_BUSY, SQLITE_CONSTRAINT, ...).
class error : public std::runtime_error {
 public:
  error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }
  bool busy() const noexcept;        // SQLITE_BUSY or SQLITE_LOCKED: retry the transaction
  bool constraint() const noexcept;  // SQLITE_CONSTRAINT (unique, check, ...)

 private:
  int code_;
};

// A borrowed, cached prepared statement; reset and unbound when it goes out of scope.
class statement {
 public:
  explicit statement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  statement(statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }

  // Parameters are 1-based, as in SQLite.
  statement& bind(int index, int64_t value);
  statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  statement& bind(int index, std::string_view value);
  statement& bind(int index, const char* value) { return bind(index, std::string_view{value}); }
  statement& bind(int index, const std::string& value) { return bind(index, std::string_view{value}); }
  statement& bind(int index, std::optional<int64_t> value);
  statement& bind_null(int index);

  // Advances; true while a row is available. Throws sqlite::error on failure.
  bool step();
  // Steps to completion, ignoring rows.
  void run();

  int64_t int64(int column) const;
  std::string text(int column) const;
  bool is_null(int column) const;

 private:
  sqlite3_stmt* stmt_;
};

struct connection_options {
  std::chrono::milliseconds busy_timeout{5000};
  bool create = true;
};

class connection {
 public:
  // Opens (and creates) the database, switches it to WAL, sets the busy timeout and foreign keys.
  // Throws sqlite::error with the path in the message.
  explicit connection(const std::string& path, connection_options options = {});
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // The statement for `sql`, prepared once per connection and reused.
  statement prepare(std::string_view sql);
  // Runs one or more statements without parameters (schema, pragmas, BEGIN/COMMIT).
  void exec(const char* sql);
  int64_t last_insert_rowid() const noexcept;
  int changes() const noexcept;
  sqlite3* handle() const noexcept { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// Write transaction: BEGIN IMMEDIATE now, ROLLBACK unless commit() was called.
class write_transaction {
 public:
  explicit write_transaction(connection& db);
  ~write_transaction();
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;
  void commit();

 private:
  connection& db_;
  bool done_ = false;
};

// Read transaction: one consistent snapshot for several SELECTs (WAL readers never block writers).
class read_transaction {
 public:
  explicit read_transaction(connection& db);
  ~read_transaction();
  read_transaction(const read_transaction&) = delete;
  read_transaction& operator=(const read_transaction&) = delete;

 private:
  connection& db_;
};

}  // namespace stampede::shop::sqlite
