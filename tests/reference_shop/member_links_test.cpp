// The members' links through fault proxies (reference_shop/member_links.h): the flags (bad values named),
// the database HAProxy's servers and checks through them. The end-to-end proof is the partition game day
// (tests/drill/drill_end_to_end_test.cpp, drill_gameday.db_partition_*).
#include "reference_shop/member_links.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reference_shop/haproxy_config.h"

namespace stampede::shop {
namespace {

arg_list args_of(std::vector<std::string> words) {
  static const cli::command spec{"links-test",
                                 "",
                                 "",
                                 {{"--dcs-via", {}, "pgK=ADDR"},
                                  {"--postgres-via", {}, "pgK=ADDR"},
                                  {"--rest-via", {}, "pgK=ADDR"},
                                  {"--etcd-port", {}, "P"},
                                  {"--rest-ports", {}, "P1,..."},
                                  {"--replicas", {}, "N"},
                                  {"--ha", {}, "MODE"}},
                                 ""};
  static std::vector<std::string> keep;
  keep = std::move(words);
  keep.insert(keep.begin(), "links-test");
  std::vector<char*> argv;
  for (auto& w : keep) argv.push_back(w.data());
  return cli::parse(spec, argv);
}

TEST(member_links, flags_name_members_and_addresses) {
  const auto o = parse_member_link_options(
      args_of({"--ha", "patroni", "--replicas", "1", "--dcs-via", "pg1=127.0.0.1:7001,pg2=127.0.0.1:7002",
               "--postgres-via", "pg1=127.0.0.1:7011", "--rest-via", "pg2=[::1]:7022"}));
  EXPECT_EQ(o.dcs_via.at("pg1"), "127.0.0.1:7001");
  EXPECT_EQ(o.dcs_via.at("pg2"), "127.0.0.1:7002");
  EXPECT_EQ(o.postgres_via.at("pg1"), "127.0.0.1:7011");
  EXPECT_EQ(o.rest_via.at("pg2"), "[::1]:7022");
  const auto ports = parse_member_link_options(
      args_of({"--ha", "patroni", "--replicas", "1", "--etcd-port", "7100", "--rest-ports", "7201,7202"}));
  EXPECT_EQ(ports.etcd_port, 7100);
  EXPECT_EQ(ports.rest_ports, (std::vector<uint16_t>{7201, 7202}));
  EXPECT_TRUE(parse_member_link_options(args_of({"--ha", "patroni"})).empty());
  auto expect_error = [](std::vector<std::string> words, const std::string& needle) {
    try {
      parse_member_link_options(args_of(std::move(words)));
      ADD_FAILURE() << "accepted; expected " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string{e.what()}.find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({"--dcs-via", "pg1=127.0.0.1:1"}, "need --ha patroni");
  expect_error({"--ha", "patroni", "--dcs-via", "etcd=127.0.0.1:1"}, "--dcs-via takes MEMBER=HOST:PORT");
  expect_error({"--ha", "patroni", "--postgres-via", "pg1=127.0.0.1"}, "--postgres-via");
  expect_error({"--ha", "patroni", "--replicas", "1", "--rest-via", "pg3=127.0.0.1:9"},
               "pg3 is not a member");
  expect_error({"--ha", "patroni", "--replicas", "1", "--rest-ports", "7201"}, "one port per member");
  expect_error({"--ha", "patroni", "--rest-ports", "7201,x,7"}, "--rest-ports are ports");
  expect_error({"--etcd-port", "7100"}, "need --ha patroni");
}

TEST(member_links, the_database_haproxy_reaches_members_and_checks_through_their_proxies) {
  haproxy_db_config c;
  c.primary_port = 7000;
  c.members = {{"pg1", 5001, 8001, "127.0.0.1:9001", "127.0.0.1:9101"}, {"pg2", 5002, 8002, {}, {}}};
  const std::string text = render_haproxy_db_config(c);
  EXPECT_NE(text.find("server pg1 127.0.0.1:9001 check addr 127.0.0.1 port 9101"), std::string::npos) << text;
  EXPECT_NE(text.find("server pg2 127.0.0.1:5002 check port 8002"), std::string::npos) << text;
}

}  // namespace
}  // namespace stampede::shop
