// The proxy's own epoll set; see epoll_set.h.
#include "chaos/epoll_set.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace stampede::chaos {

namespace asio = boost::asio;

namespace {
constexpr uint32_t input_events = EPOLLIN | EPOLLRDHUP | EPOLLET;
}

bool epoll_set_enabled() {
#ifdef STAMPEDE_PROXY_EPOLL
  return true;
#else
  return false;
#endif
}

epoll_set::epoll_set(asio::io_context& io, handler on_event) : watch_(io), on_event_(on_event) {
  fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  const int own = ::dup(fd_);  // Asio owns (and closes) its own descriptor of the set
  if (own < 0) {
    ::close(fd_);
    throw std::runtime_error(std::string("dup: ") + std::strerror(errno));
  }
  watch_.assign(own);
}

epoll_set::~epoll_set() {
  boost::system::error_code ignored;
  watch_.close(ignored);
  ::close(fd_);
}

bool epoll_set::add(int fd, void* target) {
  epoll_event ev{};
  ev.events = input_events;
  ev.data.ptr = target;
  return ::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool epoll_set::want_output(int fd, void* target, bool on) {
  epoll_event ev{};
  ev.events = input_events | (on ? static_cast<uint32_t>(EPOLLOUT) : 0U);
  ev.data.ptr = target;
  return ::epoll_ctl(fd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void epoll_set::remove(int fd) { ::epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

void epoll_set::begin_wait() {
  ++waiting_;
  if (!armed_) arm();
}

void epoll_set::end_wait() {
  if (--waiting_ == 0 && armed_) watch_.cancel();  // completes with operation_aborted, re-armed if needed
}

void epoll_set::arm() {
  armed_ = true;
  // The pending wait owns the set: a proxy removed while the wait is queued frees it after the wait ends.
  watch_.async_wait(asio::posix::stream_descriptor::wait_read,
                    [self = shared_from_this()](const boost::system::error_code& ec) {
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

}  // namespace stampede::chaos
