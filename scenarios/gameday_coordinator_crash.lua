-- Game day: the coordinator of cross-shard checkouts dies between PREPARE and COMMIT (`stampede shop --db
-- postgres --shards 2`, two-phase commit). node1 runs with `--txn-fault after-prepare`: it SIGKILLs itself
-- right after the PREPAREs of a cross-shard checkout it coordinates (timed on the protocol, not on luck),
-- before any decision is recorded; the shop restarts it after 1 s (`--respawn-ms`), and it dies again at the
-- next one, so the crash repeats through the run. About half the checkouts are cross-shard (one SKU on its
-- shard, the header on the customer's home shard).
-- Hypothesis: the parts each crash leaves prepared hold their stock and row locks until another node's
-- recovery worker resolves them, within the lease + one recovery interval (--txn-lease-ms 3000: ~4 s); with
-- no decision recorded they are rolled back on every shard (presumed abort), so that order exists nowhere
-- and its stock is back; every acknowledged order is whole on every shard it touches; nothing is left
-- prepared once the drill quiesces; no acknowledged order is lost (the clients of the killed node see
-- unknown outcomes, which the checkers bound).
-- Report: quiesce() waits until no prepared transaction is left (the last crash's parts resolved by
-- recovery): "quiesce() quiet after N s" in the drill's summary is how long that one stayed in doubt after
-- the load (results.quiesce; bounded by the lease + interval). The atomicity invariant names any order
-- missing a part, any part without its order and any prepared transaction still in doubt.
-- Pass: every invariant holds (checkers.shop adds checkers.atomicity on a sharded shop's audit).
-- With `--shop-arg --txn --shop-arg saga` the same crash (after the first part is placed) leaves a saga
-- in flight (its outbox message leased to the dead node): another node's recovery finishes it after the
-- lease (the parts still missing placed, the message handed to the payments), and the same invariants hold.
-- Short form for CI: -e DURATION=15s
--@shop --db postgres --shards 2 --txn-fault after-prepare --txn-lease-ms 3000 --respawn-ms 1000 --lease-ms 2000
local gameday = require("lib.gameday")
options = gameday.options({})
gameday.install(_ENV)

-- Quiet once nothing is in doubt on any shard (the audit's prepared_transactions, pg_prepared_xacts) and no
-- saga is still running or compensating (--txn saga).
function quiesce()
  for _ = 1, 60 do
    local res = http.get("/api/admin/audit", { headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) },
                                               name = "quiesce: audit", timeout = "10s" })
    local a = res.status == 200 and res:json() or {}
    if res.status == 200 and (a.prepared_transactions or 0) == 0 and (a.sagas_open or 0) == 0 then
      return { in_doubt = 0 }
    end
    sleep(0.5)
  end
  return false
end
