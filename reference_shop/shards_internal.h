// Shared by the sharded store's files (shards*.cpp): one statement or a few on a shard's session outside
// postgres_store's transaction runner.
#pragma once

#include "reference_shop/pg_pool.h"
#include "reference_shop/store.h"

namespace stampede::shop::sharding {

// Runs `fn` on a session of `pool`: a lost session is discarded and the call fails with store_unavailable
// (as the store's own calls), so do a statement timeout; other errors propagate (a bug: 500).
template <class F>
void with_session(pg_pool& pool, F&& fn) {
  auto lease = pool.acquire();
  try {
    fn(*lease);
  } catch (const pg::error& e) {
    if (e.connection_lost()) {
      lease.discard();
      pool.drop_idle();
      throw store_unavailable("database connection lost: " + e.reason());
    }
    try {
      lease->exec("ROLLBACK");
    } catch (const pg::error&) {
      lease.discard();
    }
    if (e.canceled() || e.retryable()) throw store_unavailable(e.reason());
    throw;
  }
}

}  // namespace stampede::shop::sharding
