#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

// Decisions for `chunks` chunks: true = dropped.
std::vector<bool> decisions(toxic_unit& unit, int chunks) {
  capture log;
  std::vector<bool> out;
  for (int i = 1; i <= chunks; ++i) {
    auto h = chunk(static_cast<uint64_t>(i), 100);
    out.push_back(unit.on_data(h, log.at(t0)).what == verdict::action::drop);
  }
  return out;
}

double mean_run(const std::vector<bool>& d) {
  int runs = 1;
  for (size_t i = 1; i < d.size(); ++i) runs += d[i] != d[i - 1];
  return static_cast<double>(d.size()) / runs;
}

TEST(packet_loss_toxic, drops_whole_chunks_with_the_probability_and_logs_each) {
  auto t = spec_of(toxic_type::packet_loss);
  t.probability = 1.0;
  auto unit = make(t);
  capture log;
  auto h = chunk(1, 321);
  EXPECT_EQ(unit->on_data(h, log.at(t0)).what, verdict::action::drop);
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "dropped 321 bytes");
  t.probability = 0.0;
  const auto none = decisions(*make(t), 1000);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
}

TEST(packet_loss_toxic, one_decision_per_chunk_and_the_rate_matches) {
  auto t = spec_of(toxic_type::packet_loss);
  t.probability = 0.3;
  auto unit = make(t, {.seed = 99});
  capture log;
  auto kept = chunk(1, 100);
  while (unit->on_data(kept, log.at(t0)).what == verdict::action::drop) kept.seq++;
  EXPECT_TRUE(unit->on_data(kept, log.at(t0)).passes());  // a kept chunk (e.g. partly written) stays kept
  const auto d = decisions(*make(t, {.seed = 99}), 20'000);
  EXPECT_NEAR(static_cast<double>(std::count(d.begin(), d.end(), true)) / 20'000.0, 0.3, 0.015);
  EXPECT_EQ(d, decisions(*make(t, {.seed = 99}), 20'000));  // replayable
}

TEST(packet_loss_toxic, correlation_makes_bursts) {
  auto t = spec_of(toxic_type::packet_loss);
  t.probability = 0.5;
  const double independent = mean_run(decisions(*make(t), 20'000));
  t.correlation = 0.8;
  const double bursty = mean_run(decisions(*make(t), 20'000));
  EXPECT_NEAR(independent, 2.0, 0.2);
  EXPECT_GT(bursty, 2.0 * independent);
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
