// The arrival-rate pacer (loadgen/arrival_pacer.h): its tick arithmetic, real ticks from the kernel timer
// (never before their time, one on_tick per wait), and stop() leaving the io_context without work.
#include "loadgen/arrival_pacer.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

namespace stampede::loadgen {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST(arrival_pacer, next_tick_is_the_first_tick_after_now) {
  boost::asio::io_context io;
  arrival_pacer pacer(io, [] {});
  EXPECT_EQ(pacer.next_tick(steady::now()), steady::time_point::max());  // not armed
  const auto first = steady::now() + 1h;                                 // never fires during the test
  pacer.arm(first, 20us);
  EXPECT_EQ(pacer.next_tick(first - 1ns), first);
  EXPECT_EQ(pacer.next_tick(first), first + 20us);
  EXPECT_EQ(pacer.next_tick(first + 45us), first + 60us);
  EXPECT_EQ(pacer.next_tick(first + 60us), first + 80us);
  pacer.arm(first, 0s);  // once
  EXPECT_EQ(pacer.next_tick(first - 1us), first);
  EXPECT_EQ(pacer.next_tick(first), steady::time_point::max());
  EXPECT_EQ(pacer.arms(), 2);
  pacer.stop();
  EXPECT_EQ(pacer.next_tick(first - 1us), steady::time_point::max());
}

TEST(arrival_pacer, ticks_periodically_never_early_until_stopped) {
  boost::asio::io_context io;
  std::vector<steady::time_point> ticks;
  std::unique_ptr<arrival_pacer> pacer;
  pacer = std::make_unique<arrival_pacer>(io, [&] {
    ticks.push_back(steady::now());
    if (ticks.size() == 5) {
      pacer->stop();
    } else {
      pacer->wait();
    }
  });
  const auto first = steady::now() + 2ms;
  pacer->arm(first, 1ms);  // armed once for all five ticks
  pacer->wait();
  io.run();  // returns only when the stopped pacer left no work
  ASSERT_EQ(ticks.size(), 5u);
  for (size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_GE(ticks[i], first + static_cast<int>(i) * 1ms) << "tick " << i;  // late is possible, early never
  }
  EXPECT_EQ(pacer->arms(), 1);
}

TEST(arrival_pacer, a_late_wait_completes_at_once_for_a_tick_that_passed) {
  boost::asio::io_context io;
  int ticks = 0;
  arrival_pacer pacer(io, [&] { ++ticks; });
  pacer.arm(steady::now() - 1ms, 0s);  // in the past: fires at once
  pacer.wait();
  io.run();
  EXPECT_EQ(ticks, 1);
}

TEST(arrival_pacer, stop_drops_a_pending_wait) {
  boost::asio::io_context io;
  int ticks = 0;
  arrival_pacer pacer(io, [&] { ++ticks; });
  pacer.arm(steady::now() + 50ms, 1ms);
  pacer.wait();
  pacer.stop();
  io.run();  // no work left: returns without waiting for the tick
  EXPECT_EQ(ticks, 0);
}

}  // namespace
}  // namespace stampede::loadgen
