#include <algorithm>

#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

// The delay the unit puts on a fresh chunk (0 = passes at once).
steady::duration delay_of(toxic_unit& unit, capture& log, uint64_t seq) {
  auto h = chunk(seq, 100);
  const verdict v = unit.on_data(h, log.at(t0));
  return v.passes() ? steady::duration::zero() : v.until - t0;
}

TEST(latency_toxic, holds_each_chunk_from_its_arrival_then_passes) {
  auto t = spec_of(toxic_type::latency);
  t.latency = 100;
  auto unit = make(t);
  capture log;
  auto h = chunk(1, 10, t0);
  EXPECT_TRUE(waits_until(unit->on_data(h, log.at(t0 + 30ms)), t0 + 100ms));
  auto again = chunk(1, 10, t0);
  EXPECT_TRUE(unit->on_data(again, log.at(t0 + 100ms)).passes());
  EXPECT_EQ(again.write_limit, SIZE_MAX);  // delays, never cuts
  EXPECT_TRUE(log.entries.empty());        // the connection logs activation; latency adds nothing per chunk
}

TEST(latency_toxic, several_latency_toxics_add_up) {
  auto a = spec_of(toxic_type::latency);
  a.latency = 40;
  auto b = a;
  b.name = "second";
  b.latency = 60;
  auto first = make(a), second = make(b);
  capture log;
  auto h = chunk(1, 10);
  EXPECT_TRUE(waits_until(first->on_data(h, log.at(t0)), t0 + 40ms));
  h = chunk(1, 10);
  EXPECT_TRUE(first->on_data(h, log.at(t0 + 40ms)).passes());
  EXPECT_TRUE(waits_until(second->on_data(h, log.at(t0 + 40ms)), t0 + 100ms));
}

TEST(latency_toxic, a_chunk_keeps_its_sample_while_it_waits_and_the_next_chunk_draws_again) {
  auto t = spec_of(toxic_type::latency);
  t.latency = 50;
  t.jitter = 40;
  auto unit = make(t);
  capture log;
  const auto first = delay_of(*unit, log, 1);
  EXPECT_EQ(delay_of(*unit, log, 1), first);
  std::vector<steady::duration> later;
  for (uint64_t seq = 2; seq < 40; ++seq) later.push_back(delay_of(*unit, log, seq));
  EXPECT_TRUE(std::any_of(later.begin(), later.end(), [&](auto d) { return d != first; }));
}

TEST(latency_toxic, uniform_jitter_stays_within_bounds_and_replays_with_the_seed) {
  auto t = spec_of(toxic_type::latency);
  t.latency = 100;
  t.jitter = 20;
  auto a = make(t, {.seed = 11}), b = make(t, {.seed = 11}), c = make(t, {.seed = 12});
  capture log;
  bool differs = false;
  steady::duration low = 1h, high{0};
  for (uint64_t seq = 1; seq <= 2000; ++seq) {
    const auto d = delay_of(*a, log, seq);
    EXPECT_EQ(d, delay_of(*b, log, seq));
    differs |= d != delay_of(*c, log, seq);
    low = std::min(low, d);
    high = std::max(high, d);
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(low, 80ms);  // 2000 draws of 41 values: both ends are reached
  EXPECT_EQ(high, 120ms);
}

TEST(latency_toxic, heavy_tails_respect_their_minimum_and_cap) {
  auto t = spec_of(toxic_type::latency);
  t.latency = 20;
  t.distribution = latency_distribution::pareto;
  t.alpha = 1.5;
  t.max_latency = 200;
  auto unit = make(t);
  capture log;
  steady::duration high{0};
  for (uint64_t seq = 1; seq <= 5000; ++seq) {
    const auto d = delay_of(*unit, log, seq);
    EXPECT_GE(d, 20ms);
    EXPECT_LE(d, 200ms);
    high = std::max(high, d);
  }
  EXPECT_EQ(high, 200ms);  // alpha 1.5: P(> 10x minimum) = 3%: the cap is reached
}

TEST(latency_toxic, lognormal_median_is_the_latency) {
  auto t = spec_of(toxic_type::latency);
  t.latency = 100;
  t.distribution = latency_distribution::lognormal;
  t.sigma = 0.5;
  auto unit = make(t);
  capture log;
  std::vector<steady::duration> samples;
  for (uint64_t seq = 1; seq <= 2001; ++seq) samples.push_back(delay_of(*unit, log, seq));
  std::nth_element(samples.begin(), samples.begin() + 1000, samples.end());
  const double median_ms = std::chrono::duration<double, std::milli>(samples[1000]).count();
  EXPECT_NEAR(median_ms, 100.0, 6.0);
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
