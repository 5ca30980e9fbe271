-- Game day: one shard's PostgreSQL frozen (`stampede shop --db postgres --shards 2`): shard 0's postmaster and
-- every backend it forked SIGSTOPped (the topology's `shard0`) for FAULT_FOR (4 s) while cross-shard checkouts
-- prepare (ORDER_RATE 10 a second, about half of them span both shards), then SIGCONT. Shard 0 because a
-- checkout visits the shards in ascending order (work, PREPARE, decision, COMMIT PREPARED): a transaction that
-- has voted on shard 1 waits on shard 0 for its decision (home 0) or its first COMMIT PREPARED, so its part
-- on shard 1 stays prepared, visibly in doubt, for the length of the pause. Timed on the protocol, not on
-- luck: every coordinator holds its transaction 1 s after its PREPAREs (`--txn-hold-ms 1000`, a test seam: on
-- a loopback the prepared window is a few ms, and a pause would almost always find checkouts in their work
-- phase), so with ~5 cross-shard checkouts a second several are prepared when the pause lands.
-- Hypothesis (2pc, the default): statements sent to the frozen shard wait (its kernel still accepts the
-- bytes). A checkout caught in its work phase holds its rows on the other shard in an open transaction; one
-- caught after its PREPAREs stays in doubt for the pause. A pause shorter than the sessions' answer deadline
-- (statement_timeout 5 s + 1 s margin, pg_connection.h) is ridden out: those checkouts end late but whole
-- (committed, or rolled back everywhere); a longer one ends them as the partition does (503 within ~10 s,
-- parts rolled back, a part left prepared without a decision rolled back by recovery past the lease). How many
-- are caught after their PREPAREs depends on where each is when the pause lands: the report counts them
-- (results.drill.shards: in doubt >= 1 s, the longest ~ the pause). After SIGCONT every invariant holds:
-- atomicity, nothing left prepared, no saga open, no leaked stock. With `--shop-arg --txn --shop-arg saga`
-- a saga's step on the frozen shard waits the same way; nothing is prepared, sagas that give up are compensated.
-- Finding (both game days): the nodes' readiness check reads every shard, so HAProxy takes every node out
-- while one shard is frozen or cut (`system:` in the drill's summary): checkouts that need only the other
-- shard fail too. That is the shop's choice today (a node that cannot reach all its data is not ready), not a
-- law of sharding.
-- Report: results.drill.shards: orders in each outcome and the in-doubt seconds.
-- Pass: every invariant holds, including "checkouts caught by the pause end within BLOCK_BOUND_S" (15 s).
-- Knobs: SHARD (shard0), BLOCK_BOUND_S (15), ORDER_RATE (10), DURATION/FAULT_AT/FAULT_FOR (4s).
-- Short form for CI: -e DURATION=16s -e FAULT_AT=5s -e FAULT_FOR=4s
--@shop --db postgres --shards 2 --txn-hold-ms 1000 --txn-lease-ms 3000 --lease-ms 2000
local gameday = require("lib.gameday")
local shard_gameday = require("lib.shard_gameday")
local bound_s = tonumber(env.BLOCK_BOUND_S or "15")
gameday.fault_for = env.FAULT_FOR or "4s"
local target = env.SHARD or "shard0"
options = gameday.options({
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "pause", target = target,
    label = target .. " paused" },
})
options.scenarios.orders.rate = tonumber(env.ORDER_RATE or "10")
options.timeout = env.TIMEOUT or "40s"  -- the shop's own bound is measured, not the client's
gameday.install(_ENV)
quiesce = shard_gameday.quiesce
function verify(history)
  return shard_gameday.verify(history, "the pause", bound_s)
end
