// The fault proxy's own epoll set for connections with no toxic (issue #17), nested in the io_context:
// the set's descriptor is one Asio descriptor, waited on once per batch of ready sockets. Why: Asio 1.81
// tries every read at once and, right after a request, that read fails with EAGAIN (one wasted recvfrom
// per chunk), and it does not pass the epoll event mask, so a pump that stops at a short read cannot
// tell that a FIN or RST arrived with the last bytes. Here a socket is added once, edge-triggered with
// EPOLLRDHUP, and its handler sees the event bits (the generator's loadgen/connection_epoll, plus
// EPOLLRDHUP and a lifetime that survives its owner).
//
// Thread-safety: none; used only on the thread of a one-thread io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <memory>

namespace stampede::chaos {

// Whether this build uses the own set for connections with no toxic (CMake STAMPEDE_PROXY_EPOLL).
bool epoll_set_enabled();

class epoll_set : public std::enable_shared_from_this<epoll_set> {
 public:
  // Called for every ready socket with the pointer given to add() and the epoll event bits. A handler
  // may close its own socket but must not free what another event of the same batch points to.
  using handler = void (*)(void* target, uint32_t events);

  // Throws std::runtime_error when the kernel refuses a set.
  epoll_set(boost::asio::io_context& io, handler on_event);
  ~epoll_set();
  epoll_set(const epoll_set&) = delete;
  epoll_set& operator=(const epoll_set&) = delete;

  // Watches `fd` for input, peer shutdown and errors (edge-triggered). False (errno set) when refused.
  bool add(int fd, void* target);
  // Adds or removes output interest (a send that did not complete).
  bool want_output(int fd, void* target, bool on);
  // Stops watching `fd` (closing it does too).
  void remove(int fd);
  // Counts the sockets' owners in the set: the set's descriptor is waited on only while there is one,
  // so that an idle set keeps neither itself nor the io_context alive.
  void begin_wait();
  void end_wait();

 private:
  void arm();
  void dispatch();

  boost::asio::posix::stream_descriptor watch_;
  handler on_event_;
  int fd_ = -1;
  int64_t waiting_ = 0;
  bool armed_ = false;
};

}  // namespace stampede::chaos
