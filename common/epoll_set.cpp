// The own epoll set; see epoll_set.h.
#include "common/epoll_set.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace stampede {

namespace asio = boost::asio;

epoll_set::epoll_set(handler on_event, uint32_t input_events)
    : on_event_(on_event), input_events_(input_events) {
  fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

epoll_set::epoll_set(asio::io_context& io, handler on_event, uint32_t input_events)
    : epoll_set(on_event, input_events) {  // constructed from here: a throw runs the destructor
  watch_.emplace(io);
  const int own = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);  // Asio owns (and closes) its own descriptor of the set
  if (own < 0) {
    const int error = errno;
    throw std::runtime_error(std::string("fcntl(F_DUPFD_CLOEXEC): ") + std::strerror(error));
  }
  watch_->assign(own);
}

epoll_set::~epoll_set() {
  boost::system::error_code ignored;
  if (watch_) watch_->close(ignored);
  ::close(fd_);
}

bool epoll_set::add_foreign(int fd, uint32_t events, void* target) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = target;
  return ::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool epoll_set::add(int fd, void* target) {
  epoll_event ev{};
  ev.events = input_events_;
  ev.data.ptr = target;
  return ::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool epoll_set::want_output(int fd, void* target, bool on) {
  epoll_event ev{};
  ev.events = input_events_ | (on ? static_cast<uint32_t>(EPOLLOUT) : 0U);
  ev.data.ptr = target;
  return ::epoll_ctl(fd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void epoll_set::rearm(int fd, void* target) { want_output(fd, target, false); }

void epoll_set::remove(int fd) { ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

void epoll_set::begin_wait() {
  if (watch_ && !armed_) arm();  // may throw (no shared owner) before anything is counted
  ++waiting_;
}

void epoll_set::end_wait() {
  if (--waiting_ == 0 && armed_) watch_->cancel();  // completes with operation_aborted, re-armed if needed
}

void epoll_set::arm() {
  // The pending wait owns the set: an owner that lets go while the wait is queued frees it after the wait.
  // shared_from_this() first: without a shared owner it throws before the set counts as armed.
  auto self = shared_from_this();
  armed_ = true;
  watch_->async_wait(asio::posix::stream_descriptor::wait_read,
                     [self = std::move(self)](const boost::system::error_code& ec) {
                       self->armed_ = false;
                       if (!ec) self->dispatch();
                       if (self->waiting_ > 0 && !self->armed_) self->arm();
                     });
}

void epoll_set::dispatch() {
  // More ready sockets than fit here are reported again: each wait re-arms the set's descriptor in the
  // io_context's epoll, which reports it while the set has ready sockets.
  std::array<epoll_event, 128> events;
  const int n = ::epoll_wait(fd_, events.data(), static_cast<int>(events.size()), 0);
  for (int i = 0; i < n; ++i) on_event_(events[i].data.ptr, events[i].events);
}

}  // namespace stampede
