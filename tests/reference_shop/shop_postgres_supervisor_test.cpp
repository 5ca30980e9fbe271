// `stampede shop --db postgres` as real processes: the supervisor starts one PostgreSQL 15 server (as the
// postgres user, in DIR/postgres, on a free port), seeds it once, hands the nodes its URL, writes it into
// the topology, and leaves no process behind on SIGTERM, nor when it is SIGKILLed itself (the server has
// PR_SET_PDEATHSIG). A second start on the same directory keeps the data. Missing binaries and a bad --db
// are one clear line and an exit code, never a hang.
#include <gtest/gtest.h>

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/http_client.h"
#include "reference_shop/pg_connection.h"
#include "tests/reference_shop/shop_process_support.h"

namespace stampede::shop {
namespace {

using namespace testing;

// Processes whose parent is `parent` (PostgreSQL's backends and auxiliary processes).
std::set<pid_t> children_of(pid_t parent) {
  std::set<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream stat{"/proc/" + std::string{e->d_name} + "/stat"};
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields{line.substr(close + 2)};
    std::string state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid == parent) out.insert(pid);
  }
  ::closedir(proc);
  return out;
}

// The postmaster's pid as PostgreSQL wrote it into DIR/postgres/data/postmaster.pid (first line, second line
// the data directory), if that process still runs that cluster; -1 otherwise (stopped cleanly: no file).
pid_t running_postmaster(const std::filesystem::path& data_dir) {
  std::ifstream in{data_dir / "postmaster.pid"};
  std::string pid_line, dir_line;
  if (!std::getline(in, pid_line) || !std::getline(in, dir_line) || dir_line != data_dir.string()) return -1;
  const pid_t pid = static_cast<pid_t>(std::atoi(pid_line.c_str()));
  if (pid <= 0) return -1;
  // A stale file's pid may belong to someone else by now: only a postgres whose command line names this
  // data directory is ours.
  std::ifstream cmdline{"/proc/" + std::to_string(pid) + "/cmdline"};
  const std::string args{std::istreambuf_iterator<char>{cmdline}, {}};
  return args.find(data_dir.string()) != std::string::npos ? pid : -1;
}

// The effective uid of a running process (-1 when it is gone).
int64_t uid_of(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) {
      std::istringstream fields{line.substr(4)};
      int64_t real = -1, effective = -1;
      fields >> real >> effective;
      return effective;
    }
  }
  return -1;
}

class postgres_shop_test : public shop_process_test {
 protected:
  // Every path, a failed assertion or a start that never printed its URL included: the base class SIGKILLs
  // the supervisor and the server follows it (its death signal). Wait for that before the directory is
  // removed; if it does not happen, that is a failure, and the test stops the server itself.
  void TearDown() override {
    const auto data_dir = dir_.path() / "postgres" / "data";
    const pid_t server = running_postmaster(data_dir);
    shop_process_test::TearDown();
    if (server <= 0 || eventually([&] { return gone(server); }, 15s)) return;
    ADD_FAILURE() << "postgres (pid " << server << ") outlived the supervisor; stopping it";
    ::kill(server, SIGQUIT);  // immediate shutdown, takes its backends with it
    if (!eventually([&] { return gone(server); }, 5s)) ::kill(server, SIGKILL);
    eventually([&] { return gone(server); }, 5s);
  }
  pid_t postmaster() { return static_cast<pid_t>(topology_["database"].at("pid").as_int64()); }
  std::string admin() { return std::string{topology_["admin_token"].as_string()}; }
  // The password in the topology's postgresql://shop:PASSWORD@127.0.0.1:PORT/shop.
  std::string shop_password() {
    const std::string url{topology_["database"].at("url").as_string()};
    const size_t begin = url.find(':', url.find("//")) + 1, end = url.find('@');
    return begin > 0 && end != std::string::npos && end > begin ? url.substr(begin, end - begin) : "";
  }
  json::object audit() {
    http::blocking_client c{"127.0.0.1", port_of(entry_), 10s};
    auto r = c.request("GET", "/api/admin/audit", {}, {{"Authorization", "Bearer " + admin()}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).as_object();
  }
  int64_t place_order(const std::string& key) {
    http::blocking_client c{"127.0.0.1", port_of(entry_), 10s};
    auto s = c.post_json("/api/sessions", R"({"email":"customer7@shop.test","password":"stampede"})");
    EXPECT_EQ(s.status, 200) << s.body;
    const std::string token{json::parse(s.body).at("token").as_string()};
    auto r = c.post_json("/api/orders", R"({"items":[{"product_id":5,"qty":2}]})",
                         {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body).at("order_id").as_int64() : 0;
  }
};

TEST_F(postgres_shop_test, starts_postgres_seeds_once_serves_and_leaves_nothing_behind) {
  start({"--db", "postgres", "--nodes", "2", "--threads", "1", "--db-pool", "4"});
  const auto& db = topology_["database"].as_object();
  EXPECT_EQ(db.at("kind").as_string(), "postgres");
  EXPECT_EQ(db.at("role").as_string(), "primary");
  EXPECT_EQ(std::filesystem::path{std::string{db.at("data_dir").as_string()}},
            dir_.path() / "postgres" / "data");
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "postgres" / "data" / "PG_VERSION"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "shop.db"));  // no SQLite file in this mode
  EXPECT_FALSE(gone(postmaster()));
  // PostgreSQL refuses root: when the test runs as root the server runs as the postgres user.
  if (::geteuid() == 0) {
    const passwd* pg = ::getpwnam("postgres");
    ASSERT_NE(pg, nullptr);
    EXPECT_EQ(uid_of(postmaster()), static_cast<int64_t>(pg->pw_uid));
    EXPECT_EQ(std::filesystem::status(dir_.path() / "postgres" / "data").permissions() &
                  std::filesystem::perms::others_all,
              std::filesystem::perms::none);
  } else {
    EXPECT_EQ(uid_of(postmaster()), static_cast<int64_t>(::geteuid()));
  }
  EXPECT_EQ(running_postmaster(dir_.path() / "postgres" / "data"), postmaster());
  // The topology holds the admin token and the database password, and DIR is now enterable by others.
  EXPECT_EQ(std::filesystem::status(dir_.file("topology.json")).permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // The topology's URL reaches the shop's database as the shop's role.
  pg::connection sql{std::string{db.at("url").as_string()}, pg::settings{}};
  EXPECT_EQ(sql.exec("SELECT current_user").text(0, 0), "shop");
  EXPECT_EQ(sql.exec("SELECT COUNT(*) FROM products").int64(0, 0), 1000);
  EXPECT_EQ(sql.exec("SHOW max_connections").text(0, 0), "28");  // 2 nodes x 4 + 20
  EXPECT_EQ(sql.exec("SHOW fsync").text(0, 0), "on");
  // The nodes' sessions are PostgreSQL's children; the password is not on their command lines.
  const int64_t order = place_order("pg-1");
  EXPECT_GT(order, 900);
  bool paid = false;
  ASSERT_TRUE(eventually(
      [&] {
        const auto now = audit();
        for (const auto& o : now.at("orders").as_array()) {
          if (o.at("order_id").as_int64() == order) paid = o.at("status").as_string() == "paid";
        }
        return paid;
      },
      15s));
  const std::string password = shop_password();
  ASSERT_GE(password.size(), 16u) << db.at("url");
  for (const auto& n : topology_["nodes"].as_array()) {
    std::ifstream cmdline{"/proc/" + std::to_string(n.at("pid").as_int64()) + "/cmdline"};
    const std::string args{std::istreambuf_iterator<char>{cmdline}, {}};
    EXPECT_NE(args.find("postgresql://shop@127.0.0.1:" + std::to_string(db.at("port").as_int64()) + "/shop"),
              std::string::npos);
    EXPECT_EQ(args.find(password), std::string::npos) << "password on a command line";
  }
  const auto backends = children_of(postmaster());
  EXPECT_GE(backends.size(), 4u);  // checkpointer, writers, launcher, sessions
  stop_and_expect_nothing_left();
  // Backends exit right after the postmaster (it waits for them); one deadline for all of them.
  eventually([&] { return std::ranges::all_of(backends, gone); }, 5s);
  for (pid_t pid : backends) EXPECT_TRUE(gone(pid)) << "left behind: backend " << pid;
  EXPECT_NE(log().find("database PostgreSQL on 127.0.0.1:"), std::string::npos) << log();
}

// The supervisor SIGKILLed: nothing runs its shutdown, yet the server follows it (its death signal was
// armed after the switch to the postgres user), and with it every backend.
TEST_F(postgres_shop_test, sigkill_of_the_supervisor_takes_postgres_down) {
  start({"--db", "postgres", "--nodes", "1", "--threads", "1"});
  const auto pids = child_pids();
  const auto backends = children_of(postmaster());
  ASSERT_FALSE(backends.empty());
  ASSERT_EQ(::kill(supervisor_.pid, SIGKILL), 0);
  ASSERT_TRUE(wait_exit(supervisor_.pid, 10s).has_value());
  reaped_ = true;
  eventually([&] { return std::ranges::all_of(pids, gone) && std::ranges::all_of(backends, gone); }, 15s);
  for (pid_t pid : pids) EXPECT_TRUE(gone(pid)) << "left behind: pid " << pid;
  for (pid_t pid : backends) EXPECT_TRUE(gone(pid)) << "left behind: backend " << pid;
}

// A second start on the same directory reuses the cluster: the order of the first run is still there and
// the data set is not seeded again.
TEST_F(postgres_shop_test, restart_on_the_same_directory_keeps_the_data) {
  start({"--db", "postgres", "--nodes", "1", "--threads", "1"});
  const int64_t order = place_order("keep-1");
  stop_and_expect_nothing_left();
  ::close(supervisor_.stdout_fd);
  supervisor_ = {};
  reaped_ = false;
  start({"--db", "postgres", "--nodes", "1", "--threads", "1"});
  const auto after = audit();
  bool found = false;
  for (const auto& o : after.at("orders").as_array()) found = found || o.at("order_id").as_int64() == order;
  EXPECT_TRUE(found) << "order " << order << " lost across restarts";
  EXPECT_EQ(after.at("generation").as_int64(), 1);
  stop_and_expect_nothing_left();
}

TEST_F(postgres_shop_test, missing_binaries_are_one_line_naming_the_package) {
  supervisor_ = spawn({"shop", "--db", "postgres", "--port", "0", "--data", dir_.path().string(), "--pg-bin",
                       "/nonexistent/bin"},
                      log_file());
  auto status = wait_exit(supervisor_.pid, 30s);
  ASSERT_TRUE(status.has_value()) << "hung";
  reaped_ = true;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << log();
  EXPECT_EQ(log(),
            "stampede shop: PostgreSQL 15 not found: /nonexistent/bin/initdb is missing; install Debian's "
            "postgresql-15 package (scripts/setup.sh installs postgresql)\n");
}

TEST_F(postgres_shop_test, unknown_database_kind_is_a_usage_error) {
  supervisor_ = spawn({"shop", "--db", "mysql", "--port", "0", "--data", dir_.path().string()}, log_file());
  auto status = wait_exit(supervisor_.pid, 10s);
  ASSERT_TRUE(status.has_value());
  reaped_ = true;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << log();
  EXPECT_EQ(log().rfind("stampede shop: --db must be sqlite or postgres\n", 0), 0u) << log();
}

}  // namespace
}  // namespace stampede::shop
