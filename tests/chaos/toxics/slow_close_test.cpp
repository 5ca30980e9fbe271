#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(slow_close_toxic, data_passes_and_the_end_of_stream_waits_delay_from_its_arrival) {
  auto t = spec_of(toxic_type::slow_close);
  t.delay = 200;
  auto unit = make(t);
  capture log;
  auto data = chunk(1, 100);
  EXPECT_TRUE(unit->on_data(data, log.at(t0)).passes());
  const auto eof = chunk(2, 0, t0 + 50ms);
  EXPECT_TRUE(waits_until(unit->on_eof(eof, log.at(t0 + 60ms)), t0 + 250ms));
  EXPECT_TRUE(waits_until(unit->on_eof(eof, log.at(t0 + 100ms)), t0 + 250ms));
  EXPECT_TRUE(unit->on_eof(eof, log.at(t0 + 250ms)).passes());
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "close delayed");
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
