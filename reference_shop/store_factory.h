// Opens the shop's store from a node's or the supervisor's flags: SQLite on a file (the default) or
// PostgreSQL at a URL (`--db-url`, with the password in $PGPASSWORD or the URL).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "reference_shop/shard_guard.h"
#include "reference_shop/store.h"

namespace stampede::shop {

struct store_config {
  std::string sqlite_path;                         // either a SQLite file ...
  std::string postgres_url;                        // ... or a PostgreSQL server
  int pool_size = 8;                               // PostgreSQL sessions per process
  std::chrono::milliseconds pool_wait{1000};       // then 503
  std::string application_name = "stampede-shop";  // shown in pg_stat_activity
  // Sharded PostgreSQL (shards.h): one URL per shard, at least 2 (postgres_url is then unused), how a
  // cross-shard transaction commits ("2pc", "2pc-no-decision-log") and the recovery worker (0: none).
  std::vector<std::string> shard_urls;
  std::string txn = "2pc";
  std::chrono::milliseconds recovery_interval{1000};
  std::chrono::milliseconds txn_lease{10'000};
  std::string txn_fault;  // game days: the process SIGKILLs itself at this point (two_phase::parse_fault)
  // Game days (--txn-hold-ms): every coordinator waits this long after its PREPAREs, before the decision (a
  // saga: after each part it places), so a fault on a shard finds transactions in doubt, not by luck.
  std::chrono::milliseconds txn_hold{0};
  // The shard bulkheads and the catalogue reads' answer bound (shards.h); off unless set.
  shard_guard_options shard_guard;
  std::chrono::milliseconds shard_read_timeout{0};
};

// Does not migrate. Throws std::invalid_argument unless exactly one location is given (shard_urls count as
// one), sqlite::error for a
// bad SQLite path.
std::unique_ptr<store> open_store(const store_config& config);

}  // namespace stampede::shop
