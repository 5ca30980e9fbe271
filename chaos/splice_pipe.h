// A pipe for zero-copy forwarding with splice(2): socket -> pipe -> socket, the bytes never enter user
// space. One per direction of a connection, opened on first use (two descriptors); a direction uses it
// only while no toxic acts on it (connection.cpp). Non-blocking calls only: the sockets must be in
// non-blocking mode, and the caller waits for readiness through Asio.
// Thread-safety: none; used on the connection's strand.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace stampede::chaos {

// Whether this build forwards with splice when no toxic is active (CMake STAMPEDE_PROXY_SPLICE).
bool splice_enabled();

class splice_pipe {
 public:
  splice_pipe() = default;
  ~splice_pipe();
  splice_pipe(const splice_pipe&) = delete;
  splice_pipe& operator=(const splice_pipe&) = delete;

  // Opens the pipe if not yet open, counted in `open_pipes` while open. False (errno set) when it cannot
  // be, e.g. out of descriptors: the caller then forwards through user space.
  bool open(std::shared_ptr<std::atomic<uint64_t>> open_pipes);
  bool is_open() const { return read_end_ >= 0; }
  // Closes the pipe if open (its descriptors are only held during a large transfer).
  void close();
  // Moves up to `max` bytes from socket `from` into the pipe: bytes moved, 0 at EOF, -1 with errno
  // (EAGAIN: nothing to read yet).
  ssize_t fill(int from, size_t max);
  // Moves what the pipe holds to socket `to`: bytes moved, -1 with errno (EAGAIN: socket full).
  ssize_t drain(int to);
  size_t pending() const { return pending_; }
  // How much one fill() may take: the pipe's capacity.
  static constexpr size_t capacity = 64 * 1024;

 private:
  int read_end_ = -1;
  int write_end_ = -1;
  size_t pending_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> open_pipes_;
};

}  // namespace stampede::chaos
