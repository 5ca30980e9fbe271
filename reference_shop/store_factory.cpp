#include "reference_shop/store_factory.h"

#include <signal.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <thread>

#include "reference_shop/postgres_store.h"
#include "reference_shop/shards.h"
#include "reference_shop/sqlite_store.h"

namespace stampede::shop {

std::unique_ptr<store> open_store(const store_config& config) {
  if (!config.shard_urls.empty()) {
    if (config.shard_urls.size() < 2 || !config.sqlite_path.empty()) {
      throw std::invalid_argument("a sharded store needs at least 2 shard URLs and no SQLite file");
    }
    sharded_store_options options;
    options.shard.pool.size = config.pool_size;
    options.shard.pool.wait = config.pool_wait;
    options.shard.pool.session.application_name = config.application_name;
    options.coordinator.mode = two_phase::parse_protocol(config.txn);
    options.recovery_interval = config.recovery_interval;
    options.lease = config.txn_lease;
    options.guard = config.shard_guard;
    options.read_timeout = config.shard_read_timeout;
    if (!config.txn_fault.empty() || config.txn_hold.count() > 0) {
      // A crashed coordinator, timed on the protocol, not on luck: nothing after this point is sent. A held
      // one (--txn-hold-ms) keeps its parts prepared a while first, so a shard fault lands in doubt.
      const auto at = config.txn_fault.empty() ? std::optional<two_phase::point>{}
                                               : std::optional{two_phase::parse_fault(config.txn_fault)};
      options.coordinator.hook = [at, hold = config.txn_hold](two_phase::point p, std::string_view) {
        if (p == two_phase::point::prepared && hold.count() > 0) std::this_thread::sleep_for(hold);
        if (at && p == *at) ::kill(::getpid(), SIGKILL);
        return true;
      };
    }
    return std::make_unique<sharded_store>(config.shard_urls, std::move(options));
  }
  if (config.sqlite_path.empty() == config.postgres_url.empty()) {
    throw std::invalid_argument("give either a SQLite file or a PostgreSQL URL");
  }
  if (!config.sqlite_path.empty()) return std::make_unique<sqlite_store>(config.sqlite_path);
  postgres_store_options options;
  options.pool.size = config.pool_size;
  options.pool.wait = config.pool_wait;
  options.pool.session.application_name = config.application_name;
  return std::make_unique<postgres_store>(config.postgres_url, std::move(options));
}

}  // namespace stampede::shop
