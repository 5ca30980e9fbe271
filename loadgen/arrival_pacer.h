// The wake-up source of an arrival-rate scenario in one worker: a periodic kernel timer (timerfd) that
// the kernel re-arms by itself, read through the worker's io_context. The worker's scheduler timer (an
// Asio steady_timer) costs two timerfd_settime calls per wake-up (Asio disarms the timer after it fires,
// the next arrival re-arms it), ~2.5 us each on this machine's VM, so at 50,000 arrivals/s they were most
// of the gap between an arrival's CPU cost and a closed-model request's. A constant rate's arrivals
// are evenly spaced, so a timer armed once with that spacing wakes the worker at every arrival (or batch
// of arrivals) for one read(2) each; a ramping rate re-arms it only when its ticks drift off the schedule.
//
// Thread-safety: none; one per scenario of a worker, used from the worker's thread.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>

namespace stampede::loadgen {

class arrival_pacer {
 public:
  using steady = std::chrono::steady_clock;

  // Throws std::system_error when the kernel refuses a timer (e.g. out of file descriptors).
  arrival_pacer(boost::asio::io_context& io, std::function<void()> on_tick);
  ~arrival_pacer();
  arrival_pacer(const arrival_pacer&) = delete;
  arrival_pacer& operator=(const arrival_pacer&) = delete;

  // Ticks at `first`, then every `period` (zero: once), until re-armed or stopped. One syscall.
  void arm(steady::time_point first, steady::duration period);
  // The armed timer's first tick strictly after `now` (time_point::max() when none is left).
  steady::time_point next_tick(steady::time_point now) const;
  // Calls on_tick once, at the next tick (or at once if a tick passed since the last wait).
  void wait();
  // Disarms the timer and drops a pending wait (on_tick is not called): the io_context can run out of work.
  void stop();

  steady::duration period() const noexcept { return period_; }
  int64_t arms() const noexcept { return arms_; }  // how often arm() reached the kernel

 private:
  boost::asio::posix::stream_descriptor timer_;
  std::function<void()> on_tick_;
  std::array<uint64_t, 2> expirations_{};  // read(2) of a timerfd needs at least 8 bytes
  steady::time_point first_ = steady::time_point::max();
  steady::duration period_{0};
  bool waiting_ = false;
  int64_t arms_ = 0;
};

}  // namespace stampede::loadgen
