#include "drill/pg_backup.h"

#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <boost/json.hpp>

#include "reference_shop/child_process.h"
#include "reference_shop/pg_connection.h"
#include "reference_shop/postgres_server.h"

namespace stampede::drill {

namespace fs = std::filesystem;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

namespace {

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

shop::server_account server_account() {
  const auto account = shop::postgres_account();
  if (!account) throw std::runtime_error("user postgres not found (PostgreSQL refuses to run as root)");
  return *account;
}

// Runs a PostgreSQL tool (or cp) as the server's user with a clean environment; throws with the end of
// its log when it fails or outlives the deadline (then it is killed).
void run_tool(const std::string& program, const std::vector<std::string>& argv, const fs::path& log,
              const std::vector<std::string>& env, steady::time_point deadline) {
  const auto account = server_account();
  const pid_t pid = shop::spawn_as(&account, program, argv, {}, log, SIGKILL, &env);
  const auto status = shop::wait_exit(pid, deadline);
  if (!status) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw std::runtime_error(argv.front() + " did not finish in time: " + shop::log_tail(log, 4));
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    throw std::runtime_error(argv.front() + " failed (" + shop::describe_status(*status) +
                             "): " + shop::log_tail(log, 4));
  }
}

// A directory for the server's user (mode 0700), made by us.
void make_owned_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::create_directory(dir, ec) || ec) {
    throw std::runtime_error("cannot create " + dir.string() + (ec ? ": " + ec.message() : ": it exists"));
  }
  const auto account = server_account();
  if (::chown(dir.c_str(), account.uid, account.gid) != 0 || ::chmod(dir.c_str(), 0700) != 0) {
    throw std::runtime_error("cannot hand " + dir.string() +
                             " to the postgres user: " + std::strerror(errno));
  }
}

uint64_t tree_size(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) total += it->file_size(size_ec);
  }
  return total;
}

// "START WAL LOCATION: 0/2000028 (file ...)" of backup_label.
std::string start_lsn_of(const fs::path& dir) {
  std::ifstream in{dir / "backup_label"};
  std::string line;
  constexpr std::string_view key = "START WAL LOCATION: ";
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return line.substr(key.size(), line.find(' ', key.size()) - key.size());
  }
  return {};
}

// The last WAL range's End-LSN of backup_manifest (pg_basebackup writes it; "" when it cannot be read).
std::string end_lsn_of(const fs::path& dir) {
  std::ifstream in{dir / "backup_manifest"};
  const std::string text{std::istreambuf_iterator<char>{in}, {}};
  boost::system::error_code ec;
  const json::value manifest = json::parse(text, ec);
  if (ec || !manifest.is_object()) return {};
  const auto* ranges = manifest.as_object().if_contains("WAL-Ranges");
  if (ranges == nullptr || !ranges->is_array() || ranges->as_array().empty()) return {};
  const auto* end = ranges->as_array().back().as_object().if_contains("End-LSN");
  return end != nullptr && end->is_string() ? std::string{end->as_string()} : std::string{};
}

std::string find_line(const fs::path& log, std::string_view needle) {
  std::ifstream in{log};
  std::string line, found;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) found = line;
  }
  return found;
}

shop::pg::settings admin_settings(std::chrono::seconds statement_timeout = std::chrono::seconds{30}) {
  shop::pg::settings s;
  s.application_name = "stampede-drill-backup";
  s.statement_timeout = statement_timeout;
  return s;
}

// The restored shop's orders: all of them counted, those placed with an idempotency key (every order of a
// customer; the seed's have none) listed.
json::object read_orders(const std::string& conninfo) {
  shop::pg::connection db{conninfo, admin_settings()};
  json::object out;
  out["total"] = db.query("SELECT count(*) FROM orders").int64(0, 0);
  auto rows = db.query(
      "SELECT id, user_id, idempotency_key, status FROM orders WHERE idempotency_key IS NOT NULL ORDER BY "
      "id");
  json::array keyed;
  keyed.reserve(static_cast<size_t>(rows.rows()));
  for (int r = 0; r < rows.rows(); ++r) {
    keyed.push_back(json::object{{"id", rows.int64(r, 0)},
                                 {"user_id", rows.int64(r, 1)},
                                 {"key", rows.text(r, 2)},
                                 {"status", rows.text(r, 3)}});
  }
  out["keyed"] = std::move(keyed);
  return out;
}

// Seconds of the day of a log line's "%m" prefix ("2026-12-06 16:04:05.510 UTC ...").
std::optional<double> log_time(const std::string& line) {
  if (line.size() < 23 || line[10] != ' ' || line[13] != ':' || line[16] != ':' || line[19] != '.')
    return std::nullopt;
  try {
    return std::stoi(line.substr(11, 2)) * 3600.0 + std::stoi(line.substr(14, 2)) * 60.0 +
           std::stod(line.substr(17, 6));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The last FATAL or PANIC line of a server's log that is not a refused connection (ours, polling).
std::string recovery_failure(const fs::path& log) {
  std::ifstream in{log};
  std::string line, found;
  while (std::getline(in, line)) {
    if ((line.find("FATAL:") != std::string::npos || line.find("PANIC:") != std::string::npos) &&
        line.find("the database system is") == std::string::npos) {
      found = line;
    }
  }
  return found;
}

}  // namespace

json::object recovery_phases(const fs::path& log) {
  // The first line of each milestone (a restarted server would repeat them: the first run is the restore).
  constexpr std::array<std::string_view, 4> milestones{"starting PostgreSQL",
                                                       "starting point-in-time recovery", "redo starts at",
                                                       "database system is ready to accept connections"};
  std::array<std::optional<double>, 5> at{};  // the four milestones, then "recovery stopping"
  std::ifstream in{log};
  std::string line;
  while (std::getline(in, line)) {
    for (size_t i = 0; i < milestones.size(); ++i) {
      if (!at[i] && line.find(milestones[i]) != std::string::npos) at[i] = log_time(line);
    }
    if (!at[4] && line.find("recovery stopping") != std::string::npos) at[4] = log_time(line);
  }
  auto span = [](const std::optional<double>& a, const std::optional<double>& b) -> json::value {
    if (!a || !b) return nullptr;
    return *b >= *a ? *b - *a : *b + 86400 - *a;  // across midnight
  };
  return {
      {"startup_s", span(at[0], at[1])}, {"replay_s", span(at[2], at[4])}, {"promote_s", span(at[4], at[3])}};
}

std::optional<uint64_t> parse_lsn(const std::string& lsn) {
  const size_t slash = lsn.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == lsn.size() || slash > 8 ||
      lsn.size() - slash > 9) {
    return std::nullopt;
  }
  for (size_t i = 0; i < lsn.size(); ++i) {
    if (i != slash && !std::isxdigit(static_cast<unsigned char>(lsn[i]))) return std::nullopt;
  }
  return (std::stoull(lsn.substr(0, slash), nullptr, 16) << 32) |
         std::stoull(lsn.substr(slash + 1), nullptr, 16);
}

std::optional<backup_source> backup_source::from_topology(const json::object& topology) {
  const auto* db = topology.if_contains("database");
  if (db == nullptr || !db->is_object()) return std::nullopt;
  const auto* archive = db->as_object().if_contains("wal_archive");
  if (archive == nullptr || !archive->is_object()) return std::nullopt;
  const auto& a = archive->as_object();
  auto text = [&](const json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
      throw std::runtime_error(std::string{"topology: database.wal_archive."} + key + " is missing");
    }
    return std::string{v->as_string()};
  };
  backup_source s;
  s.archive_dir = text(a, "dir");
  s.bin_dir = text(a, "bin_dir");
  // postgresql://postgres:PASSWORD@127.0.0.1:PORT/postgres (what postgres_server::url writes).
  const std::string url = text(a, "superuser_url");
  const size_t at = url.rfind('@'), colon = url.find(':', url.find("://") + 3), port_colon = url.rfind(':');
  const size_t slash = url.find('/', at == std::string::npos ? 0 : at);
  const std::string port = at == std::string::npos || slash == std::string::npos || port_colon < at
                               ? std::string{}
                               : url.substr(port_colon + 1, slash - port_colon - 1);
  if (url.rfind("postgresql://postgres:", 0) != 0 || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) == 0 ||
      std::stoi(port) > 65535) {
    throw std::runtime_error(
        "topology: database.wal_archive.superuser_url is not postgresql://postgres:PW@HOST:PORT/DB");
  }
  s.password = url.substr(colon + 1, at - colon - 1);
  s.host = url.substr(at + 1, port_colon - at - 1);
  s.port = static_cast<uint16_t>(std::stoi(port));
  // The shop's database: the path of database.url.
  const std::string shop_url = text(db->as_object(), "url");
  if (const size_t p = shop_url.rfind('/'); p != std::string::npos && p + 1 < shop_url.size()) {
    s.database = shop_url.substr(p + 1);
  }
  return s;
}

std::string backup_source::conninfo(const std::string& db) const {
  return "host=" + host + " port=" + std::to_string(port) + " user=postgres password=" + password +
         " dbname=" + db;
}

base_backup take_base_backup(const backup_source& source, const fs::path& dir, std::chrono::seconds timeout) {
  const auto start = steady::now();
  const fs::path log = dir.string() + ".log";
  // The password in the environment, not on a command line that every user can read in ps.
  const std::vector<std::string> env{"PGPASSWORD=" + source.password, "PATH=/usr/bin:/bin", "LC_ALL=C"};
  run_tool(
      (fs::path{source.bin_dir} / "pg_basebackup").string(),
      {"pg_basebackup", "-h", source.host, "-p", std::to_string(source.port), "-U", "postgres", "-w", "-D",
       dir.string(), "-X", "stream", "-c", "fast", "-l", "stampede drill " + dir.filename().string()},
      log, env, start + timeout);
  base_backup b;
  b.dir = dir;
  b.duration_s = seconds_since(start);
  b.size_bytes = tree_size(dir);
  b.start_lsn = start_lsn_of(dir);
  b.end_lsn = end_lsn_of(dir);
  return b;
}

std::string create_restore_point(const backup_source& source, const std::string& name) {
  bool valid = !name.empty() && name.size() <= 63;
  for (char c : name) {
    valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  }
  if (!valid) throw std::invalid_argument("a restore point's name is 1..63 letters, digits, '_', '-', '.'");
  shop::pg::connection db{source.conninfo(), admin_settings()};
  return db.query("SELECT pg_create_restore_point($1)::text", name).text(0, 0);
}

double wait_until_archived(const backup_source& source, const std::string& lsn,
                           std::chrono::seconds timeout) {
  const auto start = steady::now();
  shop::pg::connection db{source.conninfo(), admin_settings()};
  const std::string segment = db.query("SELECT pg_walfile_name($1::pg_lsn)", lsn).text(0, 0);
  db.exec("SELECT pg_switch_wal()");
  while (true) {
    auto r = db.query(
        "SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') FROM pg_stat_archiver");
    // Archived names: segments, and .backup/.history files; compare the segment part (same timeline).
    if (const std::string last = r.text(0, 0).substr(0, 24); last.size() == 24 && last >= segment) {
      return seconds_since(start);
    }
    if (steady::now() - start >= timeout) {
      throw std::runtime_error("WAL segment " + segment + " (restore point at " + lsn +
                               ") not archived within " + std::to_string(timeout.count()) +
                               " s (last archived '" + r.text(0, 0) + "', last failed '" + r.text(0, 1) +
                               "')");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{100});  // the archiver has no event to wait on
  }
}

restore_result point_in_time_restore(const backup_source& source, const base_backup& backup,
                                     const std::string& target, const fs::path& dir,
                                     std::chrono::seconds timeout) {
  const auto start = steady::now();
  const auto deadline = start + timeout;
  struct remove_dir {
    fs::path dir;
    ~remove_dir() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  make_owned_dir(dir);
  const fs::path data = dir / "data";
  run_tool("/bin/cp", {"cp", "-a", backup.dir.string(), data.string()}, dir.string() + ".cp.log",
           {"PATH=/usr/bin:/bin", "LC_ALL=C"}, deadline);
  {
    std::ofstream signal_file{data / "recovery.signal"};  // empty: start in targeted recovery
    std::ofstream password{dir / "superuser.password"};   // the source's, as in the copied pg_authid
    password << source.password << '\n';
    if (!signal_file || !password) throw std::runtime_error("cannot write into " + dir.string());
  }
  const auto account = server_account();
  if (::chown((data / "recovery.signal").c_str(), account.uid, account.gid) != 0) {
    throw std::runtime_error("cannot hand recovery.signal to the postgres user: " +
                             std::string{std::strerror(errno)});
  }
  restore_result out;
  out.copy_s = seconds_since(start);
  shop::postgres_server_options o;
  o.bin_dir = source.bin_dir;
  o.dir = dir;
  o.settings = {"restore_command=cp '" + source.archive_dir.string() + "/%f' '%p'",
                "recovery_target_name=" + target, "recovery_target_action=promote",
                // Refuse connections until the target is reached and the cluster promoted: "accepts
                // connections" is then the end of the restore.
                "hot_standby=off", "archive_mode=off", "cluster_name=stampede-restore"};
  shop::postgres_server server{o};
  server.init();
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - steady::now());
  const auto recovery_start = steady::now();
  try {
    out.restored_pid = server.start(std::max(left, std::chrono::seconds{1}));
  } catch (const std::exception& e) {
    // Keep the server's log beside the backup for the post-mortem; the cluster itself goes.
    std::error_code ec;
    fs::copy_file(server.log_path(), dir.string() + ".postgres.log", fs::copy_options::overwrite_existing,
                  ec);
    // The startup process's own reason ("recovery ended before configured recovery target was reached"),
    // which the tail of the log hides under the refusals of our readiness polls.
    const std::string reason = recovery_failure(server.log_path());
    throw std::runtime_error(std::string{"restore to '"} + target +
                             "': " + (reason.empty() ? e.what() : reason));
  }
  out.recovery_s = seconds_since(recovery_start);
  out.restore_s = seconds_since(start);
  out.recovery_stop = find_line(server.log_path(), "recovery stopping");
  out.phases = recovery_phases(server.log_path());
  out.orders = read_orders(server.superuser_conninfo(source.database));
  server.stop(std::chrono::seconds{10});
  std::error_code ec;
  fs::copy_file(server.log_path(), dir.string() + ".postgres.log", fs::copy_options::overwrite_existing, ec);
  return out;
}

}  // namespace stampede::drill
