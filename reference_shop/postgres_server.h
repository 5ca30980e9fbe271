// One PostgreSQL 15 server on 127.0.0.1, run by the shop's supervisor (`stampede shop --db postgres`) or
// by a test: initdb on first use, the server as a child process, ready under a deadline, stopped fast.
//
// PostgreSQL refuses to run as root, so when we are root, initdb and the server run as the `postgres` user
// (Debian's package creates it); otherwise as ourselves. The child sets its group and user first and
// PR_SET_PDEATHSIG after (changing credentials clears the death signal; `runuser` would put a process of its
// own in between), then execs `postgres` directly: the server gets SIGQUIT (immediate shutdown, which
// takes its backends with it) when the thread that started it dies, even by SIGKILL. So start() must be
// called from a thread that outlives the server (the supervisor's only thread, a test's main thread).
//
// Layout of `dir` (owned by the server's user, mode 0700): data/ (PGDATA), postgres.log, initdb.log,
// superuser.password (the `postgres` role's password, random, made by the first initdb), and the unix
// socket (when the path is short enough), wal_archive/ with options.wal_archive. Authentication is
// scram-sha-256 everywhere.
//
// Thread-safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "reference_shop/child_process.h"

namespace stampede::shop {

inline constexpr const char* default_postgres_bin_dir = "/usr/lib/postgresql/15/bin";

struct postgres_server_options {
  std::string bin_dir = default_postgres_bin_dir;
  std::filesystem::path dir;  // created if missing; its parent must be reachable by the server's user
  uint16_t port = 0;          // 0: a free one (another is tried if it was taken in between)
  int max_connections = 100;
  std::string shared_buffers = "64MB";
  bool sync_initdb = true;  // false: initdb --no-sync (throwaway test servers); the server always fsyncs
  std::vector<std::string> settings;  // more `name=value` server settings
  // Continuous WAL archiving into dir/wal_archive (created, owned by the server's user): archive_mode on,
  // an archive_command that refuses to overwrite a segment, archive_timeout so that a quiet server still
  // ships its last writes. For point-in-time restores (pg_backup.h in drill/).
  bool wal_archive = false;
  std::chrono::seconds archive_timeout{5};
};

class postgres_server {
 public:
  explicit postgres_server(postgres_server_options options);
  ~postgres_server();  // stop()
  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  // Checks the binaries and the user (one-line std::runtime_error naming the Debian package when they are
  // missing), creates `dir`, and runs initdb unless data/ already holds a cluster.
  void init();
  // Starts the server and waits until it accepts connections (std::runtime_error with the end of its log
  // when it exits or `timeout` passes). Returns its pid.
  pid_t start(std::chrono::seconds timeout = std::chrono::seconds{30});
  // A login role with this password (set again if the role exists) and a database it owns.
  // Names are lower-case identifiers; the password is printable ASCII without quotes or backslashes.
  void ensure_database(const std::string& role, const std::string& password, const std::string& database);
  // Fast shutdown (SIGINT), then immediate (SIGQUIT) after `grace`, then SIGKILL; waits for the process.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds{10});
  // Hands the process over: the caller (a supervisor that reaps its children) stops and reaps it.
  void release() noexcept { pid_ = -1; }

  pid_t pid() const noexcept { return pid_; }
  uint16_t port() const noexcept { return port_; }
  const std::filesystem::path& dir() const noexcept { return options_.dir; }
  std::filesystem::path data_dir() const { return options_.dir / "data"; }
  std::filesystem::path log_path() const { return options_.dir / "postgres.log"; }
  // dir/wal_archive (meaningful with options.wal_archive).
  std::filesystem::path wal_archive_dir() const { return options_.dir / "wal_archive"; }
  const std::string& bin_dir() const noexcept { return options_.bin_dir; }
  // key=value connection strings for the superuser and for a role; the URL form for users and topology.
  std::string superuser_conninfo(const std::string& database = "postgres") const;
  std::string superuser_url(const std::string& database = "postgres") const {
    return url("postgres", superuser_password_, database);
  }
  std::string url(const std::string& role, const std::string& password, const std::string& database) const;
  std::string log_tail(size_t lines = 8) const;

 private:
  void check_reachable() const;
  pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log, int death_signal) const;
  pid_t launch();

  postgres_server_options options_;
  server_account account_{};
  std::string superuser_password_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace stampede::shop
