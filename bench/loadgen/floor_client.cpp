// The least an HTTP/1.1 load generator can do per request, as a measuring stick for issue #17's "0.8x wrk's
// CPU per request" goal: one thread, N keep-alive connections, each sending wrk's request bytes again as soon
// as the previous response is complete, and nothing else (no script, no histogram, no clock per request, a
// response parsed only for its header end and Content-Length). Two forms:
//   epoll: edge-triggered epoll, one send per request, recv until a short read (what the generator's own
//          epoll set does, minus everything else); epoll-deferred: the same, sending a batch's requests after
//          the whole batch is read (wrk's order);
//   uring: io_uring, one multishot receive per connection into a provided-buffer ring, each request sent by
//          an SQE, every submission and completion of a loop turn in ONE io_uring_enter (SINGLE_ISSUER +
//          DEFER_TASKRUN).
// bench/loadgen/cpu_per_request.sh runs both next to wrk: if neither gets under 0.8x of wrk's CPU per
// request, no generator design reaches the goal on this machine. Bench only: loopback, Content-Length
// responses, no chunked bodies, prints "requests N".
// usage: floor_client epoll|epoll-deferred|uring PORT CONNECTIONS SECONDS
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// A response's progress: bytes seen and, once the header end is seen, the total it will have. Headers are
// assumed to arrive in the first chunk (true on loopback for nginx's ~240-byte header).
struct response_progress {
  size_t seen = 0;
  size_t total = 0;  // 0 until the header end is known

  // True when the chunk completes the response (a chunk never carries the next response: one request is
  // outstanding per connection).
  bool add(std::string_view chunk) {
    if (total == 0) {
      const size_t end = chunk.find("\r\n\r\n");
      const size_t length_at = chunk.find("Content-Length: ");
      if (end == std::string_view::npos || length_at == std::string_view::npos) {
        std::fprintf(stderr, "response header not in the first chunk\n");
        std::exit(1);
      }
      total = end + 4 + std::strtoul(chunk.data() + length_at + 16, nullptr, 10);
    }
    seen += chunk.size();
    if (seen < total) return false;
    seen = total = 0;
    return true;
  }
};

// ---- epoll ----------------------------------------------------------------------------------------------

// With `deferred`, the requests due after a batch of events are sent once the whole batch is read (wrk's
// order: its write handler runs on a later loop turn), otherwise each right after its response.
uint64_t run_epoll(const std::string& request, uint16_t port, int connections, steady::time_point end,
                   bool deferred) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds(static_cast<size_t>(connections));
  std::vector<response_progress> progress(fds.size());
  for (size_t i = 0; i < fds.size(); ++i) {
    fds[i] = connect_to(port);
    ::fcntl(fds[i], F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    ::send(fds[i], request.data(), request.size(), MSG_NOSIGNAL);
  }
  std::array<epoll_event, 256> events;
  std::array<char, 16384> buffer;
  std::vector<size_t> due;
  uint64_t requests = 0;
  while (steady::now() < end) {
    for (size_t i : due) ::send(fds[i], request.data(), request.size(), MSG_NOSIGNAL);
    due.clear();
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < n; ++e) {
      const size_t i = events[e].data.u64;
      for (;;) {
        const ssize_t got = ::recv(fds[i], buffer.data(), buffer.size(), 0);
        if (got <= 0) {
          if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
          std::fprintf(stderr, "connection closed\n");
          std::exit(1);
        }
        if (progress[i].add({buffer.data(), static_cast<size_t>(got)})) {
          ++requests;
          if (deferred) {
            due.push_back(i);
          } else {
            ::send(fds[i], request.data(), request.size(), MSG_NOSIGNAL);  // small: completes at once
          }
        }
        if (static_cast<size_t>(got) < buffer.size()) break;  // drained: the next edge comes
      }
    }
  }
  return requests;
}

// ---- io_uring -------------------------------------------------------------------------------------------

constexpr unsigned buffer_count = 512;  // power of two
constexpr unsigned buffer_size = 4096;

uint64_t run_uring(const std::string& request, uint16_t port, int connections, steady::time_point end) {
  io_uring ring{};
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (const int rc = io_uring_queue_init_params(1024, &ring, &params); rc < 0) {
    std::fprintf(stderr, "io_uring_queue_init_params: %s\n", std::strerror(-rc));
    std::exit(1);
  }
  std::vector<char> memory(size_t{buffer_count} * buffer_size);
  void* ring_memory = nullptr;
  if (posix_memalign(&ring_memory, 4096, buffer_count * sizeof(io_uring_buf)) != 0) std::exit(1);
  auto* buffers = static_cast<io_uring_buf_ring*>(ring_memory);
  io_uring_buf_ring_init(buffers);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buffers);
  reg.ring_entries = buffer_count;
  reg.bgid = 0;
  if (const int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
    std::fprintf(stderr, "io_uring_register_buf_ring: %s\n", std::strerror(-rc));
    std::exit(1);
  }
  for (unsigned id = 0; id < buffer_count; ++id) {
    io_uring_buf_ring_add(buffers, memory.data() + size_t{id} * buffer_size, buffer_size,
                          static_cast<uint16_t>(id), io_uring_buf_ring_mask(buffer_count),
                          static_cast<int>(id));
  }
  io_uring_buf_ring_advance(buffers, static_cast<int>(buffer_count));

  auto next_sqe = [&ring] {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  };
  constexpr uint64_t send_tag = uint64_t{1} << 63;
  std::vector<int> fds(static_cast<size_t>(connections));
  std::vector<response_progress> progress(fds.size());
  auto send_request = [&](size_t i) {
    io_uring_sqe* s = next_sqe();
    io_uring_prep_send(s, fds[i], request.data(), request.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, send_tag | i);
  };
  auto receive = [&](size_t i) {
    io_uring_sqe* s = next_sqe();
    io_uring_prep_recv_multishot(s, fds[i], nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = 0;
    io_uring_sqe_set_data64(s, i);
  };
  for (size_t i = 0; i < fds.size(); ++i) {
    fds[i] = connect_to(port);
    receive(i);
    send_request(i);
  }
  uint64_t requests = 0;
  __kernel_timespec tick{0, 100'000'000};
  while (steady::now() < end) {
    io_uring_cqe* first = nullptr;
    io_uring_submit_and_wait_timeout(&ring, &first, 1, &tick, nullptr);
    unsigned head = 0, seen = 0;
    io_uring_cqe* c = nullptr;
    io_uring_for_each_cqe(&ring, head, c) {
      ++seen;
      if (c->user_data & send_tag) {
        if (c->res != static_cast<int>(request.size())) {
          std::fprintf(stderr, "short send %d\n", c->res);
          std::exit(1);
        }
        continue;
      }
      const size_t i = c->user_data;
      if (c->res <= 0) {
        if (c->res == -ENOBUFS) {
          receive(i);
          continue;
        }
        std::fprintf(stderr, "receive ended: %d\n", c->res);
        std::exit(1);
      }
      const auto id = static_cast<uint16_t>(c->flags >> IORING_CQE_BUFFER_SHIFT);
      const char* data = memory.data() + size_t{id} * buffer_size;
      if (progress[i].add({data, static_cast<size_t>(c->res)})) {
        ++requests;
        send_request(i);
      }
      io_uring_buf_ring_add(buffers, const_cast<char*>(data), buffer_size, id,
                            io_uring_buf_ring_mask(buffer_count), 0);
      io_uring_buf_ring_advance(buffers, 1);
      if (!(c->flags & IORING_CQE_F_MORE)) receive(i);
    }
    io_uring_cq_advance(&ring, seen);
  }
  return requests;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: floor_client epoll|epoll-deferred|uring PORT CONNECTIONS SECONDS\n");
    return 2;
  }
  const std::string_view mode = argv[1];
  const auto port = static_cast<uint16_t>(std::atoi(argv[2]));
  const int connections = std::atoi(argv[3]);
  const auto end = steady::now() + std::chrono::seconds(std::atoi(argv[4]));
  const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n";
  uint64_t requests = 0;
  if (mode == "epoll" || mode == "epoll-deferred") {
    requests = run_epoll(request, port, connections, end, mode == "epoll-deferred");
  } else if (mode == "uring") {
    requests = run_uring(request, port, connections, end);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
  std::printf("requests %llu\n", static_cast<unsigned long long>(requests));
}
