// One proxied connection: two pumps (client->upstream = "upstream", upstream->client = "downstream"),
// each a reader and a writer coroutine joined by a bounded queue, plus a supervisor coroutine that
// enforces every deadline (connect, idle, write stall, and the toxics' own). The pumps know no toxic:
// they ask the connection's toxic units (chaos/toxics/) what to do with each chunk.
//
// Lifetime rule for toxic state (issue #11.1):
//  - The toxics active on a connection are a `toxic_set`: one unit per toxic and direction, owned by
//    shared_ptr. A set is never modified once built; when the proxy's toxics change, refresh() builds a
//    new set (units of unchanged toxics move over, keeping their state) and replaces toxics_.
//  - Toxic units decide synchronously and return values (chaos/toxics/toxic_unit.h). Nothing that
//    points into a toxic set (a unit, a vector of units, an iterator) lives across a co_await: the
//    writer turns the units' verdicts into a `step` value, awaits on that value, and after resuming
//    consults the connection's *current* set again. (Code that must keep a unit across a suspension
//    copies its shared_ptr.) The bytes being written belong to the head chunk, which only the writer
//    pops.
//
// Thread-safety: everything runs on the connection's strand; wake() and shut() may be called from
// any thread.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "chaos/http_stage.h"
#include "chaos/proxy_internal.h"
#include "chaos/splice_pipe.h"
#include "chaos/toxics/toxic_unit.h"
#include "common/epoll_set.h"

namespace stampede::chaos {

// The toxics active on one connection, built from a proxy snapshot; immutable once built.
struct toxic_set {
  using unit_ptr = std::shared_ptr<toxics::toxic_unit>;
  struct entry {
    std::shared_ptr<const toxic_runtime> rt;
    std::array<unit_ptr, 2> units;  // stream: [0] upstream, [1] downstream; else [0]; none = not rolled
  };
  std::vector<entry> toxics;                    // add order
  std::array<std::vector<unit_ptr>, 2> stream;  // per direction, in catalogue rank order
  std::vector<unit_ptr> request;                // HTTP toxics, add order

  const entry* find(const toxic_runtime* rt) const;
  const entry* find(std::string_view name) const;
  void index();  // fills stream and request from toxics
};

class connection : public std::enable_shared_from_this<connection>,
                   private toxics::reporter,
                   private http_stage::sink {
 public:
  connection(std::shared_ptr<proxy_shared> proxy, tcp::socket client, uint64_t id);
  ~connection();  // closes the sockets if still in the own epoll set (the io_context stopped first)

  void start();
  // The server's own epoll set for connections with no toxic (connection_epoll.cpp): nested in
  // `nest_in`'s reactor, or standalone (null: for the io loop, io_loop.h). Null when this build has
  // no set (STAMPEDE_PROXY_EPOLL off). Throws std::runtime_error when the kernel refuses.
  static std::shared_ptr<epoll_set> make_set(asio::io_context* nest_in);
  // Thread-safe: re-read the toxics and re-evaluate every pending wait. Kicks the io loop (io_loop.h):
  // a post from another thread does not wake it by itself.
  void wake();
  // Thread-safe: close both sockets (FIN), e.g. proxy disabled or removed. Kicks the io loop too.
  void shut();

 private:
  using executor_type = asio::any_io_executor;  // the socket's: a strand (threads > 1) or the io_context

  struct chunk {
    std::string data;
    size_t offset = 0;
    uint64_t seq = 0;
    steady::time_point received;
    bool eof = false;
    bool close_after = false;                   // synthetic HTTP response that ends the connection
    steady::time_point hold_until{};            // http_delay...
    std::shared_ptr<const toxic_spec> held_by;  // ...released early when this toxic version is gone
  };

  struct direction {
    direction(int i, const executor_type& e) : index(i), data_signal(e), space_signal(e), wait_timer(e) {}
    int index;  // 0 = upstream (client->server), 1 = downstream
    std::deque<chunk> queue;
    size_t queued = 0;
    uint64_t next_seq = 0;
    asio::steady_timer data_signal, space_signal, wait_timer;
    bool direct_writing = false;
    bool done = false;  // writer forwarded EOF
    // Zero-copy forwarding while no toxic acts on this direction (see splice_chunk).
    splice_pipe pipe;
    bool splice_off = false;  // the pipe could not be opened: user space for good
    bool bulk = false;        // the last read filled the buffer: a large transfer, worth splicing
    std::optional<steady::time_point> write_started;
    std::array<char, 16 * 1024> buffer{};
    // The own epoll set (connection_epoll.cpp): the source's readiness as the events told it, and the
    // bytes of `buffer` (or the pipe) not yet sent, during which this direction does not read.
    bool readable = false;
    bool hangup = false;   // EPOLLRDHUP/HUP/ERR seen: read on to the EOF or error, past short reads
    bool blocked = false;  // waiting for EPOLLOUT on the destination
    size_t out_begin = 0, out_end = 0;
  };

  // What the writer does next with its head chunk: decided synchronously, then awaited as a value.
  struct step {
    enum class kind { write, wait, drop, close, reset, end } what = kind::write;
    steady::time_point until{};
    std::string_view bytes;  // write: part of the head chunk

    static step make(kind what, steady::time_point until = {}, std::string_view bytes = {}) {
      step s;
      s.what = what;
      s.until = until;
      s.bytes = bytes;
      return s;
    }
  };

  // toxics::reporter
  void record(const toxic_spec& toxic, std::string_view direction, uint64_t request,
              std::string detail) override;
  // http_stage::sink
  void forward(std::string_view bytes, steady::time_point received, steady::time_point hold_until,
               const std::shared_ptr<const toxic_spec>& held_by) override;
  void respond(std::string response, bool close_after) override;
  void abandon() override { close(false); }

  void refresh();
  toxic_set::entry activate(const std::shared_ptr<const toxic_runtime>& rt, steady::time_point now);
  void on_wake();
  void close(bool rst);

  asio::awaitable<void> run();
  asio::awaitable<bool> open_upstream();
  asio::awaitable<void> supervise();
  asio::awaitable<void> wait_until(asio::steady_timer& timer, steady::time_point when);
  asio::awaitable<void> wait_due(direction& d, steady::time_point until);
  asio::awaitable<void> read_loop(direction& d);
  enum class spliced { again, user_space, stopped };
  bool splice_allowed(direction& d);
  asio::awaitable<spliced> splice_chunk(direction& d, tcp::socket& src, tcp::socket& dst);
  asio::awaitable<void> write_loop(direction& d);
  void spawn_pumps();
  // The own epoll set (connection_epoll.cpp): while no toxic is active, both sockets leave Asio.
  struct set_tag {
    connection* owner;
    int side;  // 0 = client (source of direction 0), 1 = upstream
  };
  bool enter_set();
  void leave_set();
  static void on_set_event(void* target, uint32_t events);
  void on_ready(int side, uint32_t events);
  void pump(direction& d);
  bool send_pending(direction& d);
  void block(direction& d, bool on);
  void close_set(bool rst);
  step next_step(direction& d);
  bool after_write(direction& d, size_t written);
  void on_eof(direction& d, steady::time_point now);
  void push(direction& d, std::string_view bytes, steady::time_point received);
  void pop(direction& d);

  std::shared_ptr<proxy_shared> proxy_;
  uint64_t id_;
  uint64_t seed_;
  executor_type strand_;
  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer supervisor_timer_;
  asio::steady_timer open_timer_;
  std::array<direction, 2> dirs_;
  steady::time_point start_ = steady::now();
  steady::time_point last_activity_{};
  steady::time_point connect_deadline_{};
  bool connecting_ = false;
  bool closed_ = false;
  // In the own epoll set: the sockets' descriptors, released from client_ and upstream_.
  bool in_set_ = false;
  bool leave_wanted_ = false;  // a toxic arrived: back to Asio once no byte is pending
  std::shared_ptr<epoll_set> set_;
  std::array<int, 2> set_fds_{-1, -1};
  std::array<set_tag, 2> set_tags_{};
  std::optional<tcp> protocol_;

  uint64_t generation_ = 0;
  std::shared_ptr<const toxic_snapshot> snapshot_ = std::make_shared<toxic_snapshot>();
  std::shared_ptr<const toxic_set> toxics_ = std::make_shared<toxic_set>();
  http_stage http_;
};

}  // namespace stampede::chaos
