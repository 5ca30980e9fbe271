#include "reference_shop/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cstring>
#include <random>

namespace stampede::shop::redis {

using steady = std::chrono::steady_clock;

std::string_view to_string(error_kind kind) noexcept {
  switch (kind) {
    case error_kind::connect: return "connect";
    case error_kind::timeout: return "timeout";
    case error_kind::closed: return "closed";
    case error_kind::io: return "io";
    case error_kind::protocol: return "protocol";
    case error_kind::reply: return "reply";
    case error_kind::auth: return "auth";
    case error_kind::pool_busy: return "pool_busy";
    case error_kind::down: return "down";
  }
  return "unknown";
}

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

// hiredis 0.14 reports socket errors as REDIS_ERR_IO with strerror's text (its errno may be gone by now).
error_kind classify(const redisContext* c) {
  if (c == nullptr) return error_kind::io;  // allocation failed
  const std::string_view text = c->errstr;
  switch (c->err) {
    case REDIS_ERR_EOF: return error_kind::closed;
    case REDIS_ERR_PROTOCOL: return error_kind::protocol;
    case REDIS_ERR_IO:
      if (text.find("refused") != std::string_view::npos) return error_kind::connect;
      if (text.find("timed out") != std::string_view::npos ||
          text.find("temporarily unavailable") != std::string_view::npos ||
          text.find("in progress") != std::string_view::npos) {
        return error_kind::timeout;
      }
      if (text.find("reset") != std::string_view::npos || text.find("Broken pipe") != std::string_view::npos) {
        return error_kind::closed;
      }
      return error_kind::io;
    default: return error_kind::io;
  }
}

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.kind = reply::type::string;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = reply::type::status;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = reply::type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = reply::type::array;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default: break;  // nil
  }
  return out;
}

struct reply_deleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

reply_ptr run(redisContext* c, std::span<const std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (auto a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  return reply_ptr(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
}

}  // namespace

void client::context_deleter::operator()(redisContext* c) const noexcept { redisFree(c); }

client::client(client_options options) : options_(std::move(options)), backoff_(options_.backoff_initial) {}

client::~client() = default;

// A connection from the pool, a new one if fewer than pool_size are open, or the first given back
// within pool_wait. `probe` is set when this call is the one that tests a Redis that failed before.
client::context client::acquire(bool& probe) {
  std::unique_lock lock{mutex_};
  probe = false;
  if (failing_) {
    if (probing_ || steady::now() < retry_at_) {
      ++skipped_;
      throw error(error_kind::down, "redis unavailable (backing off after a failure)");
    }
    probing_ = true;
    probe = true;
  }
  if (!returned_.wait_for(lock, options_.pool_wait, [&] { return !idle_.empty() || open_ < options_.pool_size; })) {
    if (probe) probing_ = false;
    throw error(error_kind::pool_busy, "no free redis connection within " +
                                           std::to_string(options_.pool_wait.count()) + " ms");
  }
  if (!idle_.empty()) {
    context c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  ++open_;
  lock.unlock();
  try {
    return connect();
  } catch (...) {
    lock.lock();
    --open_;
    returned_.notify_one();
    throw;
  }
}

client::context client::connect() {
  context c{redisConnectWithTimeout(options_.host.c_str(), options_.port, to_timeval(options_.connect_timeout))};
  if (!c || c->err) {
    const error_kind kind = classify(c.get());
    throw error(kind, std::string{"redis connect to "} + options_.host + ":" + std::to_string(options_.port) +
                          ": " + (c ? c->errstr : "out of memory"));
  }
  if (redisSetTimeout(c.get(), to_timeval(options_.command_timeout)) != REDIS_OK) {
    throw error(error_kind::io, std::string{"redis: cannot set the command timeout: "} + c->errstr);
  }
  ++connections_;
  if (!options_.password.empty()) {
    const std::string_view auth[] = {"AUTH", options_.password};
    reply_ptr r = run(c.get(), auth);
    if (!r) throw error(classify(c.get()), std::string{"redis AUTH: "} + c->errstr);
    if (r->type == REDIS_REPLY_ERROR) throw error(error_kind::auth, "redis AUTH refused: " + std::string(r->str, r->len));
  }
  return c;
}

void client::give_back(context c) noexcept {
  std::lock_guard lock{mutex_};
  if (c && !failing_) {
    idle_.push_back(std::move(c));
  } else {
    --open_;  // closed when `c` goes out of scope
  }
  returned_.notify_one();
}

void client::succeeded(bool probe) noexcept {
  if (!probe) return;
  std::lock_guard lock{mutex_};
  probing_ = false;
  if (failing_) {
    failing_ = false;
    backoff_ = options_.backoff_initial;
    ++reconnects_;
  }
}

// Redis looks unreachable: open the circuit and close the idle connections (after a restart they are all
// dead; after a pause they would each cost a timeout).
void client::failed(error_kind kind, bool probe) noexcept {
  count(kind);
  if (kind == error_kind::reply || kind == error_kind::pool_busy) {
    if (probe) {
      std::lock_guard lock{mutex_};
      probing_ = false;
    }
    return;
  }
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::vector<context> closing;
  std::lock_guard lock{mutex_};
  probing_ = false;
  const double jitter = std::uniform_real_distribution<double>{0.8, 1.2}(rng);
  retry_at_ = steady::now() + std::chrono::duration_cast<steady::duration>(backoff_ * jitter);
  if (failing_) backoff_ = std::min(backoff_ * 2, options_.backoff_max);
  failing_ = true;
  open_ -= static_cast<int>(idle_.size());
  closing.swap(idle_);
  returned_.notify_all();
}

void client::count(error_kind kind) noexcept {
  for (size_t i = 0; i < counted_error_kinds.size(); ++i) {
    if (counted_error_kinds[i] == kind) ++errors_[i];
  }
}

reply client::command(std::span<const std::string_view> args) {
  bool probe = false;
  context c;
  try {
    c = acquire(probe);
  } catch (const error& e) {
    if (e.kind() != error_kind::down) failed(e.kind(), probe);
    throw;
  }
  reply_ptr r = run(c.get(), args);
  if (!r) {
    const error_kind kind = classify(c.get());
    const std::string what = std::string{"redis "} + std::string(args.empty() ? "" : args[0]) + ": " + c->errstr;
    c.reset();
    give_back(nullptr);
    failed(kind, probe);
    throw error(kind, what);
  }
  ++commands_;
  succeeded(probe);  // first: a probe's connection is kept only once the circuit is closed
  give_back(std::move(c));
  if (r->type == REDIS_REPLY_ERROR) {
    count(error_kind::reply);
    throw error(error_kind::reply, "redis " + std::string(args.empty() ? "" : args[0]) + ": " + std::string(r->str, r->len));
  }
  return convert(r.get());
}

bool client::available() const {
  std::lock_guard lock{mutex_};
  return !failing_ || (!probing_ && steady::now() >= retry_at_);
}

client_stats client::stats() const {
  client_stats s;
  for (size_t i = 0; i < errors_.size(); ++i) s.errors[i] = errors_[i].load();
  s.commands = commands_;
  s.connections = connections_;
  s.reconnects = reconnects_;
  s.skipped = skipped_;
  std::lock_guard lock{mutex_};
  s.up = !failing_;
  return s;
}

}  // namespace stampede::shop::redis
