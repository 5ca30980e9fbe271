// What the autoscaler reads: HAProxy 2.6's `show stat` CSV (recorded) and a node's request-duration
// histogram (rendered by the node's own writer), and the p99 of a tick's bucket difference.
#include "reference_shop/autoscale_metrics.h"

#include <gtest/gtest.h>

#include "reference_shop/metrics.h"

namespace stampede::shop::autoscale {
namespace {

// Recorded from HAProxy 2.6.12 (columns cut after stot... status, as HAProxy names them in its header).
constexpr std::string_view show_stat =
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,"
    "weight\n"
    "shop,FRONTEND,,,3,9,9985,800,656,4224,0,0,0,,,,,OPEN,\n"
    "nodes,node1,0,0,2,5,64,600,492,3168,,0,,0,0,0,0,UP,100\n"
    "nodes,node2,1,1,0,1,64,0,0,0,,0,,0,0,0,0,DOWN,100\n"
    "nodes,node3,0,0,1,1,64,7,0,0,,0,,0,0,0,0,DRAIN,100\n"
    "nodes,node4,0,0,0,1,64,0,0,0,,0,,0,0,0,0,MAINT,100\n"
    "nodes,BACKEND,4,4,3,9,999,607,656,4224,0,0,,0,0,0,0,UP,100\n"
    "observability,FRONTEND,,,1,1,9985,3,0,0,0,0,0,,,,,OPEN,\n";

TEST(autoscale_metrics, show_stat_gives_each_server_and_the_backend) {
  const auto stat = parse_show_stat(show_stat, "nodes");
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->queued, 4);
  EXPECT_EQ(stat->total, 607);
  ASSERT_EQ(stat->servers.size(), 4u);
  const auto& node1 = stat->servers.at("node1");
  EXPECT_EQ(node1.status, "UP");
  EXPECT_EQ(node1.in_flight, 2);
  EXPECT_EQ(node1.total, 600);
  EXPECT_TRUE(node1.up());
  EXPECT_FALSE(stat->servers.at("node2").up());
  EXPECT_EQ(stat->servers.at("node2").queued, 1);
  EXPECT_TRUE(stat->servers.at("node3").up());  // draining: still finishing its requests
  EXPECT_FALSE(stat->servers.at("node4").up());
  EXPECT_FALSE(parse_show_stat(show_stat, "other").has_value());
  EXPECT_FALSE(parse_show_stat("", "nodes").has_value());
  EXPECT_FALSE(parse_show_stat("garbage\nmore,garbage\n", "nodes").has_value());
}

std::string rendered(const duration_histograms& h) {
  prometheus::text_writer out;
  h.render(out, "shop_http_request_duration_seconds", "test");
  return out.take();
}

TEST(autoscale_metrics, duration_buckets_sum_routes_without_the_probes) {
  duration_histograms h;
  for (int i = 0; i < 90; ++i) h.observe("/api/products/{id}", "GET", 200, 0.0007);  // <= 1 ms
  for (int i = 0; i < 10; ++i) h.observe("/api/orders", "POST", 201, 0.3);           // <= 500 ms
  for (int i = 0; i < 500; ++i) h.observe("/readyz", "GET", 200, 0.0001);            // HAProxy's checks
  h.observe("/metrics", "GET", 200, 0.02);
  const auto b = parse_duration_buckets(rendered(h));
  EXPECT_EQ(b[0], 0u);    // <= 0.5 ms: only the probes, left out
  EXPECT_EQ(b[1], 90u);   // <= 1 ms
  EXPECT_EQ(b[8], 90u);   // <= 250 ms
  EXPECT_EQ(b[9], 100u);  // <= 500 ms
  EXPECT_EQ(b.back(), 100u);
  EXPECT_EQ(parse_duration_buckets("").back(), 0u);
}

TEST(autoscale_metrics, p99_of_a_tick_interpolates_inside_its_bucket) {
  duration_histograms h;
  for (int i = 0; i < 90; ++i) h.observe("/a", "GET", 200, 0.0007);
  const auto before = parse_duration_buckets(rendered(h));
  for (int i = 0; i < 100; ++i) h.observe("/a", "GET", 200, i < 98 ? 0.0007 : 0.3);
  const auto delta = bucket_delta(parse_duration_buckets(rendered(h)), before);
  EXPECT_EQ(delta.back(), 100u);
  // Rank 99 of 100: the first of the 2 in (250, 500] ms: 250 + 250 x (99 - 98) / 2 = 375 ms.
  ASSERT_TRUE(p99_ms(delta).has_value());
  EXPECT_NEAR(*p99_ms(delta), 375, 1e-6);
  EXPECT_FALSE(p99_ms(bucket_delta(before, before)).has_value());  // nothing in the tick: no p99
  // A restarted node (counters went down) counts from zero.
  duration_buckets restarted{};
  restarted[1] = 5;
  restarted.back() = 5;
  EXPECT_EQ(bucket_delta(restarted, before), restarted);
  // Beyond the last bound: the last bound (10 s).
  duration_buckets slow{};
  slow.back() = 10;
  EXPECT_DOUBLE_EQ(*p99_ms(slow), 10'000);
}

}  // namespace
}  // namespace stampede::shop::autoscale
