// The backup game day's parts that need no running PostgreSQL: LSN parsing, the restored server's log read
// into recovery phases, the topology's `database.wal_archive` read (and refused when malformed, naming the
// field), and the drill's backup API on its error paths (no token, unknown restore point, a bad name, a
// server that is not there: one clear answer each, never a hang). The happy paths run end to end in
// drill_backup_restore_test.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

#include <boost/json.hpp>

#include "common/http_client.h"
#include "common/loopback.h"
#include "drill/backup_service.h"
#include "drill/pg_backup.h"
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
  std::ofstream{log} << "2026-12-06 16:04:01.959 UTC [4404] LOG:  starting PostgreSQL 15.20 (Debian)\n"
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
  EXPECT_EQ(backup_source::from_topology(json::parse(R"({"database":{"kind":"sqlite","path":"x"}})").as_object()),
            std::nullopt);
  const auto s = backup_source::from_topology(topology_with(
      {{"dir", "/d/wal_archive"}, {"bin_dir", "/usr/lib/postgresql/15/bin"},
       {"superuser_url", "postgresql://postgres:abc123@127.0.0.1:5433/postgres"}}));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->password, "abc123");
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 5433);
  EXPECT_EQ(s->database, "shop");
  EXPECT_EQ(s->archive_dir, "/d/wal_archive");
  EXPECT_EQ(s->conninfo(), "host=127.0.0.1 port=5433 user=postgres password=abc123 dbname=postgres");

  try {
    backup_source::from_topology(topology_with({{"dir", "/d"}, {"superuser_url", "postgresql://postgres:x@h:1/p"}}));
    ADD_FAILURE() << "no bin_dir accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("database.wal_archive.bin_dir"), std::string::npos) << e.what();
  }
  for (const char* url : {"postgresql://shop@h/p", "postgresql://postgres:x@h:abc/p", "postgresql://postgres:x@h/p",
                          "postgresql://postgres:x@h:99999/p", "postgresql://postgres:x@h:1"}) {
    EXPECT_THROW(backup_source::from_topology(topology_with({{"dir", "/d"}, {"bin_dir", "/b"}, {"superuser_url", url}})),
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
    http::blocking_client client{"127.0.0.1", static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1))),
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

}  // namespace
}  // namespace stampede::drill
