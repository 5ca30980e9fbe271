// The zero-copy pump of a connection (see connection.h): while no toxic acts on a direction and the
// transfer is large (the last read filled the 16 KiB buffer), its bytes go socket -> pipe -> socket
// with splice(2) and never enter user space. Small chunks (requests, most responses) stay with recv()
// and send(): for them a copy is cheaper than two splices and a pipe (BENCHMARKS.md, fault proxy). The pipe
// is always empty between chunks, so switching to the user-space pump (a toxic was added) or back (the last
// toxic was removed) can neither lose nor reorder a byte: both pumps read from the same socket, one at a
// time.
#include <cerrno>

#include "chaos/connection.h"

namespace stampede::chaos {

// Decided with the current toxics, before each read: nothing on this direction, nothing queued (a
// queue means a toxic's bytes are still going out) and no HTTP toxic parsing the requests.
bool connection::splice_allowed(direction& d) {
  if (!splice_enabled() || d.splice_off) return false;
  refresh();
  if (closed_ || !toxics_->stream[d.index].empty() || !d.queue.empty()) return false;
  if (d.index == 0 && http_.active()) return false;
  if (!d.pipe.is_open() && proxy_->server_active->load(std::memory_order_relaxed) +
                                   proxy_->server_pipes->load(std::memory_order_relaxed) + 1 >=
                               proxy_->server_max_connections) {
    return false;  // no descriptors to spare for a pipe now (the budget counts pipes as connections)
  }
  if (!d.pipe.open(proxy_->server_pipes)) {
    d.splice_off = true;  // e.g. out of descriptors: this connection forwards through user space
    return false;
  }
  return true;
}

// One chunk: waits until the source is readable (re-checking the toxics when it is), splices what it
// holds into the pipe, then the whole pipe into the destination.
asio::awaitable<connection::spliced> connection::splice_chunk(direction& d, tcp::socket& src,
                                                              tcp::socket& dst) {
  auto& forwarded = d.index == 0 ? proxy_->bytes_up : proxy_->bytes_down;
  auto& received = d.index == 0 ? proxy_->received_up : proxy_->received_down;
  ssize_t n = -1;
  for (;;) {
    n = d.pipe.fill(src.native_handle(), splice_pipe::capacity);
    if (n >= 0 || (errno != EAGAIN && errno != EINTR)) break;
    auto [ec] = co_await src.async_wait(tcp::socket::wait_read, use_tuple);
    if (closed_) co_return spliced::stopped;
    if (ec) {
      close(true);
      co_return spliced::stopped;
    }
    if (!splice_allowed(d)) co_return closed_ ? spliced::stopped : spliced::user_space;
  }
  const auto now = steady::now();
  last_activity_ = now;
  if (n == 0) {
    on_eof(d, now);
    co_return spliced::stopped;
  }
  if (n < 0) {
    close(true);  // a reset on one side is passed on as a reset
    co_return spliced::stopped;
  }
  d.bulk = static_cast<size_t>(n) >= d.buffer.size();  // a short read: back to recv() for small chunks
  received.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  d.direct_writing = true;
  d.write_started = now;
  while (d.pipe.pending() > 0) {
    const ssize_t written = d.pipe.drain(dst.native_handle());
    if (written > 0) {
      forwarded.fetch_add(static_cast<uint64_t>(written), std::memory_order_relaxed);
      proxy_->spliced.fetch_add(static_cast<uint64_t>(written), std::memory_order_relaxed);
      continue;
    }
    if (written < 0 && (errno == EAGAIN || errno == EINTR)) {
      auto [ec] = co_await dst.async_wait(tcp::socket::wait_write, use_tuple);
      if (closed_) co_return spliced::stopped;
      if (!ec) continue;
    }
    close(true);
    co_return spliced::stopped;
  }
  d.direct_writing = false;
  d.write_started.reset();
  last_activity_ = steady::now();
  if (!d.bulk) d.pipe.close();  // the large transfer is over: give the descriptors back
  if (!d.queue.empty()) d.data_signal.cancel();
  co_return spliced::again;
}

}  // namespace stampede::chaos
