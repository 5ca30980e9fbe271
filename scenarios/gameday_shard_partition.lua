-- Game day: one shard cut off (`stampede shop --db postgres --shards 2`): every node's link to shard 1's
-- PostgreSQL (`db:shard1:node1`, `db:shard1:node2`, ... : the drill's fault proxies, `db:shard1:*`) black-holes
-- every byte both ways for FAULT_FOR while customers check out: half the VUs are customers wholly on shard 0
-- buying its SKUs, the others buy anything (about half of theirs span both shards: a SKU on one, the
-- customer's home on the other).
-- Hypothesis (2pc, the default): the shard bulkheads (docs/SHOP.md "Shard bulkheads") contain the loss. The
-- first calls caught on shard 1 give up at their deadline (a catalogue read 0.5 s, --shard-read-timeout-ms; a
-- checkout's statement 5 s + 1 s margin, pg_connection.h) and open each node's circuit for shard 1; from then
-- on everything that needs shard 1 is refused at once (503), so a caught checkout ends within ~6 s
-- (BLOCK_BOUND_S 15 s leaves room for a loaded machine); the parts it prepared on shard 0 are rolled back by
-- the coordinator (it still reaches shard 0), a part whose PREPARE reached shard 1 but whose answer was lost
-- stays in doubt there until recovery (past the lease, --txn-lease-ms 3000) reaches shard 1 again after the
-- heal. Checkouts wholly on shard 0 (the customer's home, session and items) keep succeeding from HEALTHY_SETTLE_S
-- (2 s) into the cut, shard 1's product pages are answered with their stock unknown, /readyz never waits on
-- a database, so HAProxy keeps every node UP (the summary's "system:" line: no health change). After the heal
-- the probes close the circuits within a second. With `--shop-arg --txn --shop-arg saga`: a saga whose part on shard 1 fails is
-- compensated (its shard-0 parts released at once; what it placed on shard 1, or could not release there, by
-- recovery after the heal). After the heal every invariant holds: atomicity, nothing left prepared, no saga
-- open, stock of aborted and compensated orders back.
-- On a loopback the cut almost always finds checkouts in their work phase on shard 1 (nothing prepared yet), so
-- nothing stays in doubt; with `--shop-arg --txn-hold-ms --shop-arg 1000` (coordinators hold their prepared
-- parts 1 s) it finds some prepared: a decision or a COMMIT PREPARED that cannot reach shard 1 leaves them in
-- doubt through the cut, and recovery resolves them after the heal (past the lease): stuck-in-doubt seconds
-- ~ the cut + the lease.
-- Report: results.drill.shards (the drill's summary line "cross-shard orders ..."): orders committed, aborted,
-- compensated, resolved by recovery and still in doubt, and how long transactions stayed in doubt (a sampler
-- on every shard's own port, not through the cut links).
-- Pass: every invariant holds, including "checkouts caught by the cut end within BLOCK_BOUND_S" and
-- "checkouts wholly on the healthy shards keep succeeding during the cut".
-- Knobs: SHARD_LINKS (db:shard1:*), BLOCK_BOUND_S (15), HEALTHY_SETTLE_S (2), ORDER_RATE (5),
-- DURATION/FAULT_AT/FAULT_FOR.
-- Short form for CI: -e DURATION=16s -e FAULT_AT=4s -e FAULT_FOR=6s
--@shop --db postgres --shards 2 --txn-lease-ms 3000 --lease-ms 2000
local gameday = require("lib.gameday")
local shop = require("lib.shop")
local shard_gameday = require("lib.shard_gameday")
local bound_s = tonumber(env.BLOCK_BOUND_S or "15")
local settle_s = tonumber(env.HEALTHY_SETTLE_S or "2")
options = gameday.options({
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "timeout", target = env.SHARD_LINKS or "db:shard1:*",
    stream = "both", timeout = 0, label = "shard1 cut off" },
})
options.timeout = env.TIMEOUT or "40s"  -- the shop's own bound is measured, not the client's
gameday.install(_ENV)
-- gameday's order, with the session's shard in the history (verify() tells the checkouts wholly on shard 0).
-- Even VUs are customers wholly on shard 0 (an even id: home 0; logged in again until the session's token
-- hashes to shard 0) buying shard 0's SKUs: the checkouts the bulkheads must keep; odd VUs buy anything.
function order()
  local healthy = vu.id % 2 == 0
  if not me then
    for _ = 1, healthy and 20 or 1 do
      me, token = shop.login(1000 - vu.id % 200)
      if not me or not healthy or shard_gameday.session_shard(token, 2) == 0 then break end
    end
  end
  if not me then return end
  local product = math.random(2, 300)
  if healthy then product = product - product % 2 end
  local items = { { product_id = product, qty = math.random(1, 2) } }
  shop.order(me, items, "gd-" .. vu.id .. "-" .. vu.iteration, 1,
             { session_shard = shard_gameday.session_shard(token, 2) })
end
quiesce = shard_gameday.quiesce
function verify(history)
  local out = shard_gameday.verify(history, "the cut", bound_s)
  out[#out + 1] = shard_gameday.healthy_checkouts(history, 2, 1, gameday.seconds(gameday.fault_at),
                                                  gameday.seconds(gameday.fault_for), settle_s, "the cut")
  return out
end
