#include "reference_shop/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace stampede::shop::pg {

namespace {

// SQLSTATEs after which the session is gone: class 08 (connection exception) and the server's
// administrator/crash/cannot-connect-now shutdowns.
bool ends_session(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

}  // namespace

result& result::operator=(result&& other) noexcept {
  if (this != &other) {
    if (r_ != nullptr) PQclear(r_);
    r_ = other.r_;
    other.r_ = nullptr;
  }
  return *this;
}

result::~result() {
  if (r_ != nullptr) PQclear(r_);
}

int result::rows() const noexcept { return r_ == nullptr ? 0 : PQntuples(r_); }

int64_t result::affected() const noexcept {
  if (r_ == nullptr) return 0;
  const char* n = PQcmdTuples(r_);
  int64_t v = 0;
  std::from_chars(n, n + std::strlen(n), v);
  return v;
}

bool result::is_null(int row, int column) const noexcept { return PQgetisnull(r_, row, column) != 0; }

int64_t result::int64(int row, int column) const {
  const char* text = PQgetvalue(r_, row, column);
  const size_t size = static_cast<size_t>(PQgetlength(r_, row, column));
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text, text + size, v);
  if (ec != std::errc{} || end != text + size) {
    throw error("",
                "column " + std::to_string(column) + " is not an integer: '" + std::string{text, size} + "'",
                false);
  }
  return v;
}

std::string result::text(int row, int column) const {
  return std::string{PQgetvalue(r_, row, column), static_cast<size_t>(PQgetlength(r_, row, column))};
}

param::param(std::string_view v) : text_(v) {
  if (v.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("PostgreSQL text cannot hold a NUL character");
  }
}

connection::connection(const std::string& conninfo, const settings& s)
    : commit_timeout_(s.commit_timeout),
      answer_timeout_(s.statement_timeout.count() > 0 ? s.statement_timeout + s.answer_margin
                                                      : std::chrono::milliseconds{0}) {
  const std::string connect_timeout = std::to_string(std::max<int64_t>(2, s.connect_timeout.count()));
  const std::string user_timeout = std::to_string(s.tcp_user_timeout.count());
  // Server settings for the session, after any the connection string already asks for.
  std::string options =
      "-c statement_timeout=" + std::to_string(s.statement_timeout.count()) +
      " -c idle_in_transaction_session_timeout=" + std::to_string(s.idle_in_transaction_timeout.count());
  if (PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), nullptr)) {
    for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
      if (std::strcmp(o->keyword, "options") == 0 && o->val != nullptr && *o->val != '\0') {
        options = std::string{o->val} + " " + options;
      }
    }
    PQconninfoFree(parsed);
  }
  // Later keywords override the same keys inside the expanded `dbname` connection string.
  const char* keys[] = {
      "dbname",           "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "application_name", "options",         nullptr};
  const char* values[] = {
      conninfo.c_str(),           connect_timeout.c_str(), "1",    "5", "2", "3", user_timeout.c_str(),
      s.application_name.c_str(), options.c_str(),         nullptr};
  const auto limit = answer_limit::current();
  if (limit.count() > 0 && limit < std::chrono::seconds{std::max<int64_t>(2, s.connect_timeout.count())}) {
    // Under a tighter bound than connect_timeout (whole seconds, at least 2, in libpq): connect
    // asynchronously and give up at the bound, so a read on a server thread never waits seconds for a
    // server behind a cut link.
    conn_ = PQconnectStartParams(keys, values, 1);
    if (conn_ == nullptr) throw error("", "PostgreSQL: out of memory connecting", true);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (auto state = PGRES_POLLING_WRITING; state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{PQsocket(conn_), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
      if (left.count() <= 0 || p.fd < 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
        PQfinish(conn_);
        conn_ = nullptr;
        throw error("", "cannot connect to PostgreSQL within " + std::to_string(limit.count()) + " ms", true);
      }
      state = PQconnectPoll(conn_);
    }
  } else {
    conn_ = PQconnectdbParams(keys, values, 1);
  }
  if (conn_ == nullptr) throw error("", "PostgreSQL: out of memory connecting", true);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = one_line(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw error("", "cannot connect to PostgreSQL: " + why, true);
  }
  PQsetNoticeReceiver(conn_, &connection::on_notice, this);
}

connection::~connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

// Notices outside a query are how the server announces that it ends the session (FATAL); others (NOTICE,
// WARNING) are dropped instead of going to stderr, except the WARNING that a commit stopped waiting for
// synchronous replication. That one has no SQLSTATE of its own and a translated message, so it is known by
// the server function that raises it (PostgreSQL 15's syncrep.c), which is not translated.
void connection::on_notice(void* self, const pg_result* notice) {
  auto* c = static_cast<connection*>(self);
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity == nullptr) return;
  if (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0) c->fatal_notice_ = true;
  const char* function = PQresultErrorField(notice, PG_DIAG_SOURCE_FUNCTION);
  if (std::strcmp(severity, "WARNING") == 0 && function != nullptr &&
      std::strcmp(function, "SyncRepWaitForLSN") == 0) {
    c->sync_wait_canceled_ = true;
  }
}

bool connection::ok() const noexcept {
  return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK && !fatal_notice_ && !abandoned_;
}

bool connection::idle() const noexcept { return ok() && PQtransactionStatus(conn_) == PQTRANS_IDLE; }

int connection::backend_pid() const noexcept { return PQbackendPID(conn_); }

int connection::socket() const noexcept { return PQsocket(conn_); }

error connection::failure(pg_result* r, std::string_view sql) const {
  std::string sqlstate;
  std::string message;
  if (r != nullptr) {
    if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) sqlstate = s;
    if (const char* m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) message = m;
  }
  if (message.empty()) message = one_line(PQerrorMessage(conn_));
  // No SQLSTATE: the error is libpq's own, about the connection (a failed send or receive leaves the
  // status OK for errors other than a reset, e.g. a timeout), so the session cannot be trusted either.
  const bool lost = PQstatus(conn_) != CONNECTION_OK || ends_session(sqlstate) || sqlstate.empty();
  const std::string_view head = sql.substr(0, std::min<size_t>(sql.find_first_of("\n("), 60));
  return error(sqlstate, "PostgreSQL" + (sqlstate.empty() ? std::string{} : " " + sqlstate) + ": " + message,
               lost, head);
}

result connection::check(pg_result* r, std::string_view sql) const {
  const auto status = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN) return result{r};
  error e = failure(r, sql);
  if (r != nullptr) PQclear(r);
  throw e;
}

namespace {
thread_local std::chrono::milliseconds thread_answer_limit{0};  // answer_limit's current bound
}  // namespace

answer_limit::answer_limit(std::chrono::milliseconds limit) noexcept : previous_(thread_answer_limit) {
  thread_answer_limit = limit;
}

answer_limit::~answer_limit() { thread_answer_limit = previous_; }

std::chrono::milliseconds answer_limit::current() noexcept { return thread_answer_limit; }

result connection::answer(std::string_view sql) {
  auto timeout = answer_timeout_;
  if (const auto limit = answer_limit::current();
      limit.count() > 0 && (timeout.count() == 0 || limit < timeout)) {
    timeout = limit;
  }
  if (timeout.count() > 0 && !await_answer(timeout)) {
    abandoned_ = true;  // an answer may still be on its way: this session can never be trusted again
    throw error("", "PostgreSQL: no answer within " + std::to_string(timeout.count()) + " ms", true, sql);
  }
  auto failed = [](pg_result* r) {
    const auto status = PQresultStatus(r);
    return status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY;
  };
  pg_result* kept = nullptr;  // the first error stays; otherwise the last result
  while (pg_result* r = PQgetResult(conn_)) {
    if (kept != nullptr && failed(kept)) {
      PQclear(r);
      continue;
    }
    if (kept != nullptr) PQclear(kept);
    kept = r;
  }
  return check(kept, sql);
}

result connection::exec(std::string_view sql) {
  const std::string text{sql};
  if (PQsendQuery(conn_, text.c_str()) != 1) throw failure(nullptr, sql);
  return answer(sql);
}

result connection::query(std::string_view sql, std::span<const param> params) {
  auto it = prepared_.find(std::string{sql});
  if (it == prepared_.end()) {
    const std::string name = "s" + std::to_string(prepared_.size() + 1);
    const std::string text{sql};
    if (PQsendPrepare(conn_, name.c_str(), text.c_str(), 0, nullptr) != 1) throw failure(nullptr, sql);
    answer(sql);
    it = prepared_.emplace(text, name).first;
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  if (PQsendQueryPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                          nullptr, 0) != 1) {
    throw failure(nullptr, sql);
  }
  return answer(sql);
}

void connection::copy_in(std::string_view copy_sql, std::string_view data) {
  check(PQexec(conn_, std::string{copy_sql}.c_str()), copy_sql);
  constexpr size_t chunk = 64 * 1024;
  for (size_t at = 0; at < data.size(); at += chunk) {
    const auto part = data.substr(at, chunk);
    if (PQputCopyData(conn_, part.data(), static_cast<int>(part.size())) != 1) break;
  }
  PQputCopyEnd(conn_, nullptr);
  // The COPY's own result, then nothing.
  std::optional<error> failed;
  while (pg_result* r = PQgetResult(conn_)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && !failed) failed = failure(r, copy_sql);
    PQclear(r);
  }
  if (failed) throw *failed;
}

void connection::commit(const std::function<void()>& after_send) {
  sync_wait_canceled_ = false;
  if (PQsendQuery(conn_, "COMMIT") != 1) throw failure(nullptr, "COMMIT");
  if (after_send) after_send();
  if (!await_answer(commit_timeout_)) {
    request_cancel();  // a wait for a standby then ends with the WARNING (below), other waits with an error
    if (!await_answer(std::chrono::seconds{1})) {
      throw error("",
                  "PostgreSQL: no answer to COMMIT within " + std::to_string(commit_timeout_.count()) + " ms",
                  true, "COMMIT");
    }
  }
  std::optional<error> failed;
  bool answered = false;
  while (pg_result* r = PQgetResult(conn_)) {
    answered = true;
    if (PQresultStatus(r) != PGRES_COMMAND_OK && !failed) failed = failure(r, "COMMIT");
    PQclear(r);
  }
  if (!answered && !failed) failed = failure(nullptr, "COMMIT");
  if (failed) throw *failed;
  if (sync_wait_canceled_) {
    throw error("",
                "PostgreSQL: COMMIT stopped waiting for synchronous replication; it committed on this server "
                "but perhaps not on a standby",
                true, "COMMIT");
  }
  // A COMMIT inside an aborted transaction answers "ROLLBACK" without an error.
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE)
    throw error("", "PostgreSQL: COMMIT left a transaction open", false);
}

bool connection::await_answer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (PQisBusy(conn_) == 1) {
    if (PQsocket(conn_) < 0) return true;  // PQgetResult reports the broken connection
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{PQsocket(conn_), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return true;  // PQgetResult reports the broken connection
    if (ready > 0 && PQconsumeInput(conn_) != 1) return true;
  }
  return true;
}

// Best effort: without it the answer just does not come. libpq 15's PQcancel waits, with no bound, for the
// server to close the cancel connection, so across a cut link (a blackhole) it would never return: it runs
// on a thread of its own, owning its PGcancel, and we wait for it at most a second. A thread left behind
// ends when the link heals (or with the process).
void connection::request_cancel() {
  std::shared_ptr<PGcancel> cancel{PQgetCancel(conn_), PQfreeCancel};
  if (!cancel) return;
  std::packaged_task<void()> task{[cancel] {
    char why[256];
    PQcancel(cancel.get(), why, sizeof why);
  }};
  auto sent = task.get_future();
  std::thread{std::move(task)}.detach();
  sent.wait_for(std::chrono::seconds{1});
}

bool connection::ended_by_server() {
  if (!ok()) return true;
  // Idle in a transaction, the server sends nothing unless it is ending the session (FATAL, then EOF) or
  // has a harmless notice; read whatever is there and look.
  for (int i = 0; i < 4; ++i) {
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    if (PQconsumeInput(conn_) != 1) return true;
    PQisBusy(conn_);  // parses what arrived: a FATAL goes to on_notice
    if (!ok()) return true;
  }
  return !ok();
}

copy_rows& copy_rows::field(std::optional<std::string_view> value) {
  if (!row_start_) data_ += '\t';
  row_start_ = false;
  if (!value) {
    data_ += "\\N";
    return *this;
  }
  for (char c : *value) {
    switch (c) {
      case '\\':
        data_ += "\\\\";
        break;
      case '\t':
        data_ += "\\t";
        break;
      case '\n':
        data_ += "\\n";
        break;
      case '\r':
        data_ += "\\r";
        break;
      case '\0':
        throw std::invalid_argument("PostgreSQL text cannot hold a NUL character");
      default:
        data_ += c;
    }
  }
  return *this;
}

}  // namespace stampede::shop::pg
