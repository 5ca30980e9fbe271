// Two-phase commit over the shop's PostgreSQL shards (`stampede shop --shards K --txn 2pc`, docs/SHOP.md
// "Sharding"): the coordinator (the node that takes the request), the decision log and the recovery worker.
//
// Protocol, for a transaction that touches the shards P (ascending order, so row locks are taken in one
// global order and shards never deadlock each other):
//   1. BEGIN on each shard of P in turn and run its local work;
//   2. a single shard: COMMIT (the one-phase fast path). Otherwise PREPARE TRANSACTION '<gid>:<shard>' on
//      each (a participant's vote: its work is on disk and its locks held until the decision);
//   3. the decision: INSERT INTO txn_decisions(gid, 'commit') on the *home* shard, ON CONFLICT DO NOTHING,
//      then read it back. This is the commit point. The home shard holds the user's decisions as it holds
//      the user's orders: no shard of its own for the log (shard 0 would carry every checkout's extra
//      write), and a decision is one row on a server the coordinator already talks to;
//   4. COMMIT PREPARED (or ROLLBACK PREPARED) on each shard. Failures here are left to recovery.
// Recovery (every node, periodically): a prepared transaction older than the lease is resolved by its
// decision; without one, `abort` is recorded first (the same insert: a late coordinator then reads
// `abort` and cannot commit), then ROLLBACK PREPARED. Any node finishes any other node's transaction.
//
// Thread-safety: all functions may be called concurrently from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "reference_shop/pg_pool.h"

namespace stampede::shop::two_phase {

enum class protocol {
  two_phase,         // 2pc: decision log before COMMIT PREPARED
  two_phase_no_log,  // 2pc-no-decision-log: DELIBERATELY BROKEN (see docs/SHOP.md): commits the prepared
                     // parts without a durable decision, so recovery rolls back what a crashed coordinator
                     // had not committed yet: partial orders. For the atomicity checker to catch.
  saga,              // local transactions per shard with compensations (shards_saga.cpp), no PREPARE
  saga_no_compensation,  // saga-no-compensation: DELIBERATELY BROKEN: a failed or abandoned saga removes its
                         // header but never releases its placed parts (stock kept by orders that do not
                         // exist)
};

inline bool is_saga(protocol p) noexcept {
  return p == protocol::saga || p == protocol::saga_no_compensation;
}

// "2pc", "2pc-no-decision-log", "saga", "saga-no-compensation"; throws std::invalid_argument naming --txn.
protocol parse_protocol(std::string_view text);
std::string_view to_string(protocol p) noexcept;

// Thrown by a shard's work to give up the whole transaction (nothing is changed anywhere); the caller has
// already recorded why.
struct abort_transaction {};
// Thrown by a shard's work when a concurrent transaction got there first: everything is rolled back and
// run() returns outcome::rerun, for the caller to start again from its reads (an idempotency key that a
// concurrent request inserted: the next run replays that order).
struct rerun_transaction {};

// A point of the protocol, for test seams and game days: after every PREPARE (before the decision) and
// after the decision (before COMMIT PREPARED). A hook that returns false abandons the transaction there
// as a crashed coordinator would: nothing more is sent, the prepared parts are left to recovery.
// first_committed: after the first part's COMMIT PREPARED (where the broken mode loses atomicity).
enum class point { prepared, decided, first_committed };

// --txn-fault: "after-prepare" -> point::prepared, "after-decision" -> point::decided,
// "after-first-commit" -> point::first_committed; throws std::invalid_argument naming --txn-fault.
point parse_fault(std::string_view text);

struct coordinator_options {
  protocol mode = protocol::two_phase;
  std::string gid_prefix = "stampede";  // gids are PREFIX:HOME:RANDOM:SHARD (unique per cluster)
  int max_attempts = 5;                 // runs after conflicts or lost sessions before the commit point
  std::function<bool(point, std::string_view gid)> hook;
};

// The work of one shard, inside its open transaction (READ COMMITTED).
using shard_work = std::function<void(int shard, pg::connection& session)>;

enum class outcome { committed, aborted, rerun };

struct run_stats {
  bool two_phase = false;  // false: the one-phase fast path
  std::string gid;         // the base gid (two-phase)
};

// Runs `work` on each shard of `shards` (ascending, distinct; `pools[s]` is shard s's pool), with the
// decision on `home`. aborted: `work` threw abort_transaction (nothing changed) or recovery decided abort
// first. Throws store_unavailable when the shards stay unreachable or conflicting, or when a one-phase
// commit's outcome is unknown and `rerun_safe` is false; after the commit point it never throws: the
// decision stands and recovery finishes what could not be sent.
outcome run(const std::vector<pg_pool*>& pools, const std::vector<int>& shards, int home,
            const coordinator_options& options, const shard_work& work, bool rerun_safe,
            run_stats* stats = nullptr);

// The decision log (table txn_decisions on each shard, for the transactions whose home it is).
// Records `wanted` unless a decision exists, and returns the decision that stands ("commit"/"abort").
std::string decide(pg::connection& home_session, std::string_view gid, std::string_view wanted);
// The recorded decision, or "" when none.
std::string decision_of(pg::connection& home_session, std::string_view gid);

struct recovery_report {
  int committed = 0, rolled_back = 0, left = 0;  // left: within the lease, or a shard/home unreachable
};

// One pass over every shard's prepared transactions with this prefix that are older than `lease` (by the
// shard's clock): resolved by the decision on their home shard, abort recorded first when there is none.
recovery_report recover(const std::vector<pg_pool*>& pools, std::string_view gid_prefix,
                        std::chrono::milliseconds lease);

// Garbage collection of the decision log: deletes the decisions older than `retention` (by their home
// shard's clock) whose transaction has no part prepared on any shard; returns how many. A decision must
// outlive its prepared parts: recovery resolves a part by it, and without it would record `abort` and roll
// back a part of a committed transaction (a partial order). Once every part is resolved an `abort` still
// answers a coordinator that comes back late (paused between its PREPAREs and its decision) and would
// otherwise record `commit` for parts already rolled back; the retention, far longer than any such pause
// the timeouts allow, covers that. Nothing is deleted when a shard cannot be read (its parts are unknown).
int64_t collect_decisions(const std::vector<pg_pool*>& pools, std::string_view gid_prefix,
                          std::chrono::milliseconds retention);

// Prepared transactions of this prefix on a shard now (the audit and the checker: 0 after quiesce).
int64_t prepared_count(pg::connection& session, std::string_view gid_prefix);

}  // namespace stampede::shop::two_phase
