// results.drill.shards (docs/RESULTS.md): what became of a sharded shop's cross-shard checkouts during a
// drill
// (`stampede shop --shards K`, the shard game days): how many orders ended in each outcome, from the shop's
// audit after the drill quiesced (its `txn_outcomes`, reference_shop/shards_audit.cpp), and how long
// transactions stayed in doubt, from the in-doubt sampler's record (in_doubt_sampler.h). Pure.
//
//   orders.committed            cross-shard orders whose header exists (their transaction committed)
//   orders.aborted              2pc: transactions with an `abort` decision (only recovery records one:
//                               presumed abort after the lease); a checkout rolled back before its decision
//                               leaves no trace in the shop (its client got 409/503). null with sagas
//   orders.compensated          sagas compensated (null with 2pc)
//   orders.resolved_by_recovery 2pc: transactions the sampler saw in doubt for at least the lease and then
//                               resolved (recovery acts only past the lease; a coordinator's own COMMIT or
//                               ROLLBACK PREPARED comes within its statement bounds). null with sagas
//                               (recovery's compensation looks the same as the coordinator's)
//   orders.in_doubt             still in doubt at the end: prepared transactions + sagas open (0 when quiet)
//   in_doubt.{transactions, stuck, stuck_threshold_s, max_s, stuck_total_s, unresolved, longest[]}
//                               per distributed transaction (its parts' longest): seconds from PREPARE to
//                               the first sample without it (or the end of sampling if never resolved)
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

#include "drill/in_doubt_sampler.h"

namespace stampede::drill {

struct shard_outcome_inputs {
  std::string txn;            // the shop's --txn
  int shards = 0;             // K
  boost::json::object audit;  // GET /api/admin/audit after the drill (empty if it could not be read)
  in_doubt_tracker in_doubt;  // the sampler's record
  int64_t sample_interval_ms = 250;
  int64_t end_ms = 0;              // unix ms when sampling stopped
  int64_t lease_ms = 10'000;       // --txn-lease-ms
  double stuck_threshold_s = 1.0;  // a transaction in doubt at least this long is "stuck"
};

boost::json::object shard_outcomes(const shard_outcome_inputs& in);

// "cross-shard orders: 120 committed, 3 aborted, ... ; in doubt: 4 stuck >= 1 s, longest 11.2 s" for the
// drill's summary, or "" when the results have no drill.shards.
std::string shard_outcomes_line(const boost::json::value& results);

}  // namespace stampede::drill
