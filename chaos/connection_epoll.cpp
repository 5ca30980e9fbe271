// The pumps of a connection with no toxic (see connection.h): both sockets leave Asio for the server's
// own edge-triggered epoll set (common/epoll_set.h; here with EPOLLRDHUP), whose events carry the mask.
// The set is waited on by the io thread's own loop (io_loop.h) or, without it, nested in Asio's reactor. Per
// chunk: one read, one send. A direction reads until EAGAIN or a short recv (splice: EAGAIN), unless the mask
// said EPOLLRDHUP/HUP/ERR: then it reads on to the EOF or error, which a short read would have left unseen
// (BENCHMARKS.md, "Removing the EAGAIN reads"). A send that does not complete keeps its bytes (in `buffer` or
// the splice pipe), asks for EPOLLOUT and stops that direction's reads until they are out: backpressure. EOF,
// reset, counters, idle and write-stall deadlines are those of the Asio pumps. A read that fills the
// buffer marks a large transfer, which splices as on the Asio path (connection_splice.cpp).
// When a toxic arrives (on_wake), the connection goes back to the Asio pumps for good once no byte is
// pending: nothing read is left behind, so no byte can be lost or reordered.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "chaos/connection.h"

namespace stampede::chaos {

namespace {
// EPOLLRDHUP: a FIN that came with the last bytes is told by the event, not left to a short read.
constexpr uint32_t set_input_events = EPOLLIN | EPOLLRDHUP | EPOLLET;
}  // namespace

bool epoll_set_enabled() {
#ifdef STAMPEDE_PROXY_EPOLL
  return true;
#else
  return false;
#endif
}

std::shared_ptr<epoll_set> connection::make_set(asio::io_context* nest_in) {
  if (!epoll_set_enabled()) return nullptr;
  if (nest_in) return std::make_shared<epoll_set>(*nest_in, &connection::on_set_event, set_input_events);
  return std::make_shared<epoll_set>(&connection::on_set_event, set_input_events);
}

bool connection::enter_set() {
  if (!proxy_->set) return false;  // several io threads, no set in this build, or none could be made
  refresh();
  if (closed_ || !toxics_->toxics.empty() || http_.active()) return false;
  boost::system::error_code ec;
  const tcp::endpoint local = client_.local_endpoint(ec);
  if (ec) return false;
  protocol_ = local.protocol();
  set_ = proxy_->set;
  auto& set = *set_;
  set.begin_wait();
  in_set_ = true;  // from here close() closes set_fds_ and ends the wait
  set_fds_ = {client_.release(ec), -1};
  if (!ec) set_fds_[1] = upstream_.release(ec);
  if (ec) {
    close(true);
    return true;
  }
  for (int side = 0; side < 2; ++side) {
    set_tags_[side] = {this, side};
    if (!set.add(set_fds_[side], &set_tags_[side])) {
      close(true);
      return true;
    }
  }
  // Bytes already waiting are reported by the add itself (the kernel polls the socket on insertion).
  return true;
}

connection::~connection() {
  for (int fd : set_fds_) {
    if (fd >= 0) ::close(fd);  // released from Asio: nobody else closes them
  }
}

// Back to Asio: the sockets return to client_ and upstream_, and the directions not finished get their
// Asio pumps (called only when nothing is pending).
void connection::leave_set() {
  set_->remove(set_fds_[0]);
  set_->remove(set_fds_[1]);
  set_->end_wait();
  set_.reset();
  in_set_ = false;
  boost::system::error_code ec, ec2;
  client_.assign(*protocol_, set_fds_[0], ec);
  upstream_.assign(*protocol_, set_fds_[1], ec2);
  set_fds_ = {-1, -1};
  if (ec || ec2) {
    close(true);
    return;
  }
  client_.non_blocking(true, ec);
  upstream_.non_blocking(true, ec);
  for (auto& d : dirs_) {
    d.pipe.close();
    d.readable = d.hangup = false;
  }
  spawn_pumps();
}

void connection::close_set(bool rst) {
  if (!in_set_) return;
  in_set_ = false;
  for (int& fd : set_fds_) {
    if (fd < 0) continue;
    if (rst) {
      const linger abort{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
    ::close(fd);  // also leaves the set
    fd = -1;
  }
  set_->end_wait();
  set_.reset();
}

// The connection outlives every event of the batch that reports it: its supervisor coroutine holds it
// until closed_, and a close only cancels the supervisor's timer (the coroutine ends later, posted).
void connection::on_set_event(void* target, uint32_t events) {
  const auto* tag = static_cast<set_tag*>(target);
  tag->owner->on_ready(tag->side, events);
}

void connection::on_ready(int side, uint32_t events) {
  if (!in_set_) return;  // closed by an earlier event of the batch
  constexpr uint32_t hangup = EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  direction& in = dirs_[side];       // reads from this socket
  direction& out = dirs_[1 - side];  // sends to this socket
  if (events & (EPOLLIN | hangup)) {
    in.readable = true;
    if (events & hangup) in.hangup = true;
  }
  if (out.blocked && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
    if (send_pending(out)) {
      block(out, false);
      pump(out);
    }
  }
  if (in.readable) pump(in);
  if (in_set_ && leave_wanted_ && !dirs_[0].blocked && !dirs_[1].blocked) leave_set();
}

// Sends what direction `d` holds (buffer bytes or the pipe). True when all is out; false when the
// socket is full (the caller blocks) or the connection was closed (a send error passes on as a reset).
bool connection::send_pending(direction& d) {
  const int dst = set_fds_[1 - d.index];
  auto& forwarded = d.index == 0 ? proxy_->bytes_up : proxy_->bytes_down;
  while (d.out_begin < d.out_end) {
    const ssize_t n = ::send(dst, d.buffer.data() + d.out_begin, d.out_end - d.out_begin, MSG_NOSIGNAL);
    if (n > 0) {
      d.out_begin += static_cast<size_t>(n);
      forwarded.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    } else if (errno == EAGAIN) {
      return false;
    } else if (errno != EINTR) {
      close(true);
      return false;
    }
  }
  while (d.pipe.pending() > 0) {
    const ssize_t n = d.pipe.drain(dst);
    if (n > 0) {
      forwarded.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      proxy_->spliced.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    } else if (n < 0 && errno == EAGAIN) {
      return false;
    } else if (n == 0 || errno != EINTR) {
      close(true);
      return false;
    }
  }
  last_activity_ = steady::now();
  return true;
}

// Output interest on the destination while `d` has bytes pending; the write-stall deadline runs meanwhile.
void connection::block(direction& d, bool on) {
  if (d.blocked == on) return;
  d.blocked = on;
  const int side = 1 - d.index;
  if (on) {
    d.write_started = steady::now();
  } else {
    d.write_started.reset();
  }
  if (!set_->want_output(set_fds_[side], &set_tags_[side], on)) close(true);
}

void connection::pump(direction& d) {
  const int src = set_fds_[d.index];
  auto& received = d.index == 0 ? proxy_->received_up : proxy_->received_down;
  while (in_set_ && d.readable && !d.blocked && !d.done && !leave_wanted_) {
    if (proxy_->generation.load(std::memory_order_acquire) != generation_) {
      refresh();  // a toxic published since: no byte more on this path (on_ready hands over)
      if (closed_) return;
      if (!toxics_->toxics.empty()) {
        leave_wanted_ = true;
        return;
      }
    }
    const bool splicing = d.bulk && splice_allowed(d);
    if (closed_ || leave_wanted_) return;
    const size_t room = splicing ? splice_pipe::capacity : d.buffer.size();
    const ssize_t n = splicing ? d.pipe.fill(src, room) : ::recv(src, d.buffer.data(), room, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        d.readable = false;
      } else {
        close(true);  // a reset on one side is passed on as a reset
      }
      return;
    }
    last_activity_ = steady::now();
    if (n == 0) {
      d.done = true;
      d.readable = false;
      ::shutdown(set_fds_[1 - d.index], SHUT_WR);  // half-close passes on
      if (dirs_[1 - d.index].done) close(false);
      return;
    }
    received.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    const bool full = static_cast<size_t>(n) >= d.buffer.size();
    d.bulk = full;
    if (!splicing) {
      d.out_begin = 0;
      d.out_end = static_cast<size_t>(n);
    }
    if (!send_pending(d)) {
      if (!closed_) block(d, true);
      return;
    }
    if (!d.bulk) d.pipe.close();  // the large transfer is over: give the descriptors back
    // A short recv drained the socket: the next bytes bring a new edge. After a hang-up the EOF or
    // error is already there with no edge to come: read on. A short splice proves nothing (the pipe
    // runs out of slots with many small segments): read on to EAGAIN.
    if (!splicing && static_cast<size_t>(n) < room && !d.hangup) d.readable = false;
  }
}

}  // namespace stampede::chaos
