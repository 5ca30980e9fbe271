// The NTP-style offset estimate on known exchanges.
#include "distributed/clock_offset.h"

#include <gtest/gtest.h>

#include <vector>

namespace stampede::distributed {
namespace {

TEST(clock_offset, a_symmetric_exchange_gives_the_exact_offset) {
  // The coordinator is 5 s ahead; 2 ms each way: agent sends at 1000, the server reads 1000 + 2000 + 5e6.
  const std::vector<clock_sample> samples{{1'000, 5'003'000, 5'000}};
  const auto o = estimate_offset(samples);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->offset_us, 5'000'000);
  EXPECT_EQ(o->round_trip_us, 4'000);
  EXPECT_EQ(o->error_bound_us(), 2'000);
}

TEST(clock_offset, a_negative_offset_when_the_agent_is_ahead) {
  const std::vector<clock_sample> samples{{10'000'000, 7'000'500, 10'001'000}};
  EXPECT_EQ(estimate_offset(samples)->offset_us, -3'000'000);
}

TEST(clock_offset, the_shortest_round_trip_wins) {
  // True offset 1000 us. The first exchange waited 9 ms on the way back only (asymmetric): its estimate is
  // off by 4.5 ms; the second, 200 us each way, is exact.
  const std::vector<clock_sample> samples{
      {0, 2'000, 10'000}, {20'000, 21'200, 20'400}, {40'000, 42'000, 43'000}};
  const auto o = estimate_offset(samples);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->offset_us, 1'000);
  EXPECT_EQ(o->round_trip_us, 400);
}

TEST(clock_offset, no_usable_sample_gives_none) {
  EXPECT_FALSE(estimate_offset({}));
  const std::vector<clock_sample> stepped_back{{5'000, 1, 4'000}};  // received before sent
  EXPECT_FALSE(estimate_offset(stepped_back));
}

}  // namespace
}  // namespace stampede::distributed
