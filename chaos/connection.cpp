// A proxied connection: lifecycle, toxic refresh, supervisor and the two pumps. See connection.h.
#include "chaos/connection.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "chaos/rng.h"
#include "chaos/toxics/catalogue.h"

namespace stampede::chaos {
namespace {

constexpr steady::time_point forever = steady::time_point::max();

bool applies(const toxic_spec& t, int dir) {
  if (t.stream == stream_direction::both) return true;
  return (t.stream == stream_direction::upstream) == (dir == 0);
}

std::string_view dir_name(int dir) { return dir == 0 ? "upstream" : "downstream"; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// toxic_set

const toxic_set::entry* toxic_set::find(const toxic_runtime* rt) const {
  for (const auto& e : toxics) {
    if (e.rt.get() == rt) return &e;
  }
  return nullptr;
}

const toxic_set::entry* toxic_set::find(std::string_view name) const {
  for (const auto& e : toxics) {
    if (e.rt->spec.name == name) return &e;
  }
  return nullptr;
}

void toxic_set::index() {
  for (const auto& e : toxics) {
    const auto& where = toxics::entry(e.rt->spec.type);
    for (int dir = 0; dir < 2; ++dir) {
      if (!e.units[dir]) continue;
      if (where.scope == toxics::scope::stream) stream[dir].push_back(e.units[dir]);
      if (where.scope == toxics::scope::request) request.push_back(e.units[dir]);
    }
  }
  for (auto& pipeline : stream) {
    std::stable_sort(pipeline.begin(), pipeline.end(), [](const unit_ptr& a, const unit_ptr& b) {
      return toxics::entry(a->spec().type).rank < toxics::entry(b->spec().type).rank;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and toxics

connection::connection(std::shared_ptr<proxy_shared> proxy, tcp::socket client, uint64_t id)
    : proxy_(std::move(proxy)),
      id_(id),
      seed_(derive(proxy_->seed, id)),
      strand_(client.get_executor()),
      client_(std::move(client)),
      upstream_(strand_),
      supervisor_timer_(strand_),
      open_timer_(strand_),
      dirs_{direction(0, strand_), direction(1, strand_)} {}

void connection::start() {
  asio::co_spawn(
      strand_, [self = shared_from_this()] { return self->run(); }, report_exception);
}

// Each post from another thread kicks the io loop right after it (io_loop.h: Asio does not wake a loop that
// polls it), here rather than in the callers, so that no caller can forget.
void connection::wake() {
  asio::post(strand_, [self = shared_from_this()] { self->on_wake(); });
  proxy_->kick();
}

void connection::shut() {
  asio::post(strand_, [self = shared_from_this()] { self->close(false); });
  proxy_->kick();
}

void connection::record(const toxic_spec& toxic, std::string_view direction, uint64_t request,
                        std::string detail) {
  proxy_->rec->record(proxy_->name, toxic.name, to_string(toxic.type), direction, id_, request,
                      std::move(detail));
}

// A toxic that appears on this connection: rolled once per toxic version (Toxiproxy semantics; HTTP
// toxics roll per request instead), then one unit per direction it applies to.
toxic_set::entry connection::activate(const std::shared_ptr<const toxic_runtime>& rt,
                                      steady::time_point now) {
  toxic_set::entry e{.rt = rt, .units = {}};
  const toxic_spec& spec = rt->spec;
  const auto where = toxics::entry(spec.type).scope;
  const uint64_t toxic_seed = derive(seed_, rt->name_hash, rt->version);
  auto context = [&](std::string direction, uint64_t seed) {
    return toxics::unit_context{.spec = std::shared_ptr<const toxic_spec>(rt, &rt->spec),
                                .direction = std::move(direction),
                                .seed = seed,
                                .activated = now,
                                .connection_start = start_,
                                .budget = rt->first_n_used};
  };
  if (where == toxics::scope::request) {
    e.units[0] = toxics::make_unit(context("upstream", toxic_seed));
    return e;
  }
  if (!roll(toxic_seed, spec.toxicity)) return e;
  if (where == toxics::scope::connection) {
    e.units[0] = toxics::make_unit(context("connection", toxic_seed));
  } else {
    for (int dir = 0; dir < 2; ++dir) {
      if (applies(spec, dir))
        e.units[dir] = toxics::make_unit(context(std::string(dir_name(dir)), derive(toxic_seed, dir + 1)));
    }
  }
  const auto& first = e.units[0] ? e.units[0] : e.units[1];
  record(spec, where == toxics::scope::connection ? "connection" : to_string(spec.stream), 0,
         first->activation_detail());
  return e;
}

// Re-reads the proxy's toxics if they changed: builds the next toxic_set (see the lifetime rule).
void connection::refresh() {
  const uint64_t generation = proxy_->generation.load(std::memory_order_acquire);
  if (generation == generation_) return;
  generation_ = generation;
  snapshot_ = proxy_->current();
  auto next = std::make_shared<toxic_set>();
  const auto now = steady::now();
  for (const auto& rt : snapshot_->toxics) {
    const auto* same = toxics_->find(rt.get());
    next->toxics.push_back(same ? *same : activate(rt, now));
  }
  bool corrupt = false;
  for (const auto& old : toxics_->toxics) {
    const auto* kept = next->find(old.rt->spec.name);
    for (const auto& unit : old.units) {
      if (!unit) continue;
      if (!kept) {
        // A removed toxic that swallowed data leaves a corrupt stream: close, as Toxiproxy does.
        corrupt = corrupt || unit->stream_corrupt();
      } else if (kept->rt != old.rt) {
        for (const auto& successor : kept->units) {
          if (successor) successor->inherit(*unit);
        }
      }
    }
  }
  next->index();
  toxics_ = std::move(next);
  if (snapshot_->has_http) http_.arm();
  if (corrupt) close(false);
}

void connection::on_wake() {
  if (closed_) return;
  refresh();
  if (closed_) return;
  if (in_set_ && !toxics_->toxics.empty()) {
    leave_wanted_ = true;  // a toxic arrived: back to the Asio pumps once the pending bytes are out
    if (!dirs_[0].blocked && !dirs_[1].blocked) leave_set();
  }
  for (auto& d : dirs_) {
    d.wait_timer.cancel();
    d.data_signal.cancel();
  }
  open_timer_.cancel();
  supervisor_timer_.cancel();
}

void connection::close(bool rst) {
  if (closed_) return;
  closed_ = true;
  close_set(rst);
  boost::system::error_code ignored;
  if (rst) {
    client_.set_option(asio::socket_base::linger(true, 0), ignored);
    upstream_.set_option(asio::socket_base::linger(true, 0), ignored);
  }
  client_.close(ignored);
  upstream_.close(ignored);
  for (auto& d : dirs_) {
    d.pipe.close();
    d.data_signal.cancel();
    d.space_signal.cancel();
    d.wait_timer.cancel();
  }
  supervisor_timer_.cancel();
  open_timer_.cancel();
  proxy_->active.fetch_sub(1, std::memory_order_relaxed);
  proxy_->server_active->fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard lock(proxy_->mutex);
  proxy_->connections.erase(id_);
}

asio::awaitable<void> connection::wait_until(asio::steady_timer& timer, steady::time_point when) {
  timer.expires_at(when);
  co_await timer.async_wait(use_tuple);  // expiry or cancel (wake/close): the caller re-evaluates
}

// A toxic's wait for the head chunk (latency, bandwidth, slicer...). A timer fires late on a busy machine
// (waking an idle thread: ~0.1 ms on the 2-core VM of BENCHMARKS.md), which a 1 ms latency would show
// as +10%. So the timer is set early by the proxy's running mean of that lateness (at most
// max_timer_lead) and the last stretch yields to this thread's other handlers until the time is due.
asio::awaitable<void> connection::wait_due(direction& d, steady::time_point until) {
  using std::chrono::nanoseconds;
  constexpr int64_t max_timer_lead = 500'000;  // ns
  auto& lateness = proxy_->timer_lateness_ns;
  const auto wake = until - nanoseconds(lateness.load(std::memory_order_relaxed));
  if (steady::now() < wake) {
    d.wait_timer.expires_at(wake);
    auto [ec] = co_await d.wait_timer.async_wait(use_tuple);
    if (ec) co_return;  // cancelled (toxics changed, closing): the caller re-evaluates
    const int64_t late = std::chrono::duration_cast<nanoseconds>(steady::now() - wake).count();
    const int64_t mean = lateness.load(std::memory_order_relaxed);  // a lost update is harmless
    lateness.store(std::clamp<int64_t>(mean + (late - mean) / 8, 0, max_timer_lead),
                   std::memory_order_relaxed);
  }
  while (!closed_ && steady::now() < until) co_await asio::post(strand_, asio::use_awaitable);
}

asio::awaitable<void> connection::run() {
  asio::co_spawn(
      strand_, [self = shared_from_this()] { return self->supervise(); }, report_exception);
  if (!co_await open_upstream()) co_return;
  boost::system::error_code ignored;
  client_.set_option(tcp::no_delay(true), ignored);
  upstream_.set_option(tcp::no_delay(true), ignored);
  // Non-blocking sockets: the pumps' first send() of a chunk is synchronous, and splice(2) on a socket
  // blocks unless the socket itself is non-blocking.
  client_.non_blocking(true, ignored);
  upstream_.non_blocking(true, ignored);
  last_activity_ = steady::now();
  supervisor_timer_.cancel();  // it waits for the connect deadline: the idle deadline replaces it now
  if (!enter_set()) spawn_pumps();
}

// The Asio pumps of the directions whose EOF has not been forwarded yet (all of them, unless the
// connection comes back from the own epoll set).
void connection::spawn_pumps() {
  for (int i = 0; i < 2; ++i) {
    if (dirs_[i].done) continue;
    asio::co_spawn(
        strand_, [self = shared_from_this(), i] { return self->read_loop(self->dirs_[i]); },
        report_exception);
    asio::co_spawn(
        strand_, [self = shared_from_this(), i] { return self->write_loop(self->dirs_[i]); },
        report_exception);
  }
}

// Waits out the connect delays of the connection toxics (re-evaluated when toxics change), then
// connects to the upstream. False: the connection is closed.
asio::awaitable<bool> connection::open_upstream() {
  while (!closed_) {
    refresh();
    const toxics::env e{steady::now(), *this};
    steady::duration delay{0};
    for (const auto& entry : toxics_->toxics) {
      for (const auto& unit : entry.units) {
        if (unit) delay += unit->connect_delay(e);
      }
    }
    const auto until = start_ + delay;
    if (e.now >= until) break;
    co_await wait_until(open_timer_, until);
  }
  if (closed_) co_return false;
  connecting_ = true;
  connect_deadline_ = steady::now() + proxy_->options.connect_timeout;
  supervisor_timer_.cancel();
  auto [ec, endpoint] = co_await asio::async_connect(upstream_, proxy_->upstream_endpoints(), use_tuple);
  connecting_ = false;
  if (closed_) co_return false;
  if (ec) {
    proxy_->refused.fetch_add(1, std::memory_order_relaxed);
    close(false);  // the client sees "connected, then EOF", as with Toxiproxy
    co_return false;
  }
  co_return true;
}

// Enforces every deadline of the connection with one timer.
asio::awaitable<void> connection::supervise() {
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
    const toxics::env e{now, *this};
    for (const auto& entry : toxics_->toxics) {
      for (const auto& unit : entry.units) {
        if (closed_ || !unit) continue;
        if (const auto deadline = unit->deadline()) {
          check(*deadline, [&] {
            const auto v = unit->on_deadline(e);
            if (!v.passes()) close(v.what == toxics::verdict::action::reset);
          });
        }
      }
    }
    if (closed_) break;
    co_await wait_until(supervisor_timer_, next);
  }
}

// ---------------------------------------------------------------------------------------------
// Pumps

void connection::push(direction& d, std::string_view bytes, steady::time_point received) {
  if (bytes.empty()) return;
  chunk c;
  c.data.assign(bytes);
  c.seq = ++d.next_seq;
  c.received = received;
  d.queued += c.data.size();
  d.queue.push_back(std::move(c));
  d.data_signal.cancel();
}

void connection::pop(direction& d) {
  d.queued -= d.queue.front().data.size();
  d.queue.pop_front();
  d.space_signal.cancel();
}

void connection::forward(std::string_view bytes, steady::time_point received, steady::time_point hold_until,
                         const std::shared_ptr<const toxic_spec>& held_by) {
  direction& up = dirs_[0];
  push(up, bytes, received);
  if (!bytes.empty() && hold_until != steady::time_point{}) {
    up.queue.back().hold_until = hold_until;
    up.queue.back().held_by = held_by;
  }
}

void connection::respond(std::string response, bool close_after) {
  direction& down = dirs_[1];
  if (down.done) return;
  chunk c;
  c.data = std::move(response);
  c.seq = ++down.next_seq;
  c.received = steady::now();
  c.close_after = close_after;
  down.queued += c.data.size();
  down.queue.push_back(std::move(c));
  down.data_signal.cancel();
}

void connection::on_eof(direction& d, steady::time_point now) {
  if (d.index == 0) http_.flush(now, *this);
  chunk c;
  c.eof = true;
  c.seq = ++d.next_seq;
  c.received = now;
  d.queue.push_back(std::move(c));
  d.data_signal.cancel();
}

asio::awaitable<void> connection::read_loop(direction& d) {
  tcp::socket& src = d.index == 0 ? client_ : upstream_;
  tcp::socket& dst = d.index == 0 ? upstream_ : client_;
  auto& counter = d.index == 0 ? proxy_->bytes_up : proxy_->bytes_down;
  auto& received = d.index == 0 ? proxy_->received_up : proxy_->received_down;
  while (!closed_) {
    if (d.queued >= proxy_->options.max_queued_bytes) {  // backpressure: wait for the writer
      d.space_signal.expires_at(forever);
      co_await d.space_signal.async_wait(use_tuple);
      continue;
    }
    if (d.bulk && splice_allowed(d)) {  // a large transfer and no toxic: zero copy (connection_splice.cpp)
      const spliced result = co_await splice_chunk(d, src, dst);
      if (result == spliced::stopped) co_return;
      if (result == spliced::again) continue;
      // user_space: a toxic appeared while the bytes waited; read them into user space below.
    }
    auto [ec, n] = co_await src.async_read_some(asio::buffer(d.buffer), use_tuple);
    if (closed_) co_return;
    const auto now = steady::now();
    last_activity_ = now;
    if (ec) {
      if (ec == asio::error::eof) {
        on_eof(d, now);
      } else {
        close(true);  // a reset on one side is passed on as a reset
      }
      co_return;
    }
    received.fetch_add(n, std::memory_order_relaxed);
    d.bulk = n == d.buffer.size();
    refresh();
    if (closed_) co_return;
    const std::string_view bytes(d.buffer.data(), n);
    if (d.index == 0 && http_.active()) {
      http_.feed(bytes, now, toxics_->request, snapshot_->has_http, *this, *this);
      continue;
    }
    if (!toxics_->stream[d.index].empty() || !d.queue.empty()) {
      push(d, bytes, now);
      continue;
    }
    // Fast path: no toxic on this direction and nothing queued: forward straight from the buffer.
    d.direct_writing = true;
    d.write_started = now;
    // Most chunks fit in the socket's send buffer: one send() now (the socket is non-blocking), without
    // the suspension and the trip through the scheduler of an asynchronous write; the rest, if any, waits.
    boost::system::error_code wec;
    size_t written = dst.write_some(asio::buffer(d.buffer.data(), n), wec);
    if (wec == asio::error::would_block || wec == asio::error::try_again) wec = {};
    if (!wec && written < n) {
      auto [aec, more] =
          co_await asio::async_write(dst, asio::buffer(d.buffer.data() + written, n - written), use_tuple);
      wec = aec;
      written += more;
    }
    d.direct_writing = false;
    d.write_started.reset();
    if (closed_) co_return;
    if (wec) {
      close(true);
      co_return;
    }
    counter.fetch_add(written, std::memory_order_relaxed);
    last_activity_ = steady::now();
    if (!d.queue.empty()) d.data_signal.cancel();
  }
}

// The toxics' verdict on the head chunk, as a value (nothing in it points into the toxic set).
connection::step connection::next_step(direction& d) {
  chunk& c = d.queue.front();
  const toxics::env e{steady::now(), *this};
  const auto& pipeline = toxics_->stream[d.index];
  toxics::head h{.seq = c.seq, .size = c.data.size(), .offset = c.offset, .received = c.received};
  auto stop = [](const toxics::verdict& v) {
    using action = toxics::verdict::action;
    switch (v.what) {
      case action::wait:
        return step::make(step::kind::wait, v.until);
      case action::drop:
        return step::make(step::kind::drop);
      case action::close:
        return step::make(step::kind::close);
      case action::reset:
        return step::make(step::kind::reset);
      case action::pass:
        break;
    }
    return step::make(step::kind::write);
  };
  if (c.eof) {
    for (const auto& unit : pipeline) {
      if (const auto v = unit->on_eof(h, e); !v.passes()) return stop(v);
    }
    return step::make(step::kind::end);
  }
  if (c.hold_until > e.now) {  // http_delay, released early if its toxic version is gone
    const bool held = std::any_of(toxics_->request.begin(), toxics_->request.end(),
                                  [&](const auto& unit) { return unit->version() == c.held_by; });
    if (held) return step::make(step::kind::wait, c.hold_until);
    c.hold_until = {};
  }
  for (const auto& unit : pipeline) {
    if (const auto v = unit->on_data(h, e); !v.passes()) return stop(v);
  }
  const size_t n = std::max<size_t>(1, std::min(h.remaining(), h.write_limit));
  return step::make(step::kind::write, {}, std::string_view(c.data).substr(c.offset, n));
}

// After a write of the head chunk: the current toxics see it (a toxic removed meanwhile no longer
// acts). True when the connection was closed.
bool connection::after_write(direction& d, size_t written) {
  chunk& c = d.queue.front();
  c.offset += written;
  (d.index == 0 ? proxy_->bytes_up : proxy_->bytes_down).fetch_add(written, std::memory_order_relaxed);
  last_activity_ = steady::now();
  const toxics::head h{.seq = c.seq, .size = c.data.size(), .offset = c.offset, .received = c.received};
  const toxics::env e{last_activity_, *this};
  for (const auto& unit : toxics_->stream[d.index]) {
    if (const auto v = unit->on_written(h, written, e); !v.passes()) {
      close(v.what == toxics::verdict::action::reset);
      return true;
    }
  }
  if (c.offset < c.data.size()) return false;
  const bool end = c.close_after;
  pop(d);
  if (end) close(false);
  return end;
}

asio::awaitable<void> connection::write_loop(direction& d) {
  tcp::socket& dst = d.index == 0 ? upstream_ : client_;
  while (!closed_) {
    if (d.queue.empty() || d.direct_writing) {
      d.data_signal.expires_at(forever);
      co_await d.data_signal.async_wait(use_tuple);
      continue;
    }
    refresh();
    if (closed_) co_return;
    const step s = next_step(d);
    switch (s.what) {
      case step::kind::wait:
        co_await wait_due(d, s.until);
        continue;
      case step::kind::drop:
        pop(d);
        continue;
      case step::kind::close:
        close(false);
        co_return;
      case step::kind::reset:
        close(true);
        co_return;
      case step::kind::end: {
        d.queue.pop_front();
        d.done = true;
        boost::system::error_code ignored;
        dst.shutdown(tcp::socket::shutdown_send, ignored);
        if (dirs_[0].done && dirs_[1].done) close(false);
        co_return;
      }
      case step::kind::write:
        break;
    }
    d.write_started = steady::now();
    auto [ec, written] =
        co_await asio::async_write(dst, asio::buffer(s.bytes.data(), s.bytes.size()), use_tuple);
    d.write_started.reset();
    if (closed_) co_return;
    if (ec) {
      close(true);
      co_return;
    }
    if (after_write(d, written)) co_return;
  }
}

}  // namespace stampede::chaos
