#include "reference_shop/sqlite.h"

#include <sqlite3.h>

#include <utility>

namespace stampede::shop::sqlite {

namespace {

[[noreturn]] void fail(sqlite3* db, int code, std::string_view what) {
  std::string message{what};
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  throw error(code & 0xff, message);
}

}  // namespace

bool error::busy() const noexcept { return code_ == SQLITE_BUSY || code_ == SQLITE_LOCKED; }
bool error::constraint() const noexcept { return code_ == SQLITE_CONSTRAINT; }

statement::~statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

statement& statement::bind(int index, int64_t value) {
  if (int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) fail(sqlite3_db_handle(stmt_), rc, "bind");
  return *this;
}

statement& statement::bind(int index, std::string_view value) {
  if (int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      rc != SQLITE_OK) {
    fail(sqlite3_db_handle(stmt_), rc, "bind");
  }
  return *this;
}

statement& statement::bind(int index, std::optional<int64_t> value) {
  return value ? bind(index, *value) : bind_null(index);
}

statement& statement::bind_null(int index) {
  if (int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) fail(sqlite3_db_handle(stmt_), rc, "bind");
  return *this;
}

bool statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(sqlite3_db_handle(stmt_), rc, "step");
}

void statement::run() {
  while (step()) {
  }
}

int64_t statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string statement::text(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  if (data == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

connection::connection(const std::string& path, connection_options options) {
  const int flags = SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "cannot open database '" + path + "'";
    sqlite3* db = std::exchange(db_, nullptr);
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    throw error(rc & 0xff, message + ": " + detail);
  }
  sqlite3_extended_result_codes(db_, 0);
  sqlite3_busy_timeout(db_, static_cast<int>(options.busy_timeout.count()));
  // WAL lets readers run during writes, across processes; NORMAL sync is durable against process crashes
  // (the SIGKILL drills), which is what the shop is rehearsed on.
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;");
}

connection::~connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

statement connection::prepare(std::string_view sql) {
  auto it = statements_.find(std::string{sql});
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                      &stmt, nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, "prepare '" + std::string{sql.substr(0, 60)} + "'");
    it = statements_.emplace(std::string{sql}, stmt).first;
  }
  return statement{it->second};
}

void connection::exec(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw error(rc & 0xff, std::string{"exec: "} + text);
  }
}

int64_t connection::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }
int connection::changes() const noexcept { return sqlite3_changes(db_); }

write_transaction::write_transaction(connection& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

write_transaction::~write_transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (const error&) {
      // Already rolled back by SQLite (e.g. after SQLITE_FULL); nothing left to undo.
    }
  }
}

void write_transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

read_transaction::read_transaction(connection& db) : db_(db) { db_.exec("BEGIN DEFERRED"); }

read_transaction::~read_transaction() {
  try {
    db_.exec("COMMIT");
  } catch (const error&) {
  }
}

}  // namespace stampede::shop::sqlite
