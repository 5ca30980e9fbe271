#include "reference_shop/pg_pool.h"

#include "reference_shop/store.h"

namespace stampede::shop {

namespace {

// A session could not be opened: the server or the link to it is down (a failure for the guard).
struct unreachable : store_unavailable {
  using store_unavailable::store_unavailable;
};

}  // namespace

pg_pool::pg_pool(std::string conninfo, pg_pool_options options)
    : conninfo_(std::move(conninfo)), options_(std::move(options)), guard_(options_.guard) {
  if (options_.size < 1) throw std::invalid_argument("a PostgreSQL pool needs at least one connection");
}

pg_pool::~pg_pool() = default;

pg_pool::lease::~lease() {
  if (conn_) pool_->give_back(std::move(conn_), discard_, guarded_);
}

int pg_pool::open() const {
  std::lock_guard lock{mutex_};
  return open_;
}

pg_pool::lease pg_pool::acquire() {
  if (!guard_.enabled()) return acquire_session();
  if (const auto a = guard_.enter(); a != shard_guard::admission::admitted) {
    throw store_unavailable((options_.label.empty() ? std::string{} : options_.label + ": ") +
                            guard_.describe(a));
  }
  try {
    auto l = acquire_session();
    l.guarded_ = true;
    return l;
  } catch (const unreachable&) {
    guard_.leave(false);
    throw;
  } catch (...) {
    guard_.cancel();  // no session in time: says nothing about the shard
    throw;
  }
}

bool pg_pool::probe(std::chrono::milliseconds answer_within) {
  if (!guard_.probe_due()) return false;
  try {
    const pg::answer_limit limit{answer_within};  // the connect too (pg_connection.h)
    pg::connection conn{conninfo_, options_.session};
    conn.exec("SELECT 1");
    guard_.record(true);
  } catch (const pg::error&) {
    guard_.record(false);
  }
  return true;
}

pg_pool::lease pg_pool::acquire_session() {
  std::unique_lock lock{mutex_};
  const auto deadline = std::chrono::steady_clock::now() + options_.wait;
  while (idle_.empty() && open_ >= options_.size) {
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.size) {
      throw store_unavailable("all " + std::to_string(options_.size) +
                              " database connections stayed busy for " +
                              std::to_string(options_.wait.count()) + " ms");
    }
  }
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return lease{*this, std::move(conn)};
  }
  ++open_;  // reserved while connecting, outside the lock
  lock.unlock();
  try {
    return lease{*this, std::make_unique<pg::connection>(conninfo_, options_.session)};
  } catch (const pg::error& e) {
    lock.lock();
    --open_;
    returned_.notify_one();
    throw unreachable(e.reason());
  }
}

void pg_pool::drop_idle() noexcept {
  std::vector<std::unique_ptr<pg::connection>> dropped;
  {
    std::lock_guard lock{mutex_};
    dropped.swap(idle_);
    open_ -= static_cast<int>(dropped.size());
  }
  returned_.notify_all();
}  // closed here, outside the lock

void pg_pool::give_back(std::unique_ptr<pg::connection> conn, bool discard, bool guarded) noexcept {
  const bool reuse = !discard && conn->idle();
  if (guarded) guard_.leave(!discard && conn->ok());  // discarded: the store found the connection lost
  if (!reuse) conn.reset();                           // closes the session, outside the lock
  {
    std::lock_guard lock{mutex_};
    if (reuse) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  returned_.notify_one();
}

}  // namespace stampede::shop
