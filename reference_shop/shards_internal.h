// Shared by the sharded store's files (shards*.cpp): one statement or a few on a shard's session outside
// postgres_store's transaction runner.
#pragma once

#include <string>
#include <vector>

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

// "{1,2,3}": a bigint[] parameter of one field of the lines.
std::string bigint_array(const std::vector<order_line>& lines, int64_t order_line::*field);
// This shard's part of an order (shards_orders.cpp): stock taken by conditional updates in product order,
// then the part and its lines; false (nothing more done) when `short_of` lacks stock.
bool place_part(pg::connection& db, int64_t order_id, int64_t user_id, int home,
                const std::vector<order_line>& lines, int64_t now, int64_t& short_of);

}  // namespace stampede::shop::sharding
