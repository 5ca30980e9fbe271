// The least a TCP proxy can do per request, as a measuring stick for issue #17's "1.1x HAProxy" goal: a
// one-thread relay with no feature at all (no toxics, counters, deadlines, API), in two forms.
//   epoll: edge-triggered epoll with EPOLLRDHUP, one recv and one send per chunk, a short read ends the
//          chunk (what HAProxy and the fault proxy's own set do, minus everything else);
//   uring: io_uring, one multishot receive per socket into a provided-buffer ring, each chunk sent by an
//          SQE from the buffer it arrived in, every submission and completion of a loop turn in ONE
//          io_uring_enter (SINGLE_ISSUER + DEFER_TASKRUN): the syscall count per request goes to ~0.
// If neither reaches 1.1x HAProxy's requests/s in bench/chaos/proxy_budget.sh, the goal is out of reach
// for any proxy design on this machine, not only for the fault proxy's code.
// Not a product: bench only, loopback only, small messages (a short send is counted, then finished by a
// blocking loop); a connection's upstream connect blocks (only at start).
// usage: floor_relay epoll|epoll-deferred|uring LISTEN_PORT UPSTREAM_PORT
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

int listen_on(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4096) != 0) {
    std::perror("listen");
    std::exit(1);
  }
  return fd;
}

// Blocking connect, then non-blocking: happens once per connection, outside the measured steady state.
int connect_upstream(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

uint64_t short_sends = 0;  // bench-only counter, printed at exit (single thread)

// The rest of a short send: poll for room (rare with small messages; counted).
bool send_rest(int fd, const char* data, size_t len) {
  ++short_sends;
  while (len > 0) {
    const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else if (n < 0 && errno != EINTR) {
      return false;
    }
  }
  return true;
}

// ---- epoll ----------------------------------------------------------------------------------------------

struct epoll_side {
  int fd = -1;
  epoll_side* peer = nullptr;
  std::string due;  // deferred mode: bytes read for this side's socket, sent after the batch
};

// With `deferred`, what a batch of events read is sent once the whole batch is read (one send per socket
// and batch), otherwise each chunk right after its read.
// With `nested`, the set is itself waited on through an outer epoll set and re-armed after each turn (what
// the fault proxy's own set costs inside Asio's reactor: one more epoll_wait and an epoll_ctl per turn).
void run_epoll(int listener, uint16_t upstream_port, bool deferred, bool nested = false) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  const int outer = nested ? ::epoll_create1(EPOLL_CLOEXEC) : -1;
  epoll_event outer_event{};
  outer_event.events = EPOLLIN | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLET;
  if (nested) ::epoll_ctl(outer, EPOLL_CTL_ADD, ep, &outer_event);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the listener
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::array<epoll_event, 200> events;
  std::array<char, 16384> buffer;
  // Each connection's two sides, never freed before exit: a later event of a batch may point at a closed
  // pair.
  std::deque<std::array<epoll_side, 2>> pairs;
  std::vector<epoll_side*> due;
  for (;;) {
    for (epoll_side* side : due) {
      if (side->fd >= 0) {
        const ssize_t sent = ::send(side->fd, side->due.data(), side->due.size(), MSG_NOSIGNAL);
        const size_t done = sent > 0 ? static_cast<size_t>(sent) : 0;
        if (done != side->due.size()) send_rest(side->fd, side->due.data() + done, side->due.size() - done);
      }
      side->due.clear();
    }
    due.clear();
    if (nested) {
      ::epoll_ctl(outer, EPOLL_CTL_MOD, ep, &outer_event);
      epoll_event ready{};
      ::epoll_wait(outer, &ready, 1, -1);
    }
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), nested ? 0 : -1);
    for (int i = 0; i < n; ++i) {
      auto* side = static_cast<epoll_side*>(events[i].data.ptr);
      if (side == nullptr) {
        for (;;) {
          const int client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (client < 0) break;
          const int upstream = connect_upstream(upstream_port);
          if (upstream < 0) {
            ::close(client);
            continue;
          }
          const int one = 1;
          ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          ::fcntl(upstream, F_SETFL, O_NONBLOCK);
          auto& pair = pairs.emplace_back();
          pair[0] = {client, &pair[1], {}};
          pair[1] = {upstream, &pair[0], {}};
          for (auto* s : {&pair[0], &pair[1]}) {
            epoll_event add{};
            add.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
            add.data.ptr = s;
            ::epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &add);
          }
        }
        continue;
      }
      if (side->fd < 0) continue;  // closed by an earlier event of this batch
      const bool hangup = events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
      for (;;) {
        const ssize_t got = ::recv(side->fd, buffer.data(), buffer.size(), 0);
        bool failed = false;
        if (got > 0 && deferred) {
          if (side->peer->due.empty()) due.push_back(side->peer);
          side->peer->due.append(buffer.data(), static_cast<size_t>(got));
          if (static_cast<size_t>(got) < buffer.size() && !hangup) break;
          continue;
        }
        if (got > 0) {
          const ssize_t sent = ::send(side->peer->fd, buffer.data(), static_cast<size_t>(got), MSG_NOSIGNAL);
          const size_t done = sent > 0 ? static_cast<size_t>(sent) : 0;
          failed = done != static_cast<size_t>(got) &&
                   !send_rest(side->peer->fd, buffer.data() + done, static_cast<size_t>(got) - done);
          if (!failed) {
            if (static_cast<size_t>(got) < buffer.size() && !hangup) break;  // drained: the next edge comes
            continue;
          }
        }
        if (!failed && got < 0 && errno == EAGAIN) break;
        if (!failed && got < 0 && errno == EINTR) continue;
        ::close(side->fd);  // EOF, error or failed send: both sides close (also leaves the set)
        ::close(side->peer->fd);
        side->fd = side->peer->fd = -1;
        break;
      }
    }
  }
}

// ---- io_uring -------------------------------------------------------------------------------------------

constexpr unsigned buffer_count = 1024;  // power of two
constexpr unsigned buffer_size = 16384;
constexpr uint16_t buffer_group = 0;

enum class op : uint8_t { accept, receive, send };

// user_data: op in the top byte, the socket's index (receive) or buffer id + destination index (send) below.
uint64_t tag(op o, uint32_t a, uint32_t b = 0) {
  return (static_cast<uint64_t>(o) << 56) | (static_cast<uint64_t>(b) << 24) | a;
}

struct uring_relay {
  io_uring ring{};
  io_uring_buf_ring* buffers = nullptr;
  std::vector<char> memory = std::vector<char>(size_t{buffer_count} * buffer_size);
  std::vector<int> fds;    // socket index -> fd (-1 when closed)
  std::vector<int> peers;  // socket index -> peer's socket index
  int listener = -1;
  uint16_t upstream_port = 0;

  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  }

  void give_back(uint16_t id) {
    io_uring_buf_ring_add(buffers, memory.data() + size_t{id} * buffer_size, buffer_size, id,
                          io_uring_buf_ring_mask(buffer_count), 0);
    io_uring_buf_ring_advance(buffers, 1);
  }

  void receive(uint32_t index) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, fds[index], nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = buffer_group;
    io_uring_sqe_set_data64(s, tag(op::receive, index));
  }

  void accept() {
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept(s, listener, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, tag(op::accept, 0));
  }

  void close_pair(uint32_t index) {
    const uint32_t peer = static_cast<uint32_t>(peers[index]);
    for (uint32_t i : {index, peer}) {
      if (fds[i] >= 0) ::close(fds[i]);  // pending receives end with an error completion
      fds[i] = -1;
    }
  }

  void on_accept(int client) {
    const int upstream = connect_upstream(upstream_port);
    if (upstream < 0) {
      ::close(client);
      return;
    }
    const int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const auto a = static_cast<uint32_t>(fds.size());
    fds.push_back(client);
    fds.push_back(upstream);
    peers.push_back(static_cast<int>(a + 1));
    peers.push_back(static_cast<int>(a));
    receive(a);
    receive(a + 1);
  }

  void on_completion(const io_uring_cqe& c) {
    const uint64_t data = c.user_data;
    const auto kind = static_cast<op>(data >> 56);
    const auto index = static_cast<uint32_t>(data & 0xffffff);
    if (kind == op::accept) {
      if (c.res >= 0) on_accept(c.res);
      if (!(c.flags & IORING_CQE_F_MORE)) accept();
      return;
    }
    if (kind == op::send) {
      const auto id = static_cast<uint16_t>((data >> 24) & 0xffff);
      give_back(id);
      return;
    }
    // receive
    if (c.res > 0) {
      const auto id = static_cast<uint16_t>(c.flags >> IORING_CQE_BUFFER_SHIFT);
      const uint32_t peer = static_cast<uint32_t>(peers[index]);
      if (fds[peer] < 0) {
        give_back(id);
      } else {
        // Ordered per direction: one multishot receive per socket produces its chunks in order, and the
        // sends are queued in that order; IOSQE_IO_LINK is not needed for a single outstanding chunk per
        // request-response exchange (what this bench does).
        io_uring_sqe* s = sqe();
        io_uring_prep_send(s, fds[peer], memory.data() + size_t{id} * buffer_size, static_cast<size_t>(c.res),
                           MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, tag(op::send, peer, id));
      }
      if (!(c.flags & IORING_CQE_F_MORE) && fds[index] >= 0) receive(index);
      return;
    }
    if (c.res == -ENOBUFS) {  // every buffer in flight: re-arm (counted as a short send would be)
      ++short_sends;
      if (fds[index] >= 0) receive(index);
      return;
    }
    if (fds[index] >= 0) close_pair(index);  // EOF or error
  }

  void run(int listen_fd, uint16_t port) {
    listener = listen_fd;
    upstream_port = port;
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (const int rc = io_uring_queue_init_params(4096, &ring, &params); rc < 0) {
      std::fprintf(stderr, "io_uring_queue_init_params: %s\n", std::strerror(-rc));
      std::exit(1);
    }
    void* ring_memory = nullptr;
    if (posix_memalign(&ring_memory, 4096, buffer_count * sizeof(io_uring_buf)) != 0) std::exit(1);
    buffers = static_cast<io_uring_buf_ring*>(ring_memory);
    io_uring_buf_ring_init(buffers);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(buffers);
    reg.ring_entries = buffer_count;
    reg.bgid = buffer_group;
    if (const int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
      std::fprintf(stderr, "io_uring_register_buf_ring: %s\n", std::strerror(-rc));
      std::exit(1);
    }
    for (uint16_t id = 0; id < buffer_count; ++id) {
      io_uring_buf_ring_add(buffers, memory.data() + size_t{id} * buffer_size, buffer_size, id,
                            io_uring_buf_ring_mask(buffer_count), id);
    }
    io_uring_buf_ring_advance(buffers, buffer_count);
    accept();
    for (;;) {
      io_uring_submit_and_wait(&ring, 1);  // submits this turn's sends and receives, reaps completions
      unsigned head = 0, seen = 0;
      io_uring_cqe* c = nullptr;
      io_uring_for_each_cqe(&ring, head, c) {
        on_completion(*c);
        ++seen;
      }
      io_uring_cq_advance(&ring, seen);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: floor_relay epoll|epoll-deferred|uring LISTEN_PORT UPSTREAM_PORT\n");
    return 2;
  }
  const std::string_view mode = argv[1];
  const int listener = listen_on(static_cast<uint16_t>(std::atoi(argv[2])));
  const auto upstream = static_cast<uint16_t>(std::atoi(argv[3]));
  if (mode == "epoll" || mode == "epoll-deferred") {
    run_epoll(listener, upstream, mode == "epoll-deferred");
  } else if (mode == "epoll-nested") {
    run_epoll(listener, upstream, false, true);
  } else if (mode == "uring") {
    uring_relay relay;
    relay.run(listener, upstream);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
}
