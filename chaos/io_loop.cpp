// The io thread's own loop; see io_loop.h.
#include "chaos/io_loop.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace stampede::chaos {

namespace asio = boost::asio;

namespace {

// Asio handlers run between two looks at the set's sockets when Asio has more ready.
constexpr size_t handlers_per_turn = 32;

// Does the fdinfo text of an eventpoll descriptor list `fd` with inode `ino` (a `tfd:` line)?
// Lines look like "tfd:        7 events:       19 data: 55d0c0a8 pos:0 ino:2a1b sdev:d"; a kernel that
// does not print the inode is taken at the descriptor number alone.
bool lists(std::istream& fdinfo, int fd, ino_t ino) {
  std::string line;
  while (std::getline(fdinfo, line)) {
    if (line.rfind("tfd:", 0) != 0) continue;
    char* end = nullptr;
    const long target = std::strtol(line.c_str() + 4, &end, 10);
    if (end == line.c_str() + 4 || target != fd) continue;
    const auto at = line.find(" ino:");
    if (at == std::string::npos) return true;
    if (std::strtoull(line.c_str() + at + 5, nullptr, 16) == static_cast<unsigned long long>(ino))
      return true;
  }
  return false;
}

}  // namespace

int io_loop::find_reactor(asio::io_context& io, const std::string& proc_self) {
  std::array<int, 2> pipe_fds{-1, -1};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  struct stat probe_stat {};
  std::vector<int> found;
  if (::fstat(pipe_fds[0], &probe_stat) == 0) {
    try {
      asio::posix::stream_descriptor probe(io);
      probe.assign(pipe_fds[0]);  // EPOLL_CTL_ADD into the reactor's epoll, now
      namespace fs = std::filesystem;
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(fs::path(proc_self) / "fd", ec)) {
        std::error_code link_ec;
        if (fs::read_symlink(entry.path(), link_ec).string() != "anon_inode:[eventpoll]") continue;
        const std::string name = entry.path().filename().string();
        std::ifstream fdinfo(fs::path(proc_self) / "fdinfo" / name);
        if (fdinfo && lists(fdinfo, pipe_fds[0], probe_stat.st_ino)) found.push_back(std::atoi(name.c_str()));
      }
      probe.release();  // EPOLL_CTL_DEL; the descriptor stays ours
    } catch (const std::exception&) {
      found.clear();
    }
  }
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  return found.size() == 1 ? found.front() : -1;
}

io_loop::io_loop(asio::io_context& io, std::shared_ptr<epoll_set> set, int reactor_fd)
    : io_(io), set_(std::move(set)) {
  // Level-triggered: readable while Asio's reactor has events it has not taken; the poll takes them.
  if (!set_->add_foreign(reactor_fd, EPOLLIN, &reactor_tag_)) {
    throw std::runtime_error(std::string("epoll_ctl(Asio's reactor): ") + std::strerror(errno));
  }
  kick_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (kick_fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  if (!set_->add_foreign(kick_fd_, EPOLLIN, &kick_tag_)) {
    const int error = errno;
    ::close(kick_fd_);
    throw std::runtime_error(std::string("epoll_ctl(eventfd): ") + std::strerror(error));
  }
}

io_loop::~io_loop() { ::close(kick_fd_); }

void io_loop::kick() noexcept {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(kick_fd_, &one, sizeof one);  // EAGAIN: a kick is pending
}

void io_loop::run() {
  std::array<epoll_event, 128> events;
  for (;;) {
    // First what Asio has ready (before the first wait: what was posted before the thread started), a
    // bounded number of handlers: a toxic's wait_due() yields by posting itself until its time is due,
    // and an unbounded poll() would run those yields alone meanwhile, the set's sockets unserved. After
    // a full turn the set is only looked at (timeout 0), then Asio gets its next turn.
    size_t ran = 0;
    while (ran < handlers_per_turn && io_.poll_one() > 0) ++ran;
    if (io_.stopped()) return;
    const int timeout = ran == handlers_per_turn ? 0 : -1;
    const int n =
        ::epoll_wait(set_->native_handle(), events.data(), static_cast<int>(events.size()), timeout);
    // A connection closed by an event of this batch is not freed before the batch ends: its supervisor
    // coroutine holds it and ends in a handler, which only the next turn's poll runs (see on_ready).
    for (int i = 0; i < n; ++i) {
      void* target = events[i].data.ptr;
      if (target == &reactor_tag_) continue;  // the next turn's poll
      if (target == &kick_tag_) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t r = ::read(kick_fd_, &count, sizeof count);
        continue;
      }
      set_->deliver(target, events[i].events);
    }
  }
}

}  // namespace stampede::chaos
