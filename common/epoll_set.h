// An own edge-triggered epoll set for sockets taken out of Asio's reactor (#17): the load generator's
// plain-HTTP connections (loadgen/http_connection.h) and the fault proxy's connections with no toxic
// (chaos/connection_epoll.cpp). It is nested in an io_context: the set's descriptor is one Asio
// descriptor, waited on once per batch of ready sockets, and each ready socket's handler is called with
// the pointer given to add() and the event bits.
//
// Why: Asio 1.81 tries every async_read_some at once, and right after a request (or a forwarded chunk)
// that read fails with EAGAIN: one wasted recv per request. Its non-speculative async_wait re-arms the
// descriptor with an epoll_ctl per operation instead, and neither passes the event mask on, so a reader
// that stops at a short read cannot tell that a FIN or RST arrived with the last bytes. Here a socket is
// added once, edge-triggered (EPOLLRDHUP in the mask when the user asks for it), and costs one recv per
// ready batch of bytes. BENCHMARKS.md has the syscall counts before and after.
//
// Per event: one plain function pointer call, no allocation, no syscall beyond the one epoll_wait per
// batch and the re-arm of the set's descriptor in the io_context's epoll.
//
// Standalone (the constructor without an io_context): the set is not nested; its owner waits on
// native_handle() itself and hands the events on with deliver() (the fault proxy's io loop,
// chaos/io_loop.h, which also puts the io_context's own reactor descriptor into the set).
//
// Lifetime: own it by std::shared_ptr (begin_wait() throws std::bad_weak_ptr otherwise). The pending
// wait holds a reference too, so an owner that lets go while the wait is queued (a proxy removed, an
// engine destroyed) frees the set only once the wait has completed or the io_context is destroyed.
//
// Thread-safety: none; used only on the thread that runs its io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <memory>
#include <optional>

namespace stampede {

class epoll_set : public std::enable_shared_from_this<epoll_set> {
 public:
  // Called for every ready socket with the pointer given to add() and the epoll event bits. A handler
  // may close (or free) its own socket and target, but must not free what another event of the same
  // batch points to.
  using handler = void (*)(void* target, uint32_t events);

  // `input_events`: the mask of every socket, e.g. EPOLLIN | EPOLLET, or EPOLLIN | EPOLLRDHUP | EPOLLET
  // to learn of a peer's shutdown with its last bytes. Throws std::runtime_error when the kernel refuses
  // a set (or the descriptor's copy for Asio).
  epoll_set(boost::asio::io_context& io, handler on_event, uint32_t input_events);
  // Standalone: never waited on through an io_context; begin_wait()/end_wait() only count.
  epoll_set(handler on_event, uint32_t input_events);
  ~epoll_set();
  epoll_set(const epoll_set&) = delete;
  epoll_set& operator=(const epoll_set&) = delete;

  // Watches `fd` with the input mask. False (errno set) when the kernel refuses (the caller closes fd).
  bool add(int fd, void* target);
  // Adds or removes output interest (a send that did not complete).
  bool want_output(int fd, void* target, bool on);
  // Re-arms `fd` with the input mask: reported again if still readable (after a bounded number of reads).
  void rearm(int fd, void* target);
  // Stops watching `fd` (closing it does too).
  void remove(int fd);
  // Counts the sockets' owners waiting on the set: its descriptor is waited on only while there is one,
  // so that an idle set keeps neither itself nor the io_context alive (run() returns).
  void begin_wait();
  void end_wait();

  uint32_t input_events() const noexcept { return input_events_; }
  // Standalone use: the set's descriptor to wait on, and the handler call for one of its events.
  int native_handle() const noexcept { return fd_; }
  void deliver(void* target, uint32_t events) const { on_event_(target, events); }
  // Watches a descriptor that is not a socket of the set's users (e.g. another epoll set) with its own
  // mask; its events carry `target`, which the owner of a standalone set tells apart before deliver().
  bool add_foreign(int fd, uint32_t events, void* target);

 private:
  void arm();
  void dispatch();

  std::optional<boost::asio::posix::stream_descriptor> watch_;  // empty when standalone
  handler on_event_;
  uint32_t input_events_;
  int fd_ = -1;
  int64_t waiting_ = 0;
  bool armed_ = false;
};

}  // namespace stampede
