// common/epoll_set: the own edge-triggered epoll set nested in an io_context, on real loopback TCP
// sockets. Events reach the handler with their target and mask (EPOLLRDHUP only when the mask asks for
// it), want_output gives EPOLLOUT, rearm reports a socket still readable, remove stops its events, a set
// with no waiter lets io_context::run() return, and the pending wait keeps the set alive after its owner
// let go (freed once the wait ends, or with the io_context, whether the wait is pending or its cancelled
// completion queued).
#include "common/epoll_set.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/fd_guard.h"
#include "tests/support/sanitizers.h"

namespace stampede {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

using testing::fd_guard;

// A connected loopback TCP pair; `server` is non-blocking (as the set's users keep their sockets).
struct tcp_pair {
  fd_guard client;
  fd_guard server;
};

tcp_pair connected_pair() {
  fd_guard listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_GE(listener.get(), 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  EXPECT_EQ(::listen(listener.get(), 1), 0);
  EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  tcp_pair pair{fd_guard(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), fd_guard()};
  EXPECT_EQ(::connect(pair.client.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
  pair.server = fd_guard(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  EXPECT_GE(pair.server.get(), 0);
  return pair;
}

void send_text(int fd, std::string_view text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

// What the handler saw: one entry per event, in order.
struct recorder {
  std::vector<uint32_t> events;
  static void on_event(void* target, uint32_t events) {
    static_cast<recorder*>(target)->events.push_back(events);
  }
};

constexpr uint32_t plain_input = EPOLLIN | EPOLLET;
constexpr uint32_t input_and_shutdown = EPOLLIN | EPOLLRDHUP | EPOLLET;

std::chrono::milliseconds bound() {
  return 5s + std::chrono::milliseconds(static_cast<int64_t>(testing::sanitizer_overhead_ms * 20));
}

// Runs `io` until `done` holds (or the bound passes); true if it held.
bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + bound();
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(5ms);
  }
  return done();
}

// Runs `io` for a short while: what "nothing happened" is checked after.
void run_briefly(asio::io_context& io) {
  io.restart();
  io.run_for(50ms);
}

// Whether run() returned because the io_context ran out of work (not because the bound passed).
bool runs_out_of_work(asio::io_context& io) {
  io.restart();
  io.run_for(bound());
  return io.stopped();
}

size_t open_descriptors() {
  size_t n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the directory's own descriptor
}

TEST(epoll_set, an_event_reaches_the_handler_with_its_target_and_the_input_bits) {
  asio::io_context io;
  auto set = std::make_shared<epoll_set>(io, &recorder::on_event, plain_input);
  EXPECT_EQ(set->input_events(), plain_input);
  tcp_pair first = connected_pair(), second = connected_pair();
  recorder a, b;
  ASSERT_TRUE(set->add(first.server.get(), &a));
  ASSERT_TRUE(set->add(second.server.get(), &b));
  set->begin_wait();
  send_text(first.client.get(), "one");
  ASSERT_TRUE(run_until(io, [&] { return !a.events.empty(); }));
  ASSERT_EQ(a.events.size(), 1u);
  EXPECT_NE(a.events[0] & EPOLLIN, 0u);
  EXPECT_EQ(a.events[0] & (EPOLLOUT | EPOLLRDHUP | EPOLLERR | EPOLLHUP), 0u);
  EXPECT_TRUE(b.events.empty());  // its socket has nothing to read

  send_text(second.client.get(), "two");
  ASSERT_TRUE(run_until(io, [&] { return !b.events.empty(); }));
  EXPECT_EQ(b.events.size(), 1u);
  EXPECT_EQ(a.events.size(), 1u);  // edge-triggered: its unread bytes are not reported again
  set->end_wait();
  EXPECT_TRUE(runs_out_of_work(io));
}

TEST(epoll_set, a_shutdown_with_the_last_bytes_sets_rdhup_only_when_the_mask_asks_for_it) {
  for (const uint32_t mask : {input_and_shutdown, plain_input}) {
    SCOPED_TRACE(mask == input_and_shutdown ? "EPOLLIN | EPOLLRDHUP | EPOLLET" : "EPOLLIN | EPOLLET");
    asio::io_context io;
    auto set = std::make_shared<epoll_set>(io, &recorder::on_event, mask);
    tcp_pair pair = connected_pair();
    recorder r;
    ASSERT_TRUE(set->add(pair.server.get(), &r));
    send_text(pair.client.get(), "last bytes");
    ASSERT_EQ(::shutdown(pair.client.get(), SHUT_WR), 0);
    set->begin_wait();
    // One event or two (the bytes and the FIN may raise one edge each): EPOLLIN, and EPOLLRDHUP once
    // the FIN is in, if asked for.
    ASSERT_TRUE(run_until(io, [&] {
      uint32_t seen = 0;
      for (const uint32_t e : r.events) seen |= e;
      return (seen & EPOLLIN) != 0 && (mask != input_and_shutdown || (seen & EPOLLRDHUP) != 0);
    }));
    run_briefly(io);
    uint32_t seen = 0;
    for (const uint32_t e : r.events) seen |= e;
    EXPECT_NE(seen & EPOLLIN, 0u);
    EXPECT_EQ((seen & EPOLLRDHUP) != 0, mask == input_and_shutdown);
    EXPECT_EQ(seen & EPOLLOUT, 0u);
    set->end_wait();
    EXPECT_TRUE(runs_out_of_work(io));
  }
}

TEST(epoll_set, want_output_reports_a_writable_socket_and_rearm_reports_unread_bytes_again) {
  asio::io_context io;
  auto set = std::make_shared<epoll_set>(io, &recorder::on_event, input_and_shutdown);
  tcp_pair pair = connected_pair();
  recorder r;
  ASSERT_TRUE(set->add(pair.server.get(), &r));
  set->begin_wait();
  run_briefly(io);
  EXPECT_TRUE(r.events.empty());  // connected, nothing to read, no output interest: nothing

  ASSERT_TRUE(set->want_output(pair.server.get(), &r, true));
  ASSERT_TRUE(run_until(io, [&] { return !r.events.empty(); }));
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0], static_cast<uint32_t>(EPOLLOUT));

  ASSERT_TRUE(set->want_output(pair.server.get(), &r, false));
  run_briefly(io);
  EXPECT_EQ(r.events.size(), 1u);  // output interest gone, nothing to read

  send_text(pair.client.get(), "unread");
  ASSERT_TRUE(run_until(io, [&] { return r.events.size() == 2; }));
  EXPECT_EQ(r.events[1], static_cast<uint32_t>(EPOLLIN));
  run_briefly(io);
  EXPECT_EQ(r.events.size(), 2u);  // edge-triggered: the unread bytes raise no new edge
  set->rearm(pair.server.get(), &r);
  ASSERT_TRUE(run_until(io, [&] { return r.events.size() == 3; }));
  EXPECT_EQ(r.events[2], static_cast<uint32_t>(EPOLLIN));  // still readable: reported again, input only
  set->end_wait();
  EXPECT_TRUE(runs_out_of_work(io));
}

TEST(epoll_set, a_removed_socket_reports_nothing_and_a_refused_add_says_so) {
  asio::io_context io;
  auto set = std::make_shared<epoll_set>(io, &recorder::on_event, input_and_shutdown);
  tcp_pair removed = connected_pair(), kept = connected_pair();
  recorder gone, stays;
  ASSERT_TRUE(set->add(removed.server.get(), &gone));
  ASSERT_TRUE(set->add(kept.server.get(), &stays));
  set->remove(removed.server.get());
  set->begin_wait();
  send_text(removed.client.get(), "ignored");
  ASSERT_EQ(::shutdown(removed.client.get(), SHUT_WR), 0);
  send_text(kept.client.get(), "seen");  // proves the set was waited on
  ASSERT_TRUE(run_until(io, [&] { return !stays.events.empty(); }));
  run_briefly(io);
  EXPECT_TRUE(gone.events.empty());

  const bool added_twice = set->add(kept.server.get(), &stays);
  const int add_error = errno;
  EXPECT_FALSE(added_twice);
  EXPECT_EQ(add_error, EEXIST);
  const bool modified = set->want_output(removed.server.get(), &gone, true);
  const int modify_error = errno;
  EXPECT_FALSE(modified);  // no longer in the set
  EXPECT_EQ(modify_error, ENOENT);
  set->end_wait();
  EXPECT_TRUE(runs_out_of_work(io));
}

TEST(epoll_set, an_idle_set_lets_the_io_context_run_out_of_work) {
  asio::io_context io;
  auto set = std::make_shared<epoll_set>(io, &recorder::on_event, plain_input);
  tcp_pair pair = connected_pair();
  recorder r;
  ASSERT_TRUE(set->add(pair.server.get(), &r));
  send_text(pair.client.get(), "pending");
  EXPECT_TRUE(runs_out_of_work(io));  // sockets in the set, none waiting: nothing keeps run() going
  EXPECT_TRUE(r.events.empty());

  set->begin_wait();  // the bytes are already there: reported at once
  ASSERT_TRUE(run_until(io, [&] { return !r.events.empty(); }));
  set->end_wait();  // the wait re-armed after the batch is cancelled
  EXPECT_TRUE(runs_out_of_work(io));

  set->begin_wait();
  set->begin_wait();
  set->end_wait();  // one waiter left: the wait stays
  run_briefly(io);
  EXPECT_FALSE(io.stopped());
  set->end_wait();
  EXPECT_TRUE(runs_out_of_work(io));
  EXPECT_EQ(r.events.size(), 1u);
}

TEST(epoll_set, a_set_with_no_shared_owner_refuses_to_wait) {
  asio::io_context io;
  epoll_set set(io, &recorder::on_event, plain_input);
  EXPECT_THROW(set.begin_wait(), std::bad_weak_ptr);
  EXPECT_TRUE(runs_out_of_work(io));  // nothing was counted or armed
}

TEST(epoll_set, the_pending_wait_keeps_the_set_alive_after_its_owner_let_go) {
  asio::io_context io;
  const asio::posix::stream_descriptor reactor_user(io);  // the io_context's reactor and its descriptors
  const size_t before = open_descriptors();
  auto set = std::make_shared<epoll_set>(io, &recorder::on_event, plain_input);
  EXPECT_EQ(open_descriptors(), before + 2);  // the set and Asio's copy of it
  const std::weak_ptr<epoll_set> watch = set;
  set->begin_wait();
  set->end_wait();  // the last waiter leaves: the wait is cancelled, its completion is queued
  set.reset();      // ... and the owner lets go before it runs
  EXPECT_FALSE(watch.expired());
  EXPECT_TRUE(runs_out_of_work(io));
  EXPECT_TRUE(watch.expired());  // freed by the completed wait, on the io_context's thread
  EXPECT_EQ(open_descriptors(), before);
}

TEST(epoll_set, a_set_still_waited_on_is_freed_with_its_io_context) {
  const size_t before = open_descriptors();  // the io_context's own descriptors go with it too
  auto io = std::make_unique<asio::io_context>();
  auto set = std::make_shared<epoll_set>(*io, &recorder::on_event, plain_input);
  tcp_pair pair = connected_pair();
  recorder r;
  ASSERT_TRUE(set->add(pair.server.get(), &r));
  const std::weak_ptr<epoll_set> watch = set;
  set->begin_wait();  // never ended: an owner gone without a word
  set.reset();
  run_briefly(*io);
  EXPECT_FALSE(watch.expired());
  EXPECT_FALSE(io->stopped());  // the wait keeps the io_context running
  send_text(pair.client.get(), "after the owner");
  ASSERT_TRUE(run_until(*io, [&] { return !r.events.empty(); }));  // and still delivers
  io.reset();
  EXPECT_TRUE(watch.expired());
  pair.client.reset();
  pair.server.reset();
  EXPECT_EQ(open_descriptors(), before);
}

TEST(epoll_set, a_cancelled_wait_still_queued_frees_the_set_with_its_io_context) {
  const size_t before = open_descriptors();
  auto io = std::make_unique<asio::io_context>();
  auto set = std::make_shared<epoll_set>(*io, &recorder::on_event, input_and_shutdown);
  const std::weak_ptr<epoll_set> watch = set;
  set->begin_wait();
  set->end_wait();  // the completion (operation_aborted) is queued, never run
  set.reset();
  EXPECT_FALSE(watch.expired());
  io.reset();
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace stampede
