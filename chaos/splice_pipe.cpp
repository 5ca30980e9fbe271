// splice(2) through a pipe; see splice_pipe.h.
#include "chaos/splice_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace stampede::chaos {

bool splice_enabled() {
#if defined(STAMPEDE_PROXY_SPLICE) && STAMPEDE_PROXY_SPLICE && defined(__linux__)
  return true;
#else
  return false;
#endif
}

#if defined(__linux__)

splice_pipe::~splice_pipe() { close(); }

void splice_pipe::close() {
  if (read_end_ < 0) return;
  ::close(read_end_);
  ::close(write_end_);
  read_end_ = write_end_ = -1;
  pending_ = 0;
  open_pipes_->fetch_sub(1, std::memory_order_relaxed);
  open_pipes_.reset();
}

bool splice_pipe::open(std::shared_ptr<std::atomic<uint64_t>> open_pipes) {
  if (read_end_ >= 0) return true;
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  read_end_ = fds[0];
  write_end_ = fds[1];
  open_pipes_ = std::move(open_pipes);
  open_pipes_->fetch_add(1, std::memory_order_relaxed);
  return true;
}

ssize_t splice_pipe::fill(int from, size_t max) {
  const ssize_t n = ::splice(from, nullptr, write_end_, nullptr, max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) pending_ += static_cast<size_t>(n);
  return n;
}

ssize_t splice_pipe::drain(int to) {
  const ssize_t n = ::splice(read_end_, nullptr, to, nullptr, pending_, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) pending_ -= static_cast<size_t>(n);
  return n;
}

#else

splice_pipe::~splice_pipe() = default;
void splice_pipe::close() {}
bool splice_pipe::open(std::shared_ptr<std::atomic<uint64_t>>) {
  errno = ENOSYS;
  return false;
}
ssize_t splice_pipe::fill(int, size_t) {
  errno = ENOSYS;
  return -1;
}
ssize_t splice_pipe::drain(int) {
  errno = ENOSYS;
  return -1;
}

#endif

}  // namespace stampede::chaos
