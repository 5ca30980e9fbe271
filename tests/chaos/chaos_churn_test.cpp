// Toxic churn under streaming traffic (issue #11.1): every toxic type is added, updated and removed in a
// loop while clients stream 1 MB downloads and uploads through the proxy, with a slicer active all along
// and itself churned. The proxy used to keep a pointer into its per-connection toxic states across a
// write; a control call replaced the states meanwhile and the write loop read freed memory (SIGSEGV in
// release, heap-use-after-free under ASan). Run under ASan and TSan by scripts/test-*.sh.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "chaos/proxy_server.h"
#include "chaos_test_support.h"

namespace stampede::chaos {
namespace {

using namespace testing;

constexpr size_t file_size = 1'000'000;

// The byte at offset i of the 1 MB file: a pattern, so a clean transfer can be checked byte for byte.
char file_byte(size_t i) { return static_cast<char>('a' + (i * 7 + i / 251) % 26); }

std::string make_file() {
  std::string body(file_size, '\0');
  for (size_t i = 0; i < file_size; ++i) body[i] = file_byte(i);
  return body;
}

// A minimal HTTP/1.1 origin on a thread per connection: GET -> the 1 MB file, POST -> reads the
// Content-Length body and answers "ok". One request per connection (Connection: close); the socket is
// shut down however the exchange ended (tcp_server closes descriptors only at its end).
std::function<void(int)> origin(const std::string& file) {
  return [&file](int fd) {
    struct shut_on_exit {
      int fd;
      ~shut_on_exit() { ::shutdown(fd, SHUT_RDWR); }
    } guard{fd};
    std::string head;
    char buf[16384];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 64 * 1024) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      head.append(buf, static_cast<size_t>(n));
    }
    const size_t end = head.find("\r\n\r\n");
    if (end == std::string::npos) return;
    if (head.starts_with("POST")) {
      const size_t at = head.find("Content-Length: ");
      const size_t length = at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
      size_t have = head.size() - end - 4;
      while (have < length) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        have += static_cast<size_t>(n);
      }
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    } else {
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(file.size()) +
                       "\r\nConnection: close\r\n\r\n");
      send_all(fd, file);
    }
  };
}

// One toxic of every type, with attributes that let traffic go on (mostly) and a second setting for
// the update step.
std::vector<std::pair<toxic_spec, toxic_spec>> every_toxic() {
  std::vector<std::pair<toxic_spec, toxic_spec>> out;
  auto add = [&](toxic_type type, stream_direction stream, auto&& first, auto&& second) {
    toxic_spec t;
    t.type = type;
    t.stream = stream;
    t.name = "churn_" + std::string(to_string(type));
    first(t);
    toxic_spec u = t;
    second(u);
    out.emplace_back(t, u);
  };
  using sd = stream_direction;
  add(
      toxic_type::latency, sd::both,
      [](toxic_spec& t) {
        t.latency = 2;
        t.jitter = 1;
      },
      [](toxic_spec& t) {
        t.latency = 1;
        t.distribution = latency_distribution::pareto;
        t.max_latency = 5;
      });
  add(
      toxic_type::bandwidth, sd::downstream, [](toxic_spec& t) { t.rate = 20'000; },
      [](toxic_spec& t) { t.rate = 5'000; });
  add(
      toxic_type::slow_close, sd::downstream, [](toxic_spec& t) { t.delay = 3; },
      [](toxic_spec& t) { t.delay = 1; });
  add(
      toxic_type::timeout, sd::upstream,
      [](toxic_spec& t) {
        t.timeout = 50;
        t.toxicity = 0.3;
      },
      [](toxic_spec& t) {
        t.timeout = 0;
        t.toxicity = 0.2;
      });
  add(
      toxic_type::reset_peer, sd::downstream,
      [](toxic_spec& t) {
        t.timeout = 20;
        t.toxicity = 0.2;
      },
      [](toxic_spec& t) { t.timeout = 5; });
  add(
      toxic_type::slicer, sd::both,
      [](toxic_spec& t) {
        t.average_size = 512;
        t.size_variation = 256;
        t.delay = 5;
      },
      [](toxic_spec& t) {
        t.average_size = 64;
        t.size_variation = 0;
        t.delay = 0;
      });
  add(
      toxic_type::limit_data, sd::downstream,
      [](toxic_spec& t) {
        t.bytes = 300'000;
        t.toxicity = 0.5;
      },
      [](toxic_spec& t) { t.bytes = 100'000; });
  add(
      toxic_type::limit_time, sd::downstream,
      [](toxic_spec& t) {
        t.time = 100;
        t.toxicity = 0.5;
      },
      [](toxic_spec& t) {
        t.time = 30;
        t.reset = true;
      });
  add(
      toxic_type::slow_open, sd::upstream, [](toxic_spec& t) { t.delay = 5; },
      [](toxic_spec& t) { t.delay = 1; });
  add(
      toxic_type::packet_loss, sd::downstream, [](toxic_spec& t) { t.probability = 0.01; },
      [](toxic_spec& t) {
        t.probability = 0.05;
        t.correlation = 0.5;
      });
  add(
      toxic_type::http_abort, sd::upstream,
      [](toxic_spec& t) {
        t.path = "/file";
        t.toxicity = 0.3;
      },
      [](toxic_spec& t) {
        t.method = "POST";
        t.first_n = 5;
      });
  add(
      toxic_type::http_delay, sd::upstream, [](toxic_spec& t) { t.delay = 5; },
      [](toxic_spec& t) {
        t.delay = 2;
        t.path = "/up*";
      });
  return out;
}

// Clients that download the file (reading slowly through a small receive buffer, so the proxy's writes
// wait) or upload 64 KB, each on its own connection, until stopped. Any outcome is fine during churn.
class traffic {
 public:
  traffic(uint16_t port, int downloaders, int uploaders) {
    for (int i = 0; i < downloaders + uploaders; ++i) {
      threads_.emplace_back([this, port, upload = i >= downloaders] {
        while (!stop_) {
          fd_guard fd(::socket(AF_INET, SOCK_STREAM, 0));
          const int small = 8 * 1024;
          ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
          sockaddr_in addr{};
          addr.sin_family = AF_INET;
          addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          addr.sin_port = htons(port);
          if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) continue;
          const std::string body(64 * 1024, 'u');
          const bool sent =
              upload ? send_all(fd.get(), "POST /up HTTP/1.1\r\nHost: o\r\nContent-Length: 65536\r\n\r\n") &&
                           send_all(fd.get(), body)
                     : send_all(fd.get(), "GET /file HTTP/1.1\r\nHost: o\r\n\r\n");
          if (!sent) continue;
          const auto r = read_until(fd.get(), SIZE_MAX, 2s);
          received_ += r.data.size();
          ++exchanges_;
        }
      });
    }
  }
  ~traffic() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  uint64_t exchanges() const { return exchanges_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0}, exchanges_{0};
  std::vector<std::thread> threads_;
};

// Waits (bounded) until the proxy forwarded more bytes downstream than `after`: control changes are
// spread over live transfers instead of landing between them.
uint64_t wait_for_progress(const proxy_server& server, uint64_t after) {
  const auto deadline = steady::now() + 300ms;
  for (;;) {
    const uint64_t now = server.proxy("dl")->bytes_downstream;
    if (now > after + 16 * 1024 || steady::now() > deadline) return now;
    std::this_thread::sleep_for(200us);
  }
}

void churn(int threads) {
  const std::string file = make_file();
  tcp_server upstream(origin(file));
  proxy_server server(server_options{.threads = threads, .seed = 5});
  const uint16_t port =
      port_of(server.add_proxy({.name = "dl", .listen = "127.0.0.1:0", .upstream = upstream.address()})
                  .config.listen);
  toxic_spec base;
  base.name = "base_slicer";
  base.type = toxic_type::slicer;
  base.stream = stream_direction::downstream;
  base.average_size = 1024;
  base.size_variation = 512;
  base.delay = 20;
  server.add_toxic("dl", base);

  traffic clients(port, 8, 2);
  const auto toxics = every_toxic();
  uint64_t forwarded = wait_for_progress(server, 0);
  const auto deadline = steady::now() + 20s;
  int rounds = 0;
  for (; rounds < 12 && steady::now() < deadline; ++rounds) {
    for (const auto& [first, second] : toxics) {
      server.add_toxic("dl", first);
      forwarded = wait_for_progress(server, forwarded);
      server.update_toxic("dl", second);
      forwarded = wait_for_progress(server, forwarded);
      server.remove_toxic("dl", first.name);
      // The slicer that is always there is churned too: removed and re-added with other sizes.
      server.remove_toxic("dl", base.name);
      base.average_size = base.average_size == 1024 ? 100 : 1024;
      base.size_variation = base.average_size / 2;
      server.add_toxic("dl", base);
      forwarded = wait_for_progress(server, forwarded);
    }
  }
  clients.stop();
  std::printf("churn (%d io threads): %d rounds, %llu exchanges, %llu bytes downstream\n", threads, rounds,
              static_cast<unsigned long long>(clients.exchanges()),
              static_cast<unsigned long long>(forwarded));
  EXPECT_GE(rounds, 1);
  EXPECT_GT(clients.exchanges(), 0u);

  // Healed, the proxy is intact: a download arrives whole and every connection object is gone.
  server.heal_all();
  auto fd = connect_to(port);
  ASSERT_TRUE(send_all(fd.get(), "GET /file HTTP/1.1\r\nHost: o\r\n\r\n"));
  const auto r = read_until(fd.get(), SIZE_MAX, 10s);
  EXPECT_EQ(r.end, read_end::eof);
  const size_t body_at = r.data.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  EXPECT_EQ(r.data.substr(body_at + 4), file);
  fd.reset();
  const auto closing = steady::now() + 5s;
  while (server.proxy("dl")->connections_active > 0 && steady::now() < closing)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(server.proxy("dl")->connections_active, 0u);
}

TEST(toxic_churn, every_toxic_added_updated_removed_under_streaming_traffic_one_thread) { churn(1); }

TEST(toxic_churn, every_toxic_added_updated_removed_under_streaming_traffic_two_threads) { churn(2); }

}  // namespace
}  // namespace stampede::chaos
