// A bounded pool of PostgreSQL sessions for one shop node: at most `size` sessions, opened on demand;
// a caller that finds none free waits at most `wait`, then gets store_unavailable (the node answers 503),
// so a slow database sheds load instead of piling up threads. A session that broke or was left inside a
// transaction is closed instead of going back.
// A shard's pool also has a guard (shard_guard.h: a bulkhead and a circuit breaker) around every lease, so
// a lost shard is refused at once instead of holding the caller's thread for its deadline; probe() is how
// an open circuit closes again.
// Thread-safety: acquire() and lease destruction may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "reference_shop/pg_connection.h"
#include "reference_shop/shard_guard.h"

namespace stampede::shop {

struct pg_pool_options {
  int size = 8;
  std::chrono::milliseconds wait{1000};
  pg::settings session;
  shard_guard_options guard;  // off unless set (the sharded store sets it on each shard's pool)
  std::string label;          // names the pool in refusals ("shard 1")
};

class pg_pool {
 public:
  pg_pool(std::string conninfo, pg_pool_options options);
  ~pg_pool();
  pg_pool(const pg_pool&) = delete;
  pg_pool& operator=(const pg_pool&) = delete;

  // A session on loan; goes back to the pool (or is closed, if broken or discarded) when destroyed.
  class lease {
   public:
    lease(pg_pool& pool, std::unique_ptr<pg::connection> conn, bool guarded = false) noexcept
        : pool_(&pool), conn_(std::move(conn)), guarded_(guarded) {}
    lease(lease&& other) noexcept = default;
    lease& operator=(lease&&) = delete;
    lease(const lease&) = delete;
    ~lease();
    pg::connection& operator*() const noexcept { return *conn_; }
    pg::connection* operator->() const noexcept { return conn_.get(); }
    void discard() noexcept { discard_ = true; }  // close it instead of reusing it

   private:
    friend class pg_pool;
    pg_pool* pool_;
    std::unique_ptr<pg::connection> conn_;
    bool discard_ = false;
    bool guarded_ = false;  // admitted by the pool's guard: tells it how the call ended
  };

  // A free session, a new one if fewer than `size` are open, or the first returned within `wait`.
  // Throws store_unavailable when the wait runs out or the server cannot be reached, and at once when the
  // guard refuses (bulkhead full, circuit open).
  lease acquire();
  // With the circuit open and its probe due: one fresh session and `SELECT 1`, each answer awaited at most
  // `answer_within`; closes the circuit when it works. True when a probe ran. Never called by requests.
  bool probe(std::chrono::milliseconds answer_within);
  shard_guard_stats guard_stats() const { return guard_.stats(); }

  // Closes every idle session (after one was found dead: the server restarted or failed over).
  void drop_idle() noexcept;

  int size() const noexcept { return options_.size; }
  int open() const;  // sessions open now (idle + on loan)

 private:
  lease acquire_session();
  void give_back(std::unique_ptr<pg::connection> conn, bool discard, bool guarded) noexcept;

  const std::string conninfo_;
  const pg_pool_options options_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<pg::connection>> idle_;
  int open_ = 0;  // idle + on loan + being connected
  shard_guard guard_;
};

}  // namespace stampede::shop
