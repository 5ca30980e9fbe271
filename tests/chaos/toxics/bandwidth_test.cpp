#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(bandwidth_toxic, writes_at_most_ten_milliseconds_worth_and_paces_them) {
  auto t = spec_of(toxic_type::bandwidth);
  t.rate = 100;  // KB/s: 1000 bytes per 10 ms
  auto unit = make(t);
  capture log;
  auto h = chunk(1, 50'000);
  ASSERT_TRUE(unit->on_data(h, log.at(t0)).passes());
  EXPECT_EQ(h.write_limit, 1000u);
  h.offset += 1000;
  EXPECT_TRUE(unit->on_written(h, 1000, log.at(t0)).passes());
  auto next = chunk(1, 50'000, t0, 1000);
  EXPECT_TRUE(waits_until(unit->on_data(next, log.at(t0 + 4ms)), t0 + 10ms));
  EXPECT_TRUE(unit->on_data(next, log.at(t0 + 10ms)).passes());
}

TEST(bandwidth_toxic, a_simulated_second_carries_the_rate_within_one_percent) {
  auto t = spec_of(toxic_type::bandwidth);
  t.rate = 250;
  auto unit = make(t);
  capture log;
  auto now = t0;
  size_t sent = 0;
  while (now < t0 + 1s) {
    auto h = chunk(1, 10'000'000, t0, sent);
    const verdict v = unit->on_data(h, log.at(now));
    if (!v.passes()) {
      ASSERT_EQ(v.what, verdict::action::wait);
      now = v.until;
      continue;
    }
    sent += h.write_limit;
    h.offset = sent;
    unit->on_written(h, h.write_limit, log.at(now));
  }
  EXPECT_NEAR(static_cast<double>(sent), 250'000.0, 2'500.0);
}

TEST(bandwidth_toxic, rate_zero_holds_data_until_removed_and_says_so_once_per_chunk) {
  auto t = spec_of(toxic_type::bandwidth);
  t.rate = 0;
  auto unit = make(t);
  capture log;
  EXPECT_EQ(unit->activation_detail(), "active: rate 0 holds all data");
  auto h = chunk(1, 10);
  EXPECT_TRUE(waits_until(unit->on_data(h, log.at(t0)), steady::time_point::max()));
  EXPECT_TRUE(waits_until(unit->on_data(h, log.at(t0 + 1s)), steady::time_point::max()));
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "held: rate 0");
  auto next = chunk(2, 10);
  unit->on_data(next, log.at(t0 + 2s));
  EXPECT_EQ(log.entries.size(), 2u);
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
