// Fault proxy data plane and control plane. See proxy_server.h for the concurrency model.
#include "chaos/proxy_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cmath>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "chaos/rng.h"
#include "common/http_parse.h"

namespace stampede::chaos {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr steady::time_point forever = steady::time_point::max();

void report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "stampede proxy: internal error in a connection: %s\n", x.what());
  }
}

// Splits "host:port" / "[v6]:port". Throws chaos_error(invalid_argument).
std::pair<std::string, std::string> split_host_port(std::string_view text, std::string_view what) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    throw chaos_error(error_kind::invalid_argument,
                      std::string(what) + " '" + std::string(text) + "' must be host:port");
  }
  std::string host(text.substr(0, colon));
  std::string port(text.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  for (char c : port) {
    if (c < '0' || c > '9') {
      throw chaos_error(error_kind::invalid_argument,
                        std::string(what) + " '" + std::string(text) + "' has a bad port");
    }
  }
  if (port.size() > 5 || std::stoul(port) > 65535) {
    throw chaos_error(error_kind::invalid_argument, std::string(what) + " '" + std::string(text) + "' has a bad port");
  }
  return {host, port};
}

std::vector<tcp::endpoint> resolve(asio::io_context& io, std::string_view text, std::string_view what) {
  auto [host, port] = split_host_port(text, what);
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, port, tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw chaos_error(error_kind::invalid_argument,
                      std::string(what) + " '" + std::string(text) + "' cannot be resolved: " + ec.message());
  }
  std::vector<tcp::endpoint> out;
  for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto address = ep.address();
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(ep.port());
  return address.to_string() + ":" + std::to_string(ep.port());
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : "Error";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Shared state

// One version of one toxic, shared (read-only, except the first_n budget) by all connections.
struct toxic_runtime {
  toxic_spec spec;
  uint64_t version = 1;       // per-name update count: part of every random decision's derivation
  uint64_t name_hash = 0;
  std::shared_ptr<std::atomic<int64_t>> first_n_used;  // shared across updates of the same toxic
};

struct toxic_snapshot {
  std::vector<std::shared_ptr<const toxic_runtime>> toxics;
  bool has_http = false;
};

// Injection log plus per "proxy/toxic" counters.
struct recorder {
  std::shared_ptr<injection_log> log;
  steady::time_point start = steady::now();
  mutable std::mutex mutex;
  std::map<std::string, uint64_t> counts;

  void record(std::string_view proxy, std::string_view toxic, std::string_view type, std::string_view direction,
              uint64_t connection, uint64_t request, std::string detail) {
    injection e;
    e.time = std::chrono::system_clock::now();
    e.since_start = steady::now() - start;
    e.proxy = proxy;
    e.toxic = toxic;
    e.type = type;
    e.direction = direction;
    e.connection = connection;
    e.request = request;
    e.detail = std::move(detail);
    {
      std::lock_guard lock(mutex);
      ++counts[std::string(proxy) + "/" + std::string(toxic)];
    }
    log->append(std::move(e));
  }
  uint64_t count(std::string_view proxy, std::string_view toxic) const {
    std::lock_guard lock(mutex);
    auto it = counts.find(std::string(proxy) + "/" + std::string(toxic));
    return it == counts.end() ? 0 : it->second;
  }
};

class connection;

// State shared by a proxy's listener and its connections; outlives the proxy while connections live.
struct proxy_shared {
  std::string name;
  uint64_t seed = 0;
  server_options options;
  std::shared_ptr<recorder> rec;
  asio::io_context* io = nullptr;

  std::atomic<uint64_t> generation{1};
  mutable std::mutex mutex;  // guards snapshot, upstream, toxics, connections
  std::shared_ptr<const toxic_snapshot> snapshot = std::make_shared<toxic_snapshot>();
  std::vector<tcp::endpoint> upstream;
  std::vector<std::shared_ptr<const toxic_runtime>> toxics;  // in add order
  std::unordered_map<uint64_t, std::weak_ptr<connection>> connections;

  std::atomic<uint64_t> next_connection{0};
  std::atomic<uint64_t> accepted{0}, active{0}, refused{0}, bytes_up{0}, bytes_down{0};
  std::atomic<uint64_t> received_up{0}, received_down{0};  // read from the source, before any toxic

  std::shared_ptr<const toxic_snapshot> current() const {
    std::lock_guard lock(mutex);
    return snapshot;
  }
  std::vector<tcp::endpoint> upstream_endpoints() const {
    std::lock_guard lock(mutex);
    return upstream;
  }
  // Publishes `toxics` (mutex held by caller) and returns the connections to wake.
  std::vector<std::shared_ptr<connection>> publish_locked();
};

// ---------------------------------------------------------------------------------------------
// Connection: two pumps, each a reader and a writer joined by a queue, plus a supervisor.

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<proxy_shared> proxy, tcp::socket client, uint64_t id)
      : proxy_(std::move(proxy)),
        id_(id),
        seed_(derive(proxy_->seed, id)),
        strand_(client.get_executor()),
        client_(std::move(client)),
        upstream_(strand_),
        supervisor_timer_(strand_),
        open_timer_(strand_),
        dirs_{direction(0, strand_, derive(seed_, 1)), direction(1, strand_, derive(seed_, 2))},
        parser_(http::parse_limits{.max_header_bytes = 64 * 1024, .max_body_bytes = 16 * 1024 * 1024}) {}

  void start() {
    asio::co_spawn(strand_, [self = shared_from_this()] { return self->run(); }, report_exception);
  }
  // Thread-safe: re-read the toxics and re-evaluate every pending wait.
  void wake() {
    asio::post(strand_, [self = shared_from_this()] { self->on_wake(); });
  }
  // Thread-safe: close both sockets (FIN), e.g. proxy disabled or removed.
  void shut() {
    asio::post(strand_, [self = shared_from_this()] { self->close(false); });
  }

 private:
  using strand_type = asio::any_io_executor;  // the socket's executor: a strand (threads > 1) or the io_context

  struct chunk {
    std::string data;
    size_t offset = 0;
    steady::time_point received;
    steady::time_point not_before{};              // http_delay
    const toxic_runtime* delayed_by = nullptr;    // toxic that set not_before (released if removed)
    bool eof = false;
    bool close_after = false;                     // synthetic HTTP response that ends the connection
    bool loss_decided = false;
    bool stall_logged = false;
    uint64_t latency_generation = 0;              // generation the latency sample belongs to
    steady::duration latency{0};
  };

  struct direction {
    direction(int i, const strand_type& s, uint64_t seed)
        : index(i), data_signal(s), space_signal(s), wait_timer(s), random(seed) {}
    int index;                                    // 0 = upstream (client->server), 1 = downstream
    std::deque<chunk> queue;
    size_t queued = 0;
    asio::steady_timer data_signal, space_signal, wait_timer;
    bool direct_writing = false;
    bool done = false;                            // writer forwarded EOF
    std::optional<steady::time_point> write_started;
    std::optional<steady::time_point> reset_at;   // reset_peer
    rng random;
    steady::time_point bandwidth_next{};
    bool loss_previous = false;
    uint64_t forwarded = 0;
    bool has_toxics = false;
    std::array<char, 16 * 1024> buffer{};
  };

  // A toxic as seen by this connection: rolled once per toxic version (Toxiproxy semantics).
  struct toxic_state {
    std::shared_ptr<const toxic_runtime> rt;
    bool active = false;
    steady::time_point activated;
    uint64_t base_forwarded[2] = {0, 0};          // limit_data counts from activation
    bool dropped = false;                         // timeout dropped data: stream is corrupt
    bool limit_logged = false;
  };

  enum class http_mode { head, forward_body, drop_body };

  static bool applies(const toxic_spec& t, int dir) {
    if (t.stream == stream_direction::both) return true;
    return (t.stream == stream_direction::upstream) == (dir == 0);
  }
  static std::string_view dir_name(int dir) { return dir == 0 ? "upstream" : "downstream"; }

  void record(const toxic_runtime& rt, std::string_view direction, uint64_t request, std::string detail) {
    proxy_->rec->record(proxy_->name, rt.spec.name, to_string(rt.spec.type), direction, id_, request,
                        std::move(detail));
  }

  // Re-reads the toxic snapshot if it changed; rolls toxicity for new or updated toxics.
  void refresh() {
    const uint64_t generation = proxy_->generation.load(std::memory_order_acquire);
    if (generation == generation_) return;
    generation_ = generation;
    snapshot_ = proxy_->current();
    std::vector<toxic_state> next;
    const auto now = steady::now();
    for (const auto& rt : snapshot_->toxics) {
      auto old = std::find_if(states_.begin(), states_.end(), [&](const toxic_state& s) { return s.rt == rt; });
      if (old != states_.end()) {
        next.push_back(*old);
        continue;
      }
      toxic_state s;
      s.rt = rt;
      s.activated = now;
      s.base_forwarded[0] = dirs_[0].forwarded;
      s.base_forwarded[1] = dirs_[1].forwarded;
      // HTTP toxics roll per request (in http_decide); TCP toxics once per connection and version.
      s.active = !is_http_toxic(rt->spec.type) && roll(derive(seed_, rt->name_hash, rt->version), rt->spec.toxicity);
      if (s.active) {
        // A toxic whose name survived an update keeps its "dropped" flag: the stream is still corrupt.
        for (const auto& o : states_) {
          if (o.rt->spec.name == rt->spec.name) s.dropped = o.dropped;
        }
        std::string detail = "active";
        if (rt->spec.type == toxic_type::bandwidth && rt->spec.rate == 0) detail = "active: rate 0 holds all data";
        record(*rt, is_connection_toxic(rt->spec.type) ? "connection" : to_string(rt->spec.stream), 0, detail);
      }
      next.push_back(std::move(s));
    }
    // A removed timeout toxic that swallowed data leaves a corrupt stream: close, as Toxiproxy does.
    for (const auto& old : states_) {
      const bool kept = std::any_of(next.begin(), next.end(), [&](const toxic_state& s) {
        return s.rt->spec.name == old.rt->spec.name;
      });
      if (!kept && old.dropped) corrupt_ = true;
    }
    states_ = std::move(next);
    for (auto& d : dirs_) {
      d.has_toxics = std::any_of(states_.begin(), states_.end(), [&](const toxic_state& s) {
        return s.active && !is_connection_toxic(s.rt->spec.type) && applies(s.rt->spec, d.index);
      });
    }
    if (snapshot_->has_http && !http_active_ && http_ok_) {
      // Start parsing at the next read, assuming it begins a request (true for non-pipelined clients).
      http_active_ = true;
      parser_.reset();
      mode_ = http_mode::head;
    }
    if (corrupt_) close(false);
  }

  toxic_state* find_active(toxic_type type, int dir) {
    for (auto& s : states_) {
      if (s.active && s.rt->spec.type == type && applies(s.rt->spec, dir)) return &s;
    }
    return nullptr;
  }

  void on_wake() {
    if (closed_) return;
    refresh();
    if (closed_) return;
    for (auto& d : dirs_) {
      d.wait_timer.cancel();
      d.data_signal.cancel();
    }
    open_timer_.cancel();
    supervisor_timer_.cancel();
  }

  void close(bool rst) {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    if (rst) {
      client_.set_option(asio::socket_base::linger(true, 0), ignored);
      upstream_.set_option(asio::socket_base::linger(true, 0), ignored);
    }
    client_.close(ignored);
    upstream_.close(ignored);
    for (auto& d : dirs_) {
      d.data_signal.cancel();
      d.space_signal.cancel();
      d.wait_timer.cancel();
    }
    supervisor_timer_.cancel();
    open_timer_.cancel();
    proxy_->active.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard lock(proxy_->mutex);
    proxy_->connections.erase(id_);
  }

  static void arm(asio::steady_timer& timer, steady::time_point when) { timer.expires_at(when); }

  asio::awaitable<void> wait_until(asio::steady_timer& timer, steady::time_point when) {
    timer.expires_at(when);
    co_await timer.async_wait(use_tuple);  // expiry or cancel (wake/close): the caller re-evaluates
  }

  asio::awaitable<void> run() {
    asio::co_spawn(strand_, [self = shared_from_this()] { return self->supervise(); }, report_exception);
    refresh();
    // slow_open: delay the upstream connect; re-evaluated when toxics change.
    bool logged = false;
    while (!closed_) {
      refresh();
      int64_t delay_ms = 0;
      const toxic_runtime* which = nullptr;
      for (auto& s : states_) {
        if (s.active && s.rt->spec.type == toxic_type::slow_open) {
          delay_ms += s.rt->spec.delay;
          which = s.rt.get();
        }
      }
      const auto until = start_ + std::chrono::milliseconds(delay_ms);
      if (delay_ms == 0 || steady::now() >= until) break;
      if (!logged && which) {
        record(*which, "connection", 0, "connect delayed " + std::to_string(delay_ms) + "ms");
        logged = true;
      }
      co_await wait_until(open_timer_, until);
    }
    if (closed_) co_return;
    connecting_ = true;
    connect_deadline_ = steady::now() + proxy_->options.connect_timeout;
    supervisor_timer_.cancel();
    auto [ec, endpoint] = co_await asio::async_connect(upstream_, proxy_->upstream_endpoints(), use_tuple);
    connecting_ = false;
    if (closed_) co_return;
    if (ec) {
      proxy_->refused.fetch_add(1, std::memory_order_relaxed);
      close(false);  // the client sees "connected, then EOF", as with Toxiproxy
      co_return;
    }
    boost::system::error_code ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    upstream_.set_option(tcp::no_delay(true), ignored);
    last_activity_ = steady::now();
    for (int i = 0; i < 2; ++i) {
      asio::co_spawn(strand_, [self = shared_from_this(), i] { return self->read_loop(self->dirs_[i]); },
                     report_exception);
      asio::co_spawn(strand_, [self = shared_from_this(), i] { return self->write_loop(self->dirs_[i]); },
                     report_exception);
    }
  }

  // Enforces every deadline of the connection with one timer.
  asio::awaitable<void> supervise() {
    while (!closed_) {
      const auto now = steady::now();
      auto next = forever;
      const auto& o = proxy_->options;
      auto check = [&](steady::time_point deadline, auto&& on_expiry) {
        if (deadline <= now) {
          on_expiry();
        } else {
          next = std::min(next, deadline);
        }
      };
      if (connecting_) check(connect_deadline_, [&] { close(false); });
      if (!connecting_ && last_activity_ != steady::time_point{}) {
        check(last_activity_ + o.idle_timeout, [&] { close(false); });
      }
      for (auto& d : dirs_) {
        if (d.write_started) check(*d.write_started + o.write_timeout, [&] { close(false); });
      }
      refresh();
      for (auto& s : states_) {
        if (closed_) break;
        if (!s.active) continue;
        const auto& t = s.rt->spec;
        if (t.type == toxic_type::timeout && t.timeout > 0) {
          check(s.activated + std::chrono::milliseconds(t.timeout), [&] {
            record(*s.rt, to_string(t.stream), 0, "closed after " + std::to_string(t.timeout) + "ms");
            close(false);
          });
        } else if (t.type == toxic_type::limit_time) {
          check(std::max(start_, s.activated) + std::chrono::milliseconds(t.time), [&] {
            record(*s.rt, "connection", 0, std::string(t.reset ? "reset" : "closed") + " after " +
                                               std::to_string(t.time) + "ms");
            close(t.reset);
          });
        }
      }
      if (closed_) break;
      co_await wait_until(supervisor_timer_, next);
    }
  }

  void signal(asio::steady_timer& t) { t.cancel(); }

  void push(direction& d, std::string_view bytes, steady::time_point received,
            steady::time_point not_before = {}, const toxic_runtime* delayed_by = nullptr) {
    if (bytes.empty()) return;
    chunk c;
    c.data.assign(bytes);
    c.received = received;
    c.not_before = not_before;
    c.delayed_by = delayed_by;
    d.queued += c.data.size();
    d.queue.push_back(std::move(c));
    signal(d.data_signal);
  }

  asio::awaitable<void> read_loop(direction& d) {
    tcp::socket& src = d.index == 0 ? client_ : upstream_;
    tcp::socket& dst = d.index == 0 ? upstream_ : client_;
    auto& counter = d.index == 0 ? proxy_->bytes_up : proxy_->bytes_down;
    auto& received = d.index == 0 ? proxy_->received_up : proxy_->received_down;
    while (!closed_) {
      if (d.queued >= proxy_->options.max_queued_bytes) {
        arm(d.space_signal, forever);
        co_await d.space_signal.async_wait(use_tuple);
        continue;
      }
      auto [ec, n] = co_await src.async_read_some(asio::buffer(d.buffer), use_tuple);
      if (closed_) co_return;
      const auto now = steady::now();
      last_activity_ = now;
      if (ec) {
        if (ec == asio::error::eof) {
          if (d.index == 0 && http_active_ && http_ok_ && mode_ == http_mode::head && !held_.empty()) {
            push(d, held_, now);
            held_.clear();
          }
          chunk c;
          c.eof = true;
          c.received = now;
          d.queue.push_back(std::move(c));
          signal(d.data_signal);
        } else {
          close(true);  // a reset on one side is passed on as a reset
        }
        co_return;
      }
      received.fetch_add(n, std::memory_order_relaxed);
      refresh();
      if (closed_) co_return;
      const std::string_view bytes(d.buffer.data(), n);
      if (d.index == 0 && http_active_) {
        http_stage(d, bytes, now);
        continue;
      }
      if (!d.has_toxics && d.queue.empty()) {
        // Fast path: no toxic on this direction and nothing queued: forward straight away.
        d.direct_writing = true;
        d.write_started = now;
        auto [wec, written] = co_await asio::async_write(dst, asio::buffer(d.buffer.data(), n), use_tuple);
        d.direct_writing = false;
        d.write_started.reset();
        if (closed_) co_return;
        if (wec) {
          close(true);
          co_return;
        }
        d.forwarded += written;
        counter.fetch_add(written, std::memory_order_relaxed);
        last_activity_ = steady::now();
        if (!d.queue.empty()) signal(d.data_signal);
        continue;
      }
      push(d, bytes, now);
    }
  }

  // ---- HTTP-aware faults (upstream direction) ----

  void http_stage(direction& d, std::string_view bytes, steady::time_point now) {
    while (!bytes.empty() && !closed_) {
      if (!http_ok_) {
        push(d, bytes, now);
        return;
      }
      const size_t used = parser_.feed(std::span<const char>(bytes.data(), bytes.size()));
      const std::string_view part = bytes.substr(0, used);
      bytes.remove_prefix(used);
      if (parser_.error() != http::parse_error::none) {
        if (mode_ == http_mode::drop_body) {  // cannot resynchronise inside a swallowed request
          close(false);
          return;
        }
        // Not HTTP/1.1 (or too large): forward everything unchanged; HTTP faults off for this connection.
        held_.append(part);
        held_.append(bytes);
        push(d, held_, now);
        held_.clear();
        http_ok_ = false;
        http_active_ = false;
        return;
      }
      switch (mode_) {
        case http_mode::head:
          held_.append(part);
          if (parser_.header_complete()) http_decide(d, now);
          break;
        case http_mode::forward_body: push(d, part, now, delay_until_, delayed_by_); break;
        case http_mode::drop_body: break;
      }
      if (parser_.complete()) {
        if (mode_ == http_mode::drop_body) http_respond(!bytes.empty() || !parser_.keep_alive());
        parser_.reset();
        mode_ = http_mode::head;
        delay_until_ = {};
        delayed_by_ = nullptr;
        if (!snapshot_->has_http) {  // toxics gone and we are at a request boundary: stop parsing
          http_active_ = false;
          if (!bytes.empty()) push(d, bytes, now);
          return;
        }
      } else if (used == 0) {
        break;  // parser wants nothing more from this chunk (should not happen)
      }
    }
  }

  void http_decide(direction& d, steady::time_point now) {
    ++request_index_;
    const std::string_view method = parser_.method();
    const std::string_view target = parser_.target();
    int64_t delay_ms = 0;
    const toxic_runtime* delayer = nullptr;
    abort_by_ = nullptr;
    for (const auto& rt : snapshot_->toxics) {
      const auto& t = rt->spec;
      if (!is_http_toxic(t.type)) continue;
      if (!t.method.empty() && t.method != method) continue;
      if (!path_matches(t.path, target)) continue;
      if (!roll(derive(derive(seed_, rt->name_hash, rt->version), request_index_), t.toxicity)) continue;
      if (t.first_n > 0 && rt->first_n_used->fetch_add(1) >= t.first_n) continue;
      const std::string where = std::string(method) + " " + std::string(target.substr(0, 200));
      if (t.type == toxic_type::http_abort) {
        record(*rt, "upstream", request_index_, "status=" + std::to_string(t.status) + " " + where);
        abort_by_ = rt;
        break;
      }
      record(*rt, "upstream", request_index_, "delay=" + std::to_string(t.delay) + "ms " + where);
      delay_ms += t.delay;
      delayer = rt.get();
    }
    if (abort_by_) {
      held_.clear();
      mode_ = http_mode::drop_body;
      return;
    }
    delay_until_ = delay_ms > 0 ? now + std::chrono::milliseconds(delay_ms) : steady::time_point{};
    delayed_by_ = delayer;
    push(d, held_, now, delay_until_, delayed_by_);
    held_.clear();
    mode_ = http_mode::forward_body;
  }

  void http_respond(bool close_after) {
    const auto& t = abort_by_->spec;
    const std::string body = t.body.empty() ? std::string(reason_phrase(t.status)) + "\n" : t.body;
    std::string response = "HTTP/1.1 " + std::to_string(t.status) + " " + std::string(reason_phrase(t.status)) +
                           "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nX-Stampede-Fault: " + t.name + "\r\n";
    if (close_after) response += "Connection: close\r\n";
    response += "\r\n";
    response += body;
    abort_by_.reset();
    direction& down = dirs_[1];
    if (down.done) return;
    chunk c;
    c.data = std::move(response);
    c.received = steady::now();
    c.close_after = close_after;
    down.queued += c.data.size();
    down.queue.push_back(std::move(c));
    signal(down.data_signal);
  }

  // ---- writer: applies the TCP toxics of one direction, chunk by chunk ----

  steady::duration sample_latency(direction& d) {
    steady::duration total{0};
    for (auto& s : states_) {
      if (!s.active || s.rt->spec.type != toxic_type::latency || !applies(s.rt->spec, d.index)) continue;
      const auto& t = s.rt->spec;
      double ms = static_cast<double>(t.latency);
      auto gaussian = [&] {
        const double u1 = 1.0 - d.random.unit(), u2 = d.random.unit();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
      };
      switch (t.distribution) {
        case latency_distribution::uniform:
          ms += static_cast<double>(d.random.between(-t.jitter, t.jitter));
          break;
        case latency_distribution::normal: ms += static_cast<double>(t.jitter) * gaussian(); break;
        case latency_distribution::lognormal: ms *= std::exp(t.sigma * gaussian()); break;
        case latency_distribution::pareto: ms /= std::pow(1.0 - d.random.unit(), 1.0 / t.alpha); break;
      }
      const double cap = t.max_latency > 0 ? static_cast<double>(t.max_latency) : 60'000.0;
      ms = std::clamp(ms, 0.0, cap);
      total += std::chrono::microseconds(static_cast<int64_t>(ms * 1000.0));
    }
    return total;
  }

  asio::awaitable<void> write_loop(direction& d) {
    tcp::socket& dst = d.index == 0 ? upstream_ : client_;
    auto& counter = d.index == 0 ? proxy_->bytes_up : proxy_->bytes_down;
    while (!closed_) {
      if (d.queue.empty() || d.direct_writing) {
        arm(d.data_signal, forever);
        co_await d.data_signal.async_wait(use_tuple);
        continue;
      }
      refresh();
      if (closed_) co_return;
      chunk& c = d.queue.front();
      const auto now = steady::now();

      if (c.eof) {
        int64_t delay_ms = 0;
        for (auto& s : states_) {
          if (s.active && s.rt->spec.type == toxic_type::slow_close && applies(s.rt->spec, d.index)) {
            if (!c.stall_logged) record(*s.rt, dir_name(d.index), 0, "close delayed");
            delay_ms = std::max(delay_ms, s.rt->spec.delay);
          }
        }
        c.stall_logged = true;
        const auto until = c.received + std::chrono::milliseconds(delay_ms);
        if (now < until) {
          co_await wait_until(d.wait_timer, until);
          continue;
        }
        d.queue.pop_front();
        d.done = true;
        boost::system::error_code ignored;
        dst.shutdown(tcp::socket::shutdown_send, ignored);
        if (dirs_[0].done && dirs_[1].done) close(false);
        co_return;
      }

      // http_delay: released early if its toxic is gone.
      if (c.not_before > now) {
        const bool still = c.delayed_by && std::any_of(snapshot_->toxics.begin(), snapshot_->toxics.end(),
                                                       [&](const auto& rt) { return rt.get() == c.delayed_by; });
        if (still) {
          co_await wait_until(d.wait_timer, c.not_before);
          continue;
        }
        c.not_before = {};
      }

      if (auto* s = find_active(toxic_type::timeout, d.index)) {
        if (!s->dropped) record(*s->rt, dir_name(d.index), 0, "dropping data");
        s->dropped = true;
        pop(d);
        continue;
      }

      if (auto* s = find_active(toxic_type::reset_peer, d.index)) {
        if (!d.reset_at) d.reset_at = now + std::chrono::milliseconds(s->rt->spec.timeout);
        if (now < *d.reset_at) {
          co_await wait_until(d.wait_timer, *d.reset_at);
          continue;
        }
        record(*s->rt, dir_name(d.index), 0, "reset");
        close(true);
        co_return;
      }
      d.reset_at.reset();

      if (!c.loss_decided) {
        c.loss_decided = true;
        bool dropped = false;
        for (auto& s : states_) {
          if (!s.active || s.rt->spec.type != toxic_type::packet_loss || !applies(s.rt->spec, d.index)) continue;
          const auto& t = s.rt->spec;
          // Simple burst model: with probability `correlation` repeat the previous decision.
          const bool lose = d.random.unit() < t.correlation ? d.loss_previous : d.random.unit() < t.probability;
          d.loss_previous = lose;
          if (lose) {
            record(*s.rt, dir_name(d.index), 0, "dropped " + std::to_string(c.data.size() - c.offset) + " bytes");
            dropped = true;
            break;
          }
        }
        if (dropped) {
          pop(d);
          continue;
        }
      }

      if (c.latency_generation != generation_) {
        c.latency = sample_latency(d);
        c.latency_generation = generation_;
      }
      if (c.latency > steady::duration::zero() && now < c.received + c.latency) {
        co_await wait_until(d.wait_timer, c.received + c.latency);
        continue;
      }

      size_t n = c.data.size() - c.offset;
      if (auto* s = find_active(toxic_type::limit_data, d.index)) {
        const uint64_t sent = d.forwarded - s->base_forwarded[d.index];
        const uint64_t limit = static_cast<uint64_t>(s->rt->spec.bytes);
        if (sent >= limit) {
          record(*s->rt, dir_name(d.index), 0, "closed after " + std::to_string(sent) + " bytes");
          close(false);
          co_return;
        }
        n = static_cast<size_t>(std::min<uint64_t>(n, limit - sent));
      }

      const toxic_state* slicer = find_active(toxic_type::slicer, d.index);
      if (slicer) {
        const auto& t = slicer->rt->spec;
        n = std::min<size_t>(n, static_cast<size_t>(
                                    d.random.between(t.average_size - t.size_variation, t.average_size + t.size_variation)));
        n = std::max<size_t>(n, 1);
      }

      toxic_state* bandwidth = nullptr;
      for (auto& s : states_) {  // the lowest rate wins
        if (s.active && s.rt->spec.type == toxic_type::bandwidth && applies(s.rt->spec, d.index) &&
            (!bandwidth || s.rt->spec.rate < bandwidth->rt->spec.rate)) {
          bandwidth = &s;
        }
      }
      if (bandwidth) {
        const int64_t rate = bandwidth->rt->spec.rate;
        if (rate == 0) {  // explicit stall: held (not dropped) until the toxic is removed or updated
          if (!c.stall_logged) record(*bandwidth->rt, dir_name(d.index), 0, "held: rate 0");
          c.stall_logged = true;
          co_await wait_until(d.wait_timer, forever);
          continue;
        }
        if (d.bandwidth_next > now) {
          co_await wait_until(d.wait_timer, d.bandwidth_next);
          continue;
        }
        // At most 10 ms worth of bytes per write: smooth pacing, rate accurate to ~1% over a second.
        n = std::min<size_t>(n, static_cast<size_t>(std::max<int64_t>(1, rate * 10)));
        const auto cost = std::chrono::nanoseconds(static_cast<int64_t>(n) * 1'000'000 / rate);
        d.bandwidth_next = std::max(d.bandwidth_next, now) + cost;
      }

      d.write_started = steady::now();
      auto [ec, written] = co_await asio::async_write(dst, asio::buffer(c.data.data() + c.offset, n), use_tuple);
      d.write_started.reset();
      if (closed_) co_return;
      if (ec) {
        close(true);
        co_return;
      }
      d.forwarded += written;
      counter.fetch_add(written, std::memory_order_relaxed);
      last_activity_ = steady::now();
      c.offset += written;
      if (auto* s = find_active(toxic_type::limit_data, d.index);
          s && d.forwarded - s->base_forwarded[d.index] >= static_cast<uint64_t>(s->rt->spec.bytes)) {
        record(*s->rt, dir_name(d.index), 0, "closed after " + std::to_string(s->rt->spec.bytes) + " bytes");
        close(false);
        co_return;
      }
      if (c.offset >= c.data.size()) {
        const bool end = c.close_after;
        pop(d);
        if (end) {
          close(false);
          co_return;
        }
      } else if (slicer && slicer->rt->spec.delay > 0) {
        c.not_before = steady::now() + std::chrono::microseconds(slicer->rt->spec.delay);
        c.delayed_by = slicer->rt.get();
      }
    }
  }

  void pop(direction& d) {
    d.queued -= d.queue.front().data.size();
    d.queue.pop_front();
    signal(d.space_signal);
  }

  std::shared_ptr<proxy_shared> proxy_;
  uint64_t id_;
  uint64_t seed_;
  strand_type strand_;
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
  bool corrupt_ = false;

  uint64_t generation_ = 0;
  std::shared_ptr<const toxic_snapshot> snapshot_ = std::make_shared<toxic_snapshot>();
  std::vector<toxic_state> states_;

  // HTTP stage
  http::request_parser parser_;
  bool http_active_ = false;
  bool http_ok_ = true;
  http_mode mode_ = http_mode::head;
  std::string held_;
  uint64_t request_index_ = 0;
  std::shared_ptr<const toxic_runtime> abort_by_;
  steady::time_point delay_until_{};
  const toxic_runtime* delayed_by_ = nullptr;
};

std::vector<std::shared_ptr<connection>> proxy_shared::publish_locked() {
  auto next = std::make_shared<toxic_snapshot>();
  next->toxics = toxics;
  next->has_http = std::any_of(toxics.begin(), toxics.end(), [](const auto& t) { return is_http_toxic(t->spec.type); });
  snapshot = std::move(next);
  generation.fetch_add(1, std::memory_order_acq_rel);
  std::vector<std::shared_ptr<connection>> out;
  for (auto& [id, weak] : connections) {
    if (auto c = weak.lock()) out.push_back(std::move(c));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Listener

class proxy_listener {
 public:
  proxy_listener(std::shared_ptr<proxy_shared> shared, proxy_config config)
      : shared_(std::move(shared)), config_(std::move(config)), strand_(asio::make_strand(*shared_->io)) {}
  ~proxy_listener() { stop(); }

  const proxy_config& config() const { return config_; }
  proxy_shared& shared() { return *shared_; }
  const proxy_shared& shared() const { return *shared_; }

  // Binds on the calling thread (so errors surface to the caller), then accepts on the strand.
  void start() {
    if (acceptor_) return;
    std::vector<tcp::endpoint> endpoints;
    if (bound_) {
      endpoints.push_back(*bound_);  // re-enable: keep the port chosen the first time
    } else {
      endpoints = resolve(*shared_->io, config_.listen, "listen address");
    }
    const tcp::endpoint ep = endpoints.front();
    if (!shared_->options.allow_remote && !ep.address().is_loopback()) {
      throw chaos_error(error_kind::invalid_argument,
                        "listen address '" + config_.listen + "' is not loopback (allow_remote is off)");
    }
    auto acceptor = std::make_shared<tcp::acceptor>(strand_);
    boost::system::error_code ec;
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw chaos_error(error_kind::io_error,
                        "proxy '" + config_.name + "' cannot listen on " + config_.listen + ": " + ec.message());
    }
    bound_ = acceptor->local_endpoint();
    config_.listen = endpoint_text(*bound_);
    acceptor_ = acceptor;
    asio::co_spawn(strand_, accept_loop(acceptor, shared_), report_exception);
    config_.enabled = true;
  }

  // Closes the listener (waits up to 1 s so that new connects are refused on return) and all connections.
  void stop() {
    config_.enabled = false;
    if (auto acceptor = std::exchange(acceptor_, nullptr)) {
      auto done = std::make_shared<std::promise<void>>();
      auto future = done->get_future();
      asio::post(strand_, [acceptor, done] {
        boost::system::error_code ignored;
        acceptor->close(ignored);
        done->set_value();
      });
      if (!strand_.running_in_this_thread()) future.wait_for(1s);
    }
    std::vector<std::shared_ptr<connection>> live;
    {
      std::lock_guard lock(shared_->mutex);
      for (auto& [id, weak] : shared_->connections) {
        if (auto c = weak.lock()) live.push_back(std::move(c));
      }
    }
    for (auto& c : live) c->shut();
  }

  void set_listen(std::string listen) {
    config_.listen = std::move(listen);
    bound_.reset();
  }
  void set_upstream(std::string upstream, std::vector<tcp::endpoint> endpoints) {
    config_.upstream = std::move(upstream);
    std::lock_guard lock(shared_->mutex);
    shared_->upstream = std::move(endpoints);
  }

 private:
  static asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor,
                                           std::shared_ptr<proxy_shared> shared) {
    asio::steady_timer backoff(acceptor->get_executor());
    while (acceptor->is_open()) {
      // One io thread already serialises everything: a strand would only add a queue hop per I/O.
      const asio::any_io_executor executor = shared->options.threads > 1
                                                 ? asio::any_io_executor(asio::make_strand(*shared->io))
                                                 : asio::any_io_executor(shared->io->get_executor());
      auto [ec, socket] = co_await acceptor->async_accept(executor, use_tuple);
      if (!acceptor->is_open() || ec == asio::error::operation_aborted) co_return;
      if (ec) {  // e.g. EMFILE: back off instead of spinning
        backoff.expires_after(20ms);
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      shared->accepted.fetch_add(1, std::memory_order_relaxed);
      if (shared->active.load(std::memory_order_relaxed) >= shared->options.max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored);
        shared->refused.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const uint64_t id = shared->next_connection.fetch_add(1, std::memory_order_relaxed) + 1;
      auto c = std::make_shared<connection>(shared, std::move(socket), id);
      shared->active.fetch_add(1, std::memory_order_relaxed);
      {
        std::lock_guard lock(shared->mutex);
        shared->connections.emplace(id, c);
      }
      c->start();
    }
  }

  std::shared_ptr<proxy_shared> shared_;
  proxy_config config_;
  asio::strand<asio::io_context::executor_type> strand_;
  std::shared_ptr<tcp::acceptor> acceptor_;
  std::optional<tcp::endpoint> bound_;
};

// ---------------------------------------------------------------------------------------------
// proxy_server

struct proxy_server::impl {
  // With one io thread, every socket and timer is used from that thread only (other threads post), so
  // the reactor's per-descriptor locks can go; with more threads, strands serialise and locks stay.
  explicit impl(int threads) : io(threads == 1 ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO : threads) {}
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  mutable std::mutex mutex;  // guards proxies (the map and each listener's config)
  std::map<std::string, std::unique_ptr<proxy_listener>, std::less<>> proxies;
  std::map<std::string, uint64_t> toxic_versions;  // "proxy/toxic" -> last version (survives removal)

  proxy_listener& find(std::string_view name) {
    auto it = proxies.find(name);
    if (it == proxies.end()) throw chaos_error(error_kind::not_found, "proxy not found");
    return *it->second;
  }

  proxy_info info(const proxy_listener& p) const {
    proxy_info out;
    out.config = p.config();
    const auto& s = p.shared();
    {
      std::lock_guard lock(s.mutex);
      for (const auto& t : s.toxics) out.toxics.push_back(t->spec);
    }
    for (const auto& t : out.toxics) out.injections[t.name] = rec->count(s.name, t.name);
    out.connections_accepted = s.accepted.load();
    out.connections_active = s.active.load();
    out.connections_refused = s.refused.load();
    out.bytes_upstream = s.bytes_up.load();
    out.bytes_downstream = s.bytes_down.load();
    out.received_upstream = s.received_up.load();
    out.received_downstream = s.received_down.load();
    return out;
  }
};

namespace {

void validate_name(std::string_view name) {
  if (name.empty()) throw chaos_error(error_kind::invalid_argument, "missing required field: name");
  if (name.size() > 200) throw chaos_error(error_kind::invalid_argument, "proxy name is longer than 200 bytes");
  for (char c : name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20) {
      throw chaos_error(error_kind::invalid_argument, "proxy name contains '/' or a control byte");
    }
  }
}

void wake_all(const std::vector<std::shared_ptr<connection>>& connections) {
  for (const auto& c : connections) c->wake();
}

// The toxic checked and normalised, or chaos_error(invalid_argument) saying what is wrong.
toxic_spec validated(toxic_spec toxic) {
  try {
    toxic.validate_and_normalize();
  } catch (const invalid_toxic& e) {
    throw chaos_error(error_kind::invalid_argument, e.what());
  }
  return toxic;
}

}  // namespace

proxy_server::proxy_server(server_options options)
    : options_(std::move(options)),
      log_(std::make_shared<injection_log>(options_.log_capacity)),
      impl_(std::make_unique<impl>(std::clamp(options_.threads, 1, 64))) {
  impl_->rec->log = log_;
  const int threads = std::clamp(options_.threads, 1, 64);
  for (int i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
}

proxy_server::~proxy_server() {
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [name, p] : impl_->proxies) p->stop();
    impl_->proxies.clear();
  }
  impl_->work.reset();
  // Connections close asynchronously; give them a moment, then stop the loop regardless.
  const auto deadline = steady::now() + 2s;
  while (!impl_->io.stopped() && steady::now() < deadline) std::this_thread::sleep_for(5ms);
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
}

proxy_info proxy_server::add_proxy(proxy_config config) {
  validate_name(config.name);
  auto upstream = resolve(impl_->io, config.upstream, "upstream");
  std::lock_guard lock(impl_->mutex);
  if (impl_->proxies.contains(config.name)) throw chaos_error(error_kind::already_exists, "proxy already exists");
  auto shared = std::make_shared<proxy_shared>();
  shared->name = config.name;
  shared->seed = derive(options_.seed, hash_text(config.name));
  shared->options = options_;
  shared->rec = impl_->rec;
  shared->io = &impl_->io;
  shared->upstream = std::move(upstream);
  const bool enabled = config.enabled;
  auto listener = std::make_unique<proxy_listener>(shared, config);
  if (enabled) {
    listener->start();
  } else {
    // Validate the address now so a bad config fails at creation, not at enable time.
    auto ep = resolve(impl_->io, config.listen, "listen address").front();
    if (!options_.allow_remote && !ep.address().is_loopback()) {
      throw chaos_error(error_kind::invalid_argument,
                        "listen address '" + config.listen + "' is not loopback (allow_remote is off)");
    }
  }
  auto& ref = *listener;
  impl_->proxies.emplace(config.name, std::move(listener));
  return impl_->info(ref);
}

std::vector<proxy_info> proxy_server::populate(const std::vector<proxy_config>& configs) {
  std::vector<proxy_info> out;
  for (const auto& c : configs) {
    std::optional<proxy_info> existing = proxy(c.name);
    if (existing) {
      const bool same_listen = c.listen == existing->config.listen ||
                               (split_host_port(c.listen, "listen").second == "0");
      if (same_listen && c.upstream == existing->config.upstream) {
        out.push_back(update_proxy(c.name, {}, {}, c.enabled));
        continue;
      }
      remove_proxy(c.name);
    }
    out.push_back(add_proxy(c));
  }
  return out;
}

proxy_info proxy_server::update_proxy(std::string_view name, std::optional<std::string> listen,
                                      std::optional<std::string> upstream, std::optional<bool> enabled) {
  std::optional<std::vector<tcp::endpoint>> endpoints;
  if (upstream) endpoints = resolve(impl_->io, *upstream, "upstream");
  std::lock_guard lock(impl_->mutex);
  auto& p = impl_->find(name);
  const bool restart = (listen && *listen != p.config().listen) || (upstream && *upstream != p.config().upstream);
  const bool want_enabled = enabled.value_or(p.config().enabled);
  if (restart) {
    const bool was_enabled = p.config().enabled;
    p.stop();
    if (listen && *listen != p.config().listen) p.set_listen(*listen);
    if (endpoints) p.set_upstream(*upstream, std::move(*endpoints));
    if (want_enabled || (!enabled && was_enabled)) p.start();
  } else if (want_enabled && !p.config().enabled) {
    p.start();
  } else if (!want_enabled && p.config().enabled) {
    p.stop();
  }
  return impl_->info(p);
}

void proxy_server::remove_proxy(std::string_view name) {
  std::unique_ptr<proxy_listener> victim;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->proxies.find(name);
    if (it == impl_->proxies.end()) throw chaos_error(error_kind::not_found, "proxy not found");
    victim = std::move(it->second);
    impl_->proxies.erase(it);
  }
  victim->stop();
}

std::optional<proxy_info> proxy_server::proxy(std::string_view name) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->proxies.find(name);
  if (it == impl_->proxies.end()) return std::nullopt;
  return impl_->info(*it->second);
}

std::vector<proxy_info> proxy_server::proxies() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<proxy_info> out;
  for (const auto& [name, p] : impl_->proxies) out.push_back(impl_->info(*p));
  return out;
}

toxic_spec proxy_server::add_toxic(std::string_view proxy_name, toxic_spec toxic) {
  toxic = validated(std::move(toxic));
  std::vector<std::shared_ptr<connection>> to_wake;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = impl_->find(proxy_name).shared();
    std::lock_guard toxics_lock(s.mutex);
    for (const auto& t : s.toxics) {
      if (t->spec.name == toxic.name) throw chaos_error(error_kind::already_exists, "toxic already exists");
    }
    auto rt = std::make_shared<toxic_runtime>();
    rt->spec = toxic;
    rt->version = ++impl_->toxic_versions[std::string(proxy_name) + "/" + toxic.name];
    rt->name_hash = hash_text(toxic.name);
    rt->first_n_used = std::make_shared<std::atomic<int64_t>>(0);
    s.toxics.push_back(std::move(rt));
    to_wake = s.publish_locked();
  }
  wake_all(to_wake);
  return toxic;
}

toxic_spec proxy_server::update_toxic(std::string_view proxy_name, const toxic_spec& toxic) {
  const toxic_spec updated = validated(toxic);
  std::vector<std::shared_ptr<connection>> to_wake;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = impl_->find(proxy_name).shared();
    std::lock_guard toxics_lock(s.mutex);
    auto it = std::find_if(s.toxics.begin(), s.toxics.end(), [&](const auto& t) { return t->spec.name == updated.name; });
    if (it == s.toxics.end()) throw chaos_error(error_kind::not_found, "toxic not found");
    if ((*it)->spec.type != updated.type) {
      throw chaos_error(error_kind::invalid_argument, "a toxic's type cannot change; remove and add it");
    }
    auto rt = std::make_shared<toxic_runtime>();
    rt->spec = updated;
    rt->version = ++impl_->toxic_versions[std::string(proxy_name) + "/" + updated.name];
    rt->name_hash = (*it)->name_hash;
    rt->first_n_used = (*it)->first_n_used;
    *it = std::move(rt);
    to_wake = s.publish_locked();
  }
  wake_all(to_wake);
  return updated;
}

void proxy_server::remove_toxic(std::string_view proxy_name, std::string_view toxic_name) {
  std::vector<std::shared_ptr<connection>> to_wake;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = impl_->find(proxy_name).shared();
    std::lock_guard toxics_lock(s.mutex);
    auto it = std::find_if(s.toxics.begin(), s.toxics.end(), [&](const auto& t) { return t->spec.name == toxic_name; });
    if (it == s.toxics.end()) throw chaos_error(error_kind::not_found, "toxic not found");
    s.toxics.erase(it);
    to_wake = s.publish_locked();
  }
  wake_all(to_wake);
}

std::optional<toxic_spec> proxy_server::toxic(std::string_view proxy_name, std::string_view toxic_name) const {
  for (auto& t : toxics(proxy_name)) {
    if (t.name == toxic_name) return t;
  }
  return std::nullopt;
}

std::vector<toxic_spec> proxy_server::toxics(std::string_view proxy_name) const {
  std::lock_guard lock(impl_->mutex);
  auto& s = impl_->find(proxy_name).shared();
  std::lock_guard toxics_lock(s.mutex);
  std::vector<toxic_spec> out;
  for (const auto& t : s.toxics) out.push_back(t->spec);
  return out;
}

void proxy_server::reset() {
  std::vector<std::shared_ptr<connection>> to_wake;
  std::string errors;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [name, p] : impl_->proxies) {
      auto& s = p->shared();
      {
        std::lock_guard toxics_lock(s.mutex);
        s.toxics.clear();
        auto woken = s.publish_locked();
        to_wake.insert(to_wake.end(), woken.begin(), woken.end());
      }
      if (!p->config().enabled) {
        try {
          p->start();
        } catch (const chaos_error& e) {
          errors += std::string(errors.empty() ? "" : "; ") + e.what();
        }
      }
    }
  }
  wake_all(to_wake);
  if (!errors.empty()) throw chaos_error(error_kind::io_error, "reset: " + errors);
}

std::map<std::string, uint64_t> proxy_server::injection_counts() const {
  std::lock_guard lock(impl_->rec->mutex);
  return impl_->rec->counts;
}

}  // namespace stampede::chaos
