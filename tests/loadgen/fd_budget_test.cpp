// The start-up descriptor estimate (loadgen/fd_budget.h): one connection per VU, or what the pools can open.
#include "loadgen/fd_budget.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace stampede::loadgen {
namespace {

scenario_options constant_vus(int64_t vus) {
  scenario_options s;
  s.executor = executor_kind::constant_vus;
  s.vus = vus;
  return s;
}

TEST(connections_needed, without_a_cap_counts_one_per_vu_of_every_scenario) {
  run_options o;
  o.scenarios = {constant_vus(30'000), constant_vus(5'000)};
  const connection_budget b = connections_needed(o, 2);
  EXPECT_EQ(b.vus, 35'000);
  EXPECT_EQ(b.connections, 35'000);
  EXPECT_EQ(b.what, "stampede: up to 35000 VUs");
}

TEST(connections_needed, with_a_cap_counts_the_cap_per_thread_and_origin) {
  run_options o;
  o.scenarios = {constant_vus(100'000)};
  o.max_connections_per_host = 1'000;
  EXPECT_EQ(connections_needed(o, 1).connections, 1'000);
  EXPECT_EQ(connections_needed(o, 2).connections, 2'000);  // the cap is per worker thread
  o.proxies = {{"db", "127.0.0.1:5432"}, {"api", "127.0.0.1:8080"}};
  const connection_budget b = connections_needed(o, 2);
  EXPECT_EQ(b.connections, 6'000);  // the target and two proxies: 3 origins
  EXPECT_EQ(b.vus, 100'000);
  EXPECT_EQ(
      b.what,
      "stampede: up to 100000 VUs through at most 1000 connections per host (maxConnectionsPerHost) x 2 "
      "thread(s) x 3 origin(s)");
}

TEST(connections_needed, a_cap_above_the_vus_counts_one_per_vu) {
  run_options o;
  o.scenarios = {constant_vus(500)};
  o.max_connections_per_host = 1'000;
  const connection_budget b = connections_needed(o, 1);
  EXPECT_EQ(b.connections, 500);
  EXPECT_EQ(b.what, "stampede: up to 500 VUs");
  o.max_connections_per_host = INT64_MAX;  // overflows cap x threads: caps nothing
  EXPECT_EQ(connections_needed(o, 4).connections, 500);
}

}  // namespace
}  // namespace stampede::loadgen
