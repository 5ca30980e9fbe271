// Thin RAII layer over libpq for the shop's PostgreSQL store: one session with its prepared statements
// (prepared once per session, keyed by SQL text), results, and errors classified by what the caller can
// do about them: retry the transaction (serialization failure, deadlock), reconnect (the session is gone),
// or give up (statement timeout, anything else).
// Thread-safety: a connection and its results belong to one thread at a time.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct pg_conn;
struct pg_result;

namespace stampede::shop::pg {

// A PostgreSQL error with its SQLSTATE ("" when the failure was the connection's, not a statement's).
class error : public std::runtime_error {
 public:
  // `reason`: the server's message (no SQL); `statement`: the start of the statement, for what().
  error(std::string sqlstate, const std::string& reason, bool connection_lost,
        std::string_view statement = {})
      : std::runtime_error(statement.empty() ? reason : reason + " [" + std::string{statement} + "]"),
        sqlstate_(std::move(sqlstate)),
        reason_(reason),
        connection_lost_(connection_lost) {}
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& reason() const noexcept { return reason_; }
  // The session is gone or cannot be trusted (server, network, pg_terminate_backend, any failure of libpq
  // itself): its open transaction was rolled back, unless this happened while committing, in which case
  // the outcome is unknown.
  bool connection_lost() const noexcept { return connection_lost_; }
  // 40001 serialization failure, 40P01 deadlock: the server rolled back; run the transaction again.
  bool retryable() const noexcept { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }
  bool unique_violation() const noexcept { return sqlstate_ == "23505"; }
  bool check_violation() const noexcept { return sqlstate_ == "23514"; }
  // 57014: statement_timeout (or a cancel request) ended the statement.
  bool canceled() const noexcept { return sqlstate_ == "57014"; }

 private:
  std::string sqlstate_;
  std::string reason_;
  bool connection_lost_;
};

// A result in text format; owns the PGresult.
class result {
 public:
  explicit result(pg_result* r) noexcept : r_(r) {}
  ~result();
  result(result&& other) noexcept : r_(other.r_) { other.r_ = nullptr; }
  result& operator=(result&& other) noexcept;
  result(const result&) = delete;
  result& operator=(const result&) = delete;

  int rows() const noexcept;
  int64_t affected() const noexcept;  // rows changed by INSERT/UPDATE/DELETE
  bool is_null(int row, int column) const noexcept;
  int64_t int64(int row, int column) const;  // throws error on a value that is not an integer
  std::string text(int row, int column) const;

 private:
  pg_result* r_;
};

// A statement parameter in text format: NULL, an integer or a string. PostgreSQL text cannot hold NUL,
// and libpq passes text parameters as C strings, so a string with a NUL is refused (std::invalid_argument)
// rather than silently cut.
class param {
 public:
  param(std::nullopt_t) noexcept : null_(true) {}
  param(int64_t v) : text_(std::to_string(v)) {}
  param(int v) : text_(std::to_string(v)) {}
  param(std::optional<int64_t> v) : null_(!v), text_(v ? std::to_string(*v) : std::string{}) {}
  param(std::string_view v);
  param(const char* v) : param(std::string_view{v}) {}
  param(const std::string& v) : param(std::string_view{v}) {}
  bool null() const noexcept { return null_; }
  const char* c_str() const noexcept { return null_ ? nullptr : text_.c_str(); }

 private:
  bool null_ = false;
  std::string text_;
};

// Per-session settings, sent with the connection request (no extra round trip).
struct settings {
  std::chrono::seconds connect_timeout{3};  // libpq's connect_timeout (whole seconds, at least 2)
  std::chrono::milliseconds statement_timeout{5000};
  // The client's own bound on waiting for any statement's answer: statement_timeout plus this margin (none
  // when statement_timeout is 0). The server's timeout cannot end a wait whose request or answer never
  // crosses the link (a network cut, a frozen server: a proxy or a live kernel acknowledges the bytes, so
  // tcp_user_timeout does not fire either); past it the session is abandoned (connection_lost).
  std::chrono::milliseconds answer_margin{1000};
  // The server does not time a COMMIT out (statement_timeout ends before it, and a wait for a synchronous
  // standby can last until Patroni changes the standby): after this the client asks the server to cancel
  // it, and the answer, if any comes within a second more, is an unknown outcome (see commit()).
  std::chrono::milliseconds commit_timeout{5000};
  // A session idle inside a transaction this long is ended by the server, releasing its row locks (a node
  // paused with SIGSTOP in the middle of a transaction must not hold the flash sale's row forever).
  std::chrono::milliseconds idle_in_transaction_timeout{10'000};
  // TCP: keepalives after 5 s idle, every 2 s, 3 probes; unacknowledged data gives up after this.
  std::chrono::milliseconds tcp_user_timeout{10'000};
  std::string application_name = "stampede-shop";
};

// While it lives, every statement this thread sends waits at most `limit` for its answer, if that is
// tighter than the session's own bound (past it the session is abandoned, as with that bound): the shop's
// catalogue reads on the server's threads, which must not hold those threads for the usual bound behind a
// lost shard. Nests (the inner one rules while it lives); per thread.
class answer_limit {
 public:
  explicit answer_limit(std::chrono::milliseconds limit) noexcept;
  ~answer_limit();
  answer_limit(const answer_limit&) = delete;
  answer_limit& operator=(const answer_limit&) = delete;
  static std::chrono::milliseconds current() noexcept;  // 0: none

 private:
  std::chrono::milliseconds previous_;
};

class connection {
 public:
  // Connects (`conninfo` is a postgresql:// URL or key=value pairs; the settings override the same keys in
  // it). Throws error (connection_lost) naming the server when it cannot.
  connection(const std::string& conninfo, const settings& s);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Every statement's answer is awaited at most settings::statement_timeout + answer_margin; past it the
  // session is abandoned and error (connection_lost) thrown.
  // Simple protocol: no parameters, several statements allowed (schema, BEGIN, ROLLBACK).
  result exec(std::string_view sql);
  // Extended protocol with the statement prepared once per session. Parameters are $1, $2, ...
  result query(std::string_view sql, std::span<const param> params);
  template <class... A>
  result query(std::string_view sql, const A&... args) {
    const std::array<param, sizeof...(A)> params{param(args)...};
    return query(sql, std::span<const param>{params});
  }
  // COPY ... FROM STDIN with `data` in COPY's text format (copy_rows).
  void copy_in(std::string_view copy_sql, std::string_view data);
  // COMMIT: sends it, calls `after_send` (a test seam: the commit is on its way, its answer not read), then
  // reads the answer within settings::commit_timeout. A connection error here leaves the outcome unknown
  // (see error::connection_lost). So does a COMMIT whose wait for synchronous replication was canceled (by
  // our cancel request at the deadline, or anyone's): the server answers success with only a WARNING,
  // although the transaction committed on this server alone and a failover may lose it. That is thrown as
  // connection_lost too, never taken as success.
  void commit(const std::function<void()>& after_send = {});
  // Whether the server ended this session while it sat idle (for instance pg_terminate_backend while the
  // transaction waited between statements): reads what arrived without blocking. Before a COMMIT is sent,
  // true means the transaction certainly did not commit.
  bool ended_by_server();

  bool ok() const noexcept;    // the session is usable
  bool idle() const noexcept;  // usable and outside any transaction (fit to go back to a pool)
  int backend_pid() const noexcept;
  int socket() const noexcept;

 private:
  static void on_notice(void* self, const pg_result* notice);
  // Waits until a whole answer has arrived (or the connection failed); false when `timeout` passed first.
  bool await_answer(std::chrono::milliseconds timeout);
  void request_cancel();
  // Reads the answer to what was just sent, within answer_timeout_ (abandons the session past it): the first
  // error result, else the last result, as PQexec returns them.
  result answer(std::string_view sql);
  error failure(pg_result* r, std::string_view sql) const;
  result check(pg_result* r, std::string_view sql) const;

  pg_conn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  bool fatal_notice_ = false;        // the server said FATAL outside a query: the session is ending
  bool sync_wait_canceled_ = false;  // a WARNING that a commit's wait for a standby was canceled
  bool abandoned_ = false;           // a statement's answer did not come within answer_timeout_: never reused
  std::chrono::milliseconds commit_timeout_;
  std::chrono::milliseconds answer_timeout_;  // 0: none
};

// Rows in COPY's text format: fields tab-separated and escaped, nullopt = NULL.
class copy_rows {
 public:
  copy_rows& field(std::optional<std::string_view> value);  // throws std::invalid_argument on a NUL
  copy_rows& field(int64_t value) { return field(std::string_view{std::to_string(value)}); }
  copy_rows& field(const std::string& value) { return field(std::string_view{value}); }
  copy_rows& field(const char* value) { return field(std::string_view{value}); }
  void end_row() {
    data_ += '\n';
    row_start_ = true;
  }
  std::string_view data() const noexcept { return data_; }

 private:
  std::string data_;
  bool row_start_ = true;
};

}  // namespace stampede::shop::pg
