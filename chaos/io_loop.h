// The fault proxy's io loop with one io thread (#17): the thread blocks in ONE epoll_wait on the server's
// own epoll set, which holds the sockets of every connection with no toxic (chaos/connection_epoll.cpp)
// AND Asio's reactor descriptor (level-triggered). Socket events go straight to the pumps: no Asio between
// the wake-up and the send. After every batch, io_context::poll_one() runs what Asio has ready, up to
// 32 handlers (then the set gets a look, timeout 0, and Asio its next turn): its sockets (toxic pumps,
// acceptors), its timers (timerfd, in its reactor), and the handlers posted meanwhile.
//
// Waking up for work posted by other threads: Asio interrupts its reactor on a post only while a thread
// blocks inside io_context::run() (scheduler::task_interrupted_ is false only there); after a poll a post
// from another thread merely queues, and io_context::stop() does not interrupt either. So every thread
// that posts to the io thread kicks the loop afterwards (kick(): an eventfd in the set): proxy_shared::kick()
// after wake/shut/accept/close posts of the control plane, and the server's destructor after stop(). The io
// thread's own posts need no kick: a poll follows every batch.
//
// Finding Asio's reactor descriptor (Asio does not expose it): a pipe is registered with the io_context
// (posix::stream_descriptor::assign adds it to the reactor's epoll at once), then /proc/self/fdinfo of
// every eventpoll descriptor of the process is read for a `tfd:` line with the pipe's descriptor AND its
// inode (pipe inodes are unique; the inode check rejects a stale entry of an old file that had that
// number). Exactly one match is Asio's reactor; none or several: not found, and the server falls back to
// io_context::run() with the set nested in Asio's reactor.
//
// Thread-safety: run() and everything else on the io thread; kick() from any thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "common/epoll_set.h"

namespace stampede::chaos {

class io_loop {
 public:
  // Asio's reactor descriptor of `io` (creating the reactor if needed), looked up under `proc_self`
  // (normally "/proc/self"), or -1 when not found. Call before any thread runs `io`.
  static int find_reactor(boost::asio::io_context& io, const std::string& proc_self);

  // `set` is standalone (epoll_set's constructor without an io_context); the reactor and a wake-up
  // eventfd join it. Throws std::runtime_error when the kernel refuses either.
  io_loop(boost::asio::io_context& io, std::shared_ptr<epoll_set> set, int reactor_fd);
  ~io_loop();
  io_loop(const io_loop&) = delete;
  io_loop& operator=(const io_loop&) = delete;

  // Runs until io.stopped(); on the io thread.
  void run();
  // Wakes run() so that it polls the io_context: after a post from another thread. Thread-safe.
  void kick() noexcept;

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<epoll_set> set_;
  int kick_fd_ = -1;
  // Targets of the two foreign descriptors in the set (their addresses tell them from sockets' tags).
  char reactor_tag_ = 0;
  char kick_tag_ = 0;
};

}  // namespace stampede::chaos
