// The generator's own epoll set for established plain-HTTP connections (#17), nested in the worker's
// io_context: the set's descriptor is one Asio descriptor, waited on once per batch of ready sockets.
// Why: Asio 1.81's async_read_some tries every read at once, and right after a request that read fails
// with EAGAIN (one wasted syscall per request); its non-speculative wait re-arms with an epoll_ctl per
// operation instead. Here a socket is added once (edge-triggered) and costs one recv per response.
//
// Thread-safety: none; one per engine, used only from the worker's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>

namespace stampede::loadgen {

class connection_epoll {
 public:
  // Called for every ready socket with the pointer given to add() and the epoll event bits.
  using handler = void (*)(void* target, uint32_t events);

  connection_epoll(boost::asio::io_context& io, handler on_event);
  ~connection_epoll();
  connection_epoll(const connection_epoll&) = delete;
  connection_epoll& operator=(const connection_epoll&) = delete;

  // Watches `fd` for input (edge-triggered). False when the kernel refuses (the caller closes fd).
  bool add(int fd, void* target);
  // Adds or removes output interest (a request larger than the socket's send buffer).
  bool want_output(int fd, void* target, bool on);
  // Re-arms `fd`: reported again if still readable (after a bounded number of full reads).
  void rearm(int fd, void* target);
  // Counts the connections waiting for their socket. The set is waited on only while one does: a
  // pending wait would keep the worker's io_context from returning at the end of the run.
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

}  // namespace stampede::loadgen
