#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(http_delay_toxic, holds_matching_requests_for_delay) {
  auto t = spec_of(toxic_type::http_delay);
  t.path = "/api/*/slow";
  t.delay = 250;
  auto unit = make(t, {.direction = "upstream"});
  capture log;
  const auto hit = unit->on_request("GET", "/api/v1/slow", 1, log.at(t0));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->what, request_fault::kind::delay);
  EXPECT_EQ(hit->delay, 250ms);
  EXPECT_FALSE(unit->on_request("GET", "/api/v1/fast", 2, log.at(t0)));
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "delay=250ms GET /api/v1/slow");
}

TEST(http_delay_toxic, toxicity_zero_never_applies) {
  auto t = spec_of(toxic_type::http_delay);
  t.delay = 10;
  t.toxicity = 0.0;
  auto unit = make(t);
  capture log;
  for (uint64_t i = 1; i <= 1000; ++i) EXPECT_FALSE(unit->on_request("GET", "/", i, log.at(t0)));
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
