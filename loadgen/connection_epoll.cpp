#include "loadgen/connection_epoll.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace stampede::loadgen {

namespace asio = boost::asio;

connection_epoll::connection_epoll(asio::io_context& io, handler on_event) : watch_(io), on_event_(on_event) {
  fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  watch_.assign(::dup(fd_));  // Asio owns (and closes) its own descriptor of the set
}

connection_epoll::~connection_epoll() {
  boost::system::error_code ignored;
  watch_.close(ignored);
  ::close(fd_);
}

bool connection_epoll::add(int fd, void* target) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = target;
  return ::epoll_ctl(fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool connection_epoll::want_output(int fd, void* target, bool on) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET | (on ? static_cast<uint32_t>(EPOLLOUT) : 0U);
  ev.data.ptr = target;
  return ::epoll_ctl(fd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void connection_epoll::rearm(int fd, void* target) { want_output(fd, target, false); }

void connection_epoll::begin_wait() {
  ++waiting_;
  if (!armed_) arm();
}

void connection_epoll::end_wait() {
  if (--waiting_ == 0 && armed_) watch_.cancel();  // completes with operation_aborted, re-armed if needed
}

void connection_epoll::arm() {
  armed_ = true;
  watch_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    armed_ = false;
    if (!ec) dispatch();
    if (waiting_ > 0 && !armed_) arm();
  });
}

void connection_epoll::dispatch() {
  // A handler may complete its request (and close or free its own connection) but never another
  // connection: the events after it stay valid. More ready sockets than fit here are reported again,
  // since each wait re-arms the set's descriptor in the outer epoll.
  std::array<epoll_event, 128> events;
  const int n = ::epoll_wait(fd_, events.data(), static_cast<int>(events.size()), 0);
  for (int i = 0; i < n; ++i) on_event_(events[i].data.ptr, events[i].events);
}

}  // namespace stampede::loadgen
