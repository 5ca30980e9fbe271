#include "reference_shop/postgres_server.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "common/loopback.h"
#include "reference_shop/child_process.h"
#include "reference_shop/passwords.h"
#include "reference_shop/pg_connection.h"

namespace stampede::shop {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

constexpr const char* package_hint =
    "install Debian's postgresql-15 package (scripts/setup.sh installs postgresql)";

bool valid_identifier(const std::string& name) {
  if (name.empty() || name.size() > 63 ||
      !(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

bool valid_password(const std::string& password) {
  if (password.empty()) return false;
  for (char c : password) {
    if (c < 0x21 || c > 0x7e || c == '\'' || c == '\\' || c == '"') return false;
  }
  return true;
}

void write_private_file(const fs::path& path, const std::string& text, uid_t uid, gid_t gid) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool owned = ::fchown(fd, uid, gid) == 0 || ::geteuid() != 0;
  ::close(fd);
  if (!ok || !owned) throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

postgres_server::postgres_server(postgres_server_options options) : options_(std::move(options)) {}

postgres_server::~postgres_server() { stop(std::chrono::seconds{5}); }

void postgres_server::init() {
  for (const char* tool : {"initdb", "postgres"}) {
    const fs::path path = fs::path{options_.bin_dir} / tool;
    if (::access(path.c_str(), X_OK) != 0) {
      throw std::runtime_error("PostgreSQL 15 not found: " + path.string() + " is missing; " + package_hint);
    }
  }
  const auto account = postgres_account();
  if (!account) {
    throw std::runtime_error(std::string{"user postgres not found (PostgreSQL refuses to run as root); "} +
                             package_hint + ", which creates it");
  }
  account_ = *account;
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) throw std::runtime_error("cannot create " + options_.dir.string() + ": " + ec.message());
  options_.dir = fs::absolute(options_.dir);
  if (::chown(options_.dir.c_str(), account_.uid, account_.gid) != 0 ||
      ::chmod(options_.dir.c_str(), 0700) != 0) {
    throw std::runtime_error("cannot hand " + options_.dir.string() +
                             " to the postgres user: " + std::strerror(errno));
  }
  check_reachable();
  if (options_.wal_archive) {
    fs::create_directories(wal_archive_dir(), ec);
    if (ec || ::chown(wal_archive_dir().c_str(), account_.uid, account_.gid) != 0 ||
        ::chmod(wal_archive_dir().c_str(), 0700) != 0) {
      throw std::runtime_error("cannot make the WAL archive " + wal_archive_dir().string() + ": " +
                               (ec ? ec.message() : std::string{std::strerror(errno)}));
    }
  }
  const fs::path password_file = options_.dir / "superuser.password";
  if (fs::exists(data_dir() / "PG_VERSION")) {
    std::ifstream in{password_file};
    std::getline(in, superuser_password_);
    if (!valid_password(superuser_password_)) {
      throw std::runtime_error(data_dir().string() + " holds a cluster but " + password_file.string() +
                               " is missing; remove " + options_.dir.string() + " to start afresh");
    }
    return;
  }
  superuser_password_ = random_token();
  const fs::path pwfile = options_.dir / "initdb.pwfile";
  write_private_file(pwfile, superuser_password_ + "\n", account_.uid, account_.gid);
  std::vector<std::string> argv{"initdb",
                                "-D",
                                data_dir().string(),
                                "-U",
                                "postgres",
                                "--pwfile=" + pwfile.string(),
                                "--auth-local=scram-sha-256",
                                "--auth-host=scram-sha-256",
                                "-E",
                                "UTF8",
                                "--locale=C.UTF-8"};
  if (!options_.sync_initdb) argv.push_back("--no-sync");
  const fs::path log = options_.dir / "initdb.log";
  const pid_t pid = spawn(argv, log, SIGKILL);
  const auto status = wait_exit(pid, steady::now() + std::chrono::seconds{120});
  fs::remove(pwfile, ec);
  if (!status) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw std::runtime_error("initdb did not finish within 120 s: " + shop::log_tail(log, 5));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    throw std::runtime_error("initdb failed (" + describe_status(*status) + "): " + shop::log_tail(log, 5));
  }
  write_private_file(password_file, superuser_password_ + "\n", ::geteuid(), ::getegid());
}

// The server's user must be able to walk down to `dir`. The shop's own data directory (the parent) gets
// the search bit for others if it lacks it (mkdtemp makes 0700 directories); any other ancestor that
// blocks the way is an error naming it.
void postgres_server::check_reachable() const {
  if (::geteuid() != 0) return;
  const fs::path parent = options_.dir.parent_path();
  struct stat st {};
  if (::stat(parent.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & S_IXOTH) == 0) {
    ::chmod(parent.c_str(), (st.st_mode & 07777) | S_IXOTH);
  }
  for (fs::path p = parent; !p.empty(); p = p.parent_path()) {
    if (::stat(p.c_str(), &st) != 0) break;
    const mode_t bit = st.st_uid == account_.uid ? S_IXUSR : st.st_gid == account_.gid ? S_IXGRP : S_IXOTH;
    if ((st.st_mode & bit) == 0) {
      throw std::runtime_error("PostgreSQL runs as user postgres, which cannot enter " + p.string() +
                               " (on the way to " + options_.dir.string() +
                               "); choose a data directory it can reach");
    }
    if (p == p.root_path()) break;
  }
}

// As the server's user, with the death signal, in the server's directory; output to `log`.
pid_t postgres_server::spawn(const std::vector<std::string>& argv, const fs::path& log,
                             int death_signal) const {
  const std::string program = (fs::path{options_.bin_dir} / argv.front()).string();
  return spawn_as(&account_, program, argv, options_.dir, log, death_signal);
}

pid_t postgres_server::launch() {
  port_ = options_.port != 0 ? options_.port : free_loopback_port();
  // The unix socket path must fit in sockaddr_un (107 bytes); without it, TCP on 127.0.0.1 only.
  const std::string socket_dir =
      options_.dir.string().size() + 16 < 107 ? options_.dir.string() : std::string{};
  std::vector<std::string> argv{"postgres", "-D", data_dir().string()};
  std::vector<std::string> settings{
      "listen_addresses=127.0.0.1", "port=" + std::to_string(port_), "unix_socket_directories=" + socket_dir,
      "max_connections=" + std::to_string(options_.max_connections),
      "shared_buffers=" + options_.shared_buffers, "fsync=on", "synchronous_commit=on",
      // Short OLTP statements on a small shared machine: no JIT compiles, no
      // parallel workers competing with the shop for cores.
      "jit=off", "max_parallel_workers_per_gather=0", "huge_pages=off", "logging_collector=off",
      "log_line_prefix=%m [%p] ", "cluster_name=stampede-shop"};
  if (options_.wal_archive) {
    // `test ! -f`: a segment already archived is never overwritten (a second server archiving into the
    // same directory, a restored cluster on a new timeline, fail loudly instead of corrupting the archive).
    const std::string archive = wal_archive_dir().string();
    settings.insert(settings.end(),
                    {"wal_level=replica", "archive_mode=on",
                     "archive_command=test ! -f '" + archive + "/%f' && cp '%p' '" + archive + "/%f'",
                     "archive_timeout=" + std::to_string(options_.archive_timeout.count()) + "s"});
  }
  settings.insert(settings.end(), options_.settings.begin(), options_.settings.end());
  for (const auto& s : settings) {
    argv.push_back("-c");
    argv.push_back(s);
  }
  // SIGQUIT: immediate shutdown; the postmaster takes its backends down and releases shared memory.
  return spawn(argv, log_path(), SIGQUIT);
}

pid_t postgres_server::start(std::chrono::seconds timeout) {
  if (superuser_password_.empty()) throw std::logic_error("postgres_server::start before init");
  const auto deadline = steady::now() + timeout;
  for (int attempt = 1;; ++attempt) {
    pid_ = launch();
    const std::string ping = superuser_conninfo() + " connect_timeout=2";
    while (true) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        const std::string tail = shop::log_tail(log_path(), 6);
        // The free port was taken between finding it and binding it: try another.
        if (options_.port == 0 && attempt < 3 && tail.find("could not bind") != std::string::npos) break;
        throw std::runtime_error("postgres exited at start (" + describe_status(status) + "): " + tail);
      }
      if (PQping(ping.c_str()) == PQPING_OK) return pid_;
      if (steady::now() >= deadline) {
        stop(std::chrono::seconds{2});
        throw std::runtime_error("postgres did not accept connections within " +
                                 std::to_string(timeout.count()) + " s: " + shop::log_tail(log_path(), 6));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});  // polling a starting server
    }
  }
}

void postgres_server::ensure_database(const std::string& role, const std::string& password,
                                      const std::string& database) {
  if (!valid_identifier(role) || !valid_identifier(database) || !valid_password(password)) {
    throw std::invalid_argument("ensure_database: role and database must be lower-case identifiers");
  }
  pg::settings s;
  s.application_name = "stampede-shop-setup";
  pg::connection db{superuser_conninfo(), s};
  db.exec("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role +
          "') THEN CREATE ROLE " + role + " LOGIN; END IF; END $$");
  db.exec("ALTER ROLE " + role + " WITH LOGIN PASSWORD '" + password + "'");
  if (db.query("SELECT 1 FROM pg_database WHERE datname = $1", database).rows() == 0) {
    db.exec("CREATE DATABASE " + database + " OWNER " + role);
  }
}

void postgres_server::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  const pid_t pid = pid_;
  pid_ = -1;
  ::kill(pid, SIGINT);  // fast shutdown: roll back open transactions, checkpoint, exit
  if (wait_exit(pid, steady::now() + grace)) return;
  ::kill(pid, SIGQUIT);  // immediate shutdown
  if (wait_exit(pid, steady::now() + std::chrono::seconds{5})) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::string postgres_server::superuser_conninfo(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres password=" + superuser_password_ +
         " dbname=" + database;
}

std::string postgres_server::url(const std::string& role, const std::string& password,
                                 const std::string& database) const {
  return "postgresql://" + role + (password.empty() ? "" : ":" + password) +
         "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string postgres_server::log_tail(size_t lines) const { return shop::log_tail(log_path(), lines); }

}  // namespace stampede::shop
