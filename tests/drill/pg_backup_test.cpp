// The backup game day's parts that need no running PostgreSQL: LSN parsing, the restored server's log read
// into recovery phases, the topology's `database.wal_archive` read (and refused when malformed, naming the
// field), and the drill's backup API on its error paths (no token, unknown restore point, a bad name, a
// server that is not there: one clear answer each, never a hang). The happy paths run end to end in
// drill_backup_restore_test.
#include "drill/pg_backup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>

#include "common/http_client.h"
#include "common/loopback.h"
#include "drill/backup_service.h"
#include "reference_shop/child_process.h"
#include "reference_shop/pg_connection.h"
#include "reference_shop/postgres_server.h"
#include "tests/reference_shop/pg_template.h"
#include "tests/support/child_process.h"

namespace stampede::drill {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

TEST(pg_backup, lsn_parsing) {
  EXPECT_EQ(parse_lsn("0/3000028"), 0x3000028u);
  EXPECT_EQ(parse_lsn("1/0"), uint64_t{1} << 32);
  EXPECT_EQ(parse_lsn("FFFFFFFF/FFFFFFFF"), UINT64_MAX);
  for (const char* bad : {"", "0/", "/1", "x/1", "03000028", "0/3000028 ", "123456789/0", "0/123456789"}) {
    EXPECT_EQ(parse_lsn(bad), std::nullopt) << bad;
  }
}

TEST(pg_backup, recovery_phases_from_the_servers_log) {
  stampede::testing::temp_dir dir{"stampede-pg-backup-test"};
  const fs::path log = dir.path() / "postgres.log";
  std::ofstream{log}
      << "2026-12-06 16:04:01.959 UTC [4404] LOG:  starting PostgreSQL 15.20 (Debian)\n"
         "2026-12-06 16:04:02.005 UTC [4408] FATAL:  the database system is starting up\n"
         "2026-12-06 16:04:05.510 UTC [4407] LOG:  starting point-in-time recovery to \"target\"\n"
         "2026-12-06 16:04:05.621 UTC [4407] LOG:  redo starts at 0/2000028\n"
         "2026-12-06 16:04:05.853 UTC [4407] LOG:  recovery stopping at restore point \"target\"\n"
         "2026-12-06 16:04:06.344 UTC [4404] LOG:  database system is ready to accept connections\n";
  const auto p = recovery_phases(log);
  EXPECT_NEAR(p.at("startup_s").as_double(), 3.551, 1e-9);
  EXPECT_NEAR(p.at("replay_s").as_double(), 0.232, 1e-9);
  EXPECT_NEAR(p.at("promote_s").as_double(), 0.491, 1e-9);

  // Across midnight; and a log without the milestones (the server never got there): nulls, not guesses.
  std::ofstream{log} << "2026-12-06 23:59:59.500 UTC [1] LOG:  starting PostgreSQL 15.20\n"
                        "2026-12-07 00:00:01.000 UTC [2] LOG:  starting point-in-time recovery to \"t\"\n";
  EXPECT_NEAR(recovery_phases(log).at("startup_s").as_double(), 1.5, 1e-9);
  std::ofstream{log} << "garbage\n";
  const auto none = recovery_phases(log);
  EXPECT_TRUE(none.at("startup_s").is_null());
  EXPECT_TRUE(none.at("replay_s").is_null());
  EXPECT_TRUE(none.at("promote_s").is_null());
}

json::object topology_with(json::object archive) {
  return {{"database", json::object{{"kind", "postgres"},
                                    {"url", "postgresql://shop:pw@127.0.0.1:5433/shop"},
                                    {"wal_archive", std::move(archive)}}}};
}

TEST(pg_backup, backup_source_from_the_topology) {
  EXPECT_EQ(backup_source::from_topology({}), std::nullopt);
  EXPECT_EQ(
      backup_source::from_topology(json::parse(R"({"database":{"kind":"sqlite","path":"x"}})").as_object()),
      std::nullopt);
  const auto s = backup_source::from_topology(
      topology_with({{"dir", "/d/wal_archive"},
                     {"bin_dir", "/usr/lib/postgresql/15/bin"},
                     {"superuser_url", "postgresql://postgres:abc123@127.0.0.1:5433/postgres"}}));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->password, "abc123");
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 5433);
  EXPECT_EQ(s->database, "shop");
  EXPECT_EQ(s->archive_dir, "/d/wal_archive");
  EXPECT_EQ(s->conninfo(), "host=127.0.0.1 port=5433 user=postgres password=abc123 dbname=postgres");

  try {
    backup_source::from_topology(
        topology_with({{"dir", "/d"}, {"superuser_url", "postgresql://postgres:x@h:1/p"}}));
    ADD_FAILURE() << "no bin_dir accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("database.wal_archive.bin_dir"), std::string::npos) << e.what();
  }
  for (const char* url :
       {"postgresql://shop@h/p", "postgresql://postgres:x@h:abc/p", "postgresql://postgres:x@h/p",
        "postgresql://postgres:x@h:99999/p", "postgresql://postgres:x@h:1"}) {
    EXPECT_THROW(backup_source::from_topology(
                     topology_with({{"dir", "/d"}, {"bin_dir", "/b"}, {"superuser_url", url}})),
                 std::runtime_error)
        << url;
  }
}

// The API on a source whose server is not there (a free port nobody listens on).
class backup_api_test : public ::testing::Test {
 protected:
  void SetUp() override {
    backup_source s;
    s.port = free_loopback_port();
    s.password = "nope";
    s.archive_dir = dir_.path() / "archive";
    s.bin_dir = "/usr/lib/postgresql/15/bin";
    service_ = std::make_unique<backup_service>(s, dir_.path());
  }
  http::client_response call(const std::string& method, const std::string& path, const std::string& body,
                             bool token = true) {
    const std::string url = service_->url();
    http::blocking_client client{"127.0.0.1",
                                 static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1))),
                                 std::chrono::seconds{30}};
    std::vector<std::pair<std::string, std::string>> headers;
    if (token) headers.emplace_back("Authorization", "Bearer " + service_->token());
    return client.request(method, path, body, headers);
  }
  stampede::testing::temp_dir dir_{"stampede-pg-backup-test"};
  std::unique_ptr<backup_service> service_;
};

TEST_F(backup_api_test, every_mistake_is_one_clear_answer) {
  EXPECT_EQ(call("POST", "/base-backup", "", false).status, 401);
  EXPECT_EQ(call("POST", "/nothing", "").status, 404);
  EXPECT_EQ(call("GET", "/base-backup", "").status, 405);

  auto r = call("POST", "/restore", R"({"target":"nope"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("no restore point named 'nope'"), std::string::npos) << r.body;
  r = call("POST", "/restore", "not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("JSON object"), std::string::npos) << r.body;
  r = call("POST", "/restore-point", R"({"name":"two words"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("restore point's name"), std::string::npos) << r.body;
  r = call("POST", "/restore-point", R"({})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("'name' is missing"), std::string::npos) << r.body;

  // The server is not there: pg_basebackup's and libpq's own reasons, and nothing recorded.
  r = call("POST", "/base-backup", "");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("pg_basebackup failed"), std::string::npos) << r.body;
  r = call("POST", "/restore-point", R"({"name":"t"})");
  EXPECT_EQ(r.status, 500) << r.body;
  const auto status = json::parse(call("GET", "/status", "").body).as_object();
  EXPECT_TRUE(status.at("base_backups").as_array().empty()) << json::serialize(status);
  EXPECT_TRUE(status.at("restore_points").as_array().empty()) << json::serialize(status);
  EXPECT_EQ(status.at("archived_segments").as_int64(), 0);
}

// With a real PostgreSQL 15 server archiving its WAL (the shop's postgres_server with wal_archive): the
// archive fills, refuses to overwrite a segment, and a point-in-time restore from a base backup holds
// exactly the rows committed before the restore point; a target that the WAL never reaches is the server's
// own error, with no process and no directory left behind.
namespace pg_archive {

class pg_archive_test : public ::testing::Test {
 protected:
  void SetUp() override {
    shop::postgres_server_options o;
    o.dir = dir_.path() / "postgres";
    shop::testing::copy_pg_template(o.dir);  // a cluster of its own without an initdb
    o.wal_archive = true;
    server_ = std::make_unique<shop::postgres_server>(o);
    server_->init();
    server_->start();
    server_->ensure_database("shop", "shoppw", "shop");
    source_.port = server_->port();
    std::ifstream{o.dir / "superuser.password"} >> source_.password;
    source_.archive_dir = server_->wal_archive_dir();
    source_.bin_dir = server_->bin_dir();
    std::error_code ec;
    fs::permissions(dir_.path(), fs::perms::others_exec, fs::perm_options::add,
                    ec);  // the postgres user's way in
    work_ = dir_.path() / "work";
    fs::create_directory(work_);
    const auto account = shop::postgres_account();  // the server's user writes backups and restores here
    ASSERT_TRUE(account.has_value());
    ASSERT_EQ(::chown(work_.c_str(), account->uid, account->gid), 0);
    exec("shop",
         "CREATE TABLE orders(id bigint PRIMARY KEY, user_id bigint NOT NULL, idempotency_key text, "
         "status text NOT NULL)");
  }
  void exec(const std::string& db, const std::string& sql) {
    shop::pg::connection c{source_.conninfo(db), shop::pg::settings{}};
    c.exec(sql);
  }
  void insert(int from, int to) {
    exec("shop", "INSERT INTO orders SELECT g, 7, 'k' || g, 'paid' FROM generate_series(" +
                     std::to_string(from) + ", " + std::to_string(to) + ") g");
  }
  std::string query(const std::string& sql) {
    shop::pg::connection c{source_.conninfo(), shop::pg::settings{}};
    return c.query(sql).text(0, 0);
  }

  stampede::testing::temp_dir dir_{"stampede-pg-archive-test"};
  std::unique_ptr<shop::postgres_server> server_;
  backup_source source_;
  fs::path work_;
};

TEST_F(pg_archive_test, the_archive_fills_and_never_overwrites_a_segment) {
  const std::string next = query("SELECT pg_walfile_name(pg_current_wal_lsn())");
  exec("postgres", "SELECT pg_switch_wal()");
  ASSERT_TRUE(stampede::testing::eventually([&] { return fs::exists(source_.archive_dir / next); },
                                            std::chrono::seconds{20}))
      << next;
  // A file already there under the next segment's name: the archive_command refuses it (counted as a
  // failure by the archiver, retried), the file stays as it was.
  insert(1, 10);
  const std::string taken = query("SELECT pg_walfile_name(pg_current_wal_lsn())");
  std::ofstream{source_.archive_dir / taken} << "not a segment";
  exec("postgres", "SELECT pg_switch_wal()");
  ASSERT_TRUE(stampede::testing::eventually(
      [&] { return query("SELECT failed_count FROM pg_stat_archiver") != "0"; }, std::chrono::seconds{20}));
  EXPECT_EQ(query("SELECT last_failed_wal FROM pg_stat_archiver"), taken);
  EXPECT_EQ(stampede::testing::read_text(source_.archive_dir / taken), "not a segment");
}

TEST_F(pg_archive_test, restore_to_a_point_holds_exactly_the_rows_before_it) {
  insert(1, 100);
  const auto backup = take_base_backup(source_, work_ / "base1", std::chrono::seconds{60});
  EXPECT_GT(backup.size_bytes, 1'000'000u);
  ASSERT_TRUE(parse_lsn(backup.start_lsn).has_value()) << backup.start_lsn;
  ASSERT_TRUE(parse_lsn(backup.end_lsn).has_value()) << backup.end_lsn;
  EXPECT_GT(*parse_lsn(backup.end_lsn), *parse_lsn(backup.start_lsn));
  insert(101, 200);  // after the backup, before the point: only in the archive
  const std::string lsn = create_restore_point(source_, "p1");
  insert(201, 300);  // after the point
  EXPECT_GE(wait_until_archived(source_, lsn, std::chrono::seconds{30}), 0.0);

  const auto r = point_in_time_restore(source_, backup, "p1", work_ / "restore1", std::chrono::seconds{60});
  EXPECT_EQ(r.orders.at("total").as_int64(), 200);
  const auto& keyed = r.orders.at("keyed").as_array();
  ASSERT_EQ(keyed.size(), 200u);
  EXPECT_EQ(keyed.front().at("key"), "k1");
  EXPECT_EQ(keyed.back().at("key"), "k200");
  EXPECT_NE(r.recovery_stop.find("recovery stopping at restore point \"p1\""), std::string::npos)
      << r.recovery_stop;
  EXPECT_GT(r.restore_s, 0.0);
  EXPECT_TRUE(r.phases.at("replay_s").is_number());
  EXPECT_FALSE(fs::exists(work_ / "restore1"));
  EXPECT_TRUE(::kill(r.restored_pid, 0) == -1 && errno == ESRCH) << r.restored_pid;
}

TEST_F(pg_archive_test, a_target_the_wal_never_reaches_is_the_servers_error_and_leaves_nothing) {
  const auto backup = take_base_backup(source_, work_ / "base1", std::chrono::seconds{60});
  insert(1, 10);
  const std::string lsn = create_restore_point(source_, "real");
  wait_until_archived(source_, lsn, std::chrono::seconds{30});
  try {
    point_in_time_restore(source_, backup, "never_made", work_ / "restore1", std::chrono::seconds{60});
    ADD_FAILURE() << "a restore to a point that does not exist succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("restore to 'never_made'"), std::string::npos) << e.what();
    EXPECT_NE(std::string{e.what()}.find("recovery target"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(work_ / "restore1"));
  EXPECT_TRUE(fs::exists(work_ / "restore1.postgres.log"));  // kept for the post-mortem
}

}  // namespace pg_archive

}  // namespace
}  // namespace stampede::drill
