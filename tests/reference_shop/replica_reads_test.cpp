// Replica reads (reference_shop/replica_reads.h): where a staleness-tolerant read goes in each mode, the
// `last_write` cookie, and the flags (bad values named). The end-to-end proof is the replica-lag game day
// (tests/drill/drill_end_to_end_test.cpp, drill_gameday.replica_lag_*).
#include "reference_shop/replica_reads.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "reference_shop/data_tier.h"
#include "reference_shop/options.h"

namespace stampede::shop {
namespace {

using std::chrono::milliseconds;

http::request with_cookie(const std::string& cookie) {
  http::request r;
  r.method = "GET";
  r.target = "/api/orders";
  r.headers.raw = "Host: shop\r\nCookie: " + cookie + "\r\n";
  return r;
}

TEST(replica_reads, modes_parse_and_print) {
  EXPECT_EQ(parse_replica_read_mode("off"), replica_read_mode::off);
  EXPECT_EQ(parse_replica_read_mode("on"), replica_read_mode::on);
  EXPECT_EQ(parse_replica_read_mode("read-your-writes"), replica_read_mode::read_your_writes);
  EXPECT_FALSE(parse_replica_read_mode("ryw"));
  EXPECT_EQ(to_string(replica_read_mode::read_your_writes), "read-your-writes");
  EXPECT_EQ(parse_replica_read_mode("read-your-writes-lsn"), replica_read_mode::read_your_writes_lsn);
  EXPECT_EQ(to_string(replica_read_mode::read_your_writes_lsn), "read-your-writes-lsn");
}

// read-your-writes-lsn: the routing is the replica's (the node waits for its LSN, then falls back), and
// the cookie carries an LSN that PostgreSQL reads, nothing else.
TEST(replica_reads, read_your_writes_lsn_cookie_carries_only_an_lsn) {
  EXPECT_FALSE(
      read_from_primary(replica_read_mode::read_your_writes_lsn, 10'000, 10'000, milliseconds{5000}));
  const std::string set = last_write_lsn_set_cookie("0/3000148");
  EXPECT_EQ(set.rfind("last_write_lsn=0/3000148; ", 0), 0u) << set;
  EXPECT_NE(set.find("HttpOnly"), std::string::npos);
  EXPECT_EQ(last_write_lsn_of(with_cookie("sid=abc; last_write_lsn=16/B374D848")), "16/B374D848");
  EXPECT_EQ(last_write_lsn_of(with_cookie("last_write_lsn=0/0")), "0/0");
  for (const char* bad : {"sid=abc", "last_write_lsn=", "last_write_lsn=0", "last_write_lsn=/1",
                          "last_write_lsn=1/", "last_write_lsn=123456789/0", "last_write_lsn=0/1'; DROP",
                          "last_write_lsn=G/1", "last_write_lsn=1/2/3"}) {
    EXPECT_FALSE(last_write_lsn_of(with_cookie(bad))) << bad;
  }
}

TEST(replica_reads, off_reads_the_primary_and_on_the_replica_whatever_the_cookie) {
  for (auto last : {std::optional<int64_t>{}, std::optional<int64_t>{9'999}}) {
    EXPECT_TRUE(read_from_primary(replica_read_mode::off, last, 10'000, milliseconds{5000}));
    EXPECT_FALSE(read_from_primary(replica_read_mode::on, last, 10'000, milliseconds{5000}));
  }
}

TEST(replica_reads, read_your_writes_pins_to_the_primary_for_the_window_after_a_write) {
  const auto ryw = replica_read_mode::read_your_writes;
  EXPECT_FALSE(read_from_primary(ryw, std::nullopt, 10'000, milliseconds{5000})) << "no write: a replica";
  EXPECT_TRUE(read_from_primary(ryw, 10'000, 10'000, milliseconds{5000}));
  EXPECT_TRUE(read_from_primary(ryw, 5'001, 10'000, milliseconds{5000}));
  EXPECT_FALSE(read_from_primary(ryw, 5'000, 10'000, milliseconds{5000})) << "the window has passed";
  EXPECT_TRUE(read_from_primary(ryw, 99'999, 10'000, milliseconds{5000})) << "a future time counts as now";
}

TEST(replica_reads, last_write_cookie_round_trips_and_bad_values_are_absent) {
  const std::string set = last_write_set_cookie(1'700'000'000'123, milliseconds{5000});
  EXPECT_EQ(set, "last_write=1700000000123; Path=/; HttpOnly; SameSite=Lax; Max-Age=5");
  EXPECT_EQ(last_write_of(with_cookie("sid=abc; last_write=1700000000123")), 1'700'000'000'123);
  EXPECT_FALSE(last_write_of(with_cookie("sid=abc")));
  EXPECT_FALSE(last_write_of(with_cookie("last_write=12x")));
  EXPECT_FALSE(last_write_of(with_cookie("last_write=-5")));
  EXPECT_FALSE(last_write_of(with_cookie("last_write=99999999999999999999999")));
  EXPECT_EQ(last_write_set_cookie(0, milliseconds{1}).substr(0, 12), "last_write=0");
}

TEST(replica_reads, replication_via_names_members_and_addresses) {
  const auto via = parse_replication_via("pg1=127.0.0.1:5001,pg2=127.0.0.1:5002");
  ASSERT_EQ(via.size(), 2u);
  EXPECT_EQ(via.at("pg1"), "127.0.0.1:5001");
  EXPECT_EQ(via.at("pg2"), "127.0.0.1:5002");
  for (const char* bad : {"pg1", "primary=127.0.0.1:5001", "pg=127.0.0.1:1", "pgx=127.0.0.1:1",
                          "pg1=127.0.0.1", "pg1=127.0.0.1:0"}) {
    try {
      parse_replication_via(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string{e.what()}.find("--replication-via"), std::string::npos)
          << bad << ": " << e.what();
    }
  }
}

// The replica flags parsed as a command line (the first word is the command's name, as in argv).
arg_list args_of(std::vector<std::string> words) {
  static const cli::command spec{"replica-test",
                                 "",
                                 "",
                                 {{"--replica-reads", {}, "MODE"},
                                  {"--replica-pin-ms", {}, "MS"},
                                  {"--pg-ports", {}, "P1,..."},
                                  {"--replication-via", {}, "pgK=ADDR"},
                                  {"--db-replica-url", {}, "URL"},
                                  {"--ha", {}, "MODE"}},
                                 ""};
  static std::vector<std::string> keep;
  keep = std::move(words);
  keep.insert(keep.begin(), "replica-test");
  std::vector<char*> argv;
  for (auto& w : keep) argv.push_back(w.data());
  return cli::parse(spec, argv);
}

TEST(replica_reads, flags_are_validated_with_the_flag_named) {
  auto o = parse_replica_tier_options(args_of({"--ha", "patroni", "--replica-reads", "read-your-writes",
                                               "--replica-pin-ms", "2500", "--pg-ports", "5001,5002"}));
  EXPECT_EQ(o.reads, replica_read_mode::read_your_writes);
  EXPECT_EQ(o.pin, milliseconds{2500});
  EXPECT_EQ(o.pg_ports, (std::vector<uint16_t>{5001, 5002}));
  auto expect_error = [](std::vector<std::string> words, const std::string& needle, bool node) {
    try {
      auto a = args_of(std::move(words));
      if (node) {
        parse_node_replica_flags(a, "postgresql://shop@127.0.0.1:1/shop");
      } else {
        parse_replica_tier_options(a);
      }
      ADD_FAILURE() << "accepted; expected " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string{e.what()}.find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({"--replica-reads", "always"},
               "--replica-reads must be off, on, read-your-writes or read-your-writes-lsn", false);
  expect_error({"--replica-reads", "on"}, "--replica-reads needs --ha patroni", false);
  expect_error({"--pg-ports", "5001,5002"}, "--pg-ports and --replication-via need --ha patroni", false);
  expect_error({"--pg-ports", "5001,x"}, "--pg-ports", false);
  expect_error({"--replica-pin-ms", "0"}, "--replica-pin-ms", false);
  expect_error({"--replica-reads", "on"}, "--db-replica-url", true);
  expect_error({"--db-replica-url", "postgresql://x@127.0.0.1:2/shop"}, "--db-replica-url needs", true);
}

TEST(replica_reads, the_data_tier_refuses_replica_flags_without_patroni) {
  data_tier_options o;
  o.kind = "postgres";
  o.replica.reads = replica_read_mode::on;
  EXPECT_THROW(data_tier{o}, std::invalid_argument);
  o.ha = "patroni";
  o.replicas = 0;
  EXPECT_THROW(data_tier{o}, std::invalid_argument) << "no replica to read from";
  o.replicas = 1;
  o.replica.pg_ports = {5001};
  EXPECT_THROW(data_tier{o}, std::invalid_argument) << "one port per member";
  o.replica.pg_ports = {5001, 5002};
  o.replica.replication_via = {{"pg3", "127.0.0.1:6000"}};
  EXPECT_THROW(data_tier{o}, std::invalid_argument) << "no pg3 with one replica";
  o.replica.replication_via = {{"pg2", "127.0.0.1:6000"}};
  EXPECT_NO_THROW(data_tier{o});
}

}  // namespace
}  // namespace stampede::shop
