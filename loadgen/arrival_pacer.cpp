#include "loadgen/arrival_pacer.h"

#include <sys/timerfd.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <cerrno>
#include <system_error>

namespace stampede::loadgen {

namespace {

int make_timer() {
  // CLOCK_MONOTONIC is std::chrono::steady_clock's clock on Linux, so time points carry over as they are.
  const int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "timerfd_create (arrival-rate pacer)");
  return fd;
}

timespec to_timespec(std::chrono::nanoseconds d) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(d);
  return {static_cast<time_t>(seconds.count()), static_cast<long>((d - seconds).count())};
}

}  // namespace

arrival_pacer::arrival_pacer(boost::asio::io_context& io, std::function<void()> on_tick)
    : timer_(io, make_timer()), on_tick_(std::move(on_tick)) {}

arrival_pacer::~arrival_pacer() = default;

void arrival_pacer::arm(steady::time_point first, steady::duration period) {
  // An absolute first tick: a tick in the past fires at once (a late wake-up releases what is due).
  const auto since_epoch = std::max(first.time_since_epoch(), steady::duration{1});
  itimerspec spec{};
  spec.it_value = to_timespec(since_epoch);
  spec.it_interval = to_timespec(period);
  if (timerfd_settime(timer_.native_handle(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
    throw std::system_error(errno, std::generic_category(), "timerfd_settime (arrival-rate pacer)");
  }
  first_ = first;
  period_ = period;
  ++arms_;
}

arrival_pacer::steady::time_point arrival_pacer::next_tick(steady::time_point now) const {
  if (first_ == steady::time_point::max() || now < first_) return first_;
  if (period_ <= steady::duration::zero()) return steady::time_point::max();
  const auto ticks_passed = (now - first_) / period_ + 1;
  return first_ + ticks_passed * period_;
}

void arrival_pacer::wait() {
  if (waiting_) return;
  waiting_ = true;
  // A read, not async_wait: Asio re-registers the descriptor with epoll_ctl for every non-speculative
  // wait, while a read costs one read(2) when the tick comes (plus one EAGAIN try when it is issued).
  timer_.async_read_some(boost::asio::buffer(expirations_),
                         [this](const boost::system::error_code& ec, std::size_t) {
                           waiting_ = false;
                           if (ec) return;  // stopped
                           on_tick_();
                         });
}

void arrival_pacer::stop() {
  if (first_ != steady::time_point::max()) {
    const itimerspec disarm{};
    (void)timerfd_settime(timer_.native_handle(), 0, &disarm, nullptr);
    first_ = steady::time_point::max();
  }
  boost::system::error_code ignored;
  timer_.cancel(ignored);
}

}  // namespace stampede::loadgen
