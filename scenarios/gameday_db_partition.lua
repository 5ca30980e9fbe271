-- Game day: the database primary is cut off from the network while it keeps running (`stampede shop --db
-- postgres --ha patroni`). The `partition` fault black-holes every link of the member that leads when it
-- fires, both ways: its Patroni -> etcd (`dcs:pgK`), the database HAProxy -> its PostgreSQL (`postgres:pgK`),
-- HAProxy's health checks and the other members -> its REST API (`rest:pgK`), its replicas -> it
-- (`replication:pgK`). The `--@drill member-links` line below makes `stampede drill` put those proxies in
-- place and run a write probe: a small write on every member every 150 ms, straight at the member's own port
-- (a client on the primary's side of the partition).
-- Hypothesis (synchronous replication, the default here): the clients' path is cut at once, so HAProxy's
-- checks fail and it drops the old primary within ~1-1.5 s (orders fail fast); on the old primary itself a
-- commit waits for the synchronous standby, which no longer answers, so it acknowledges nothing after the
-- cut; its Patroni cannot refresh the leader key and demotes it (Patroni: "demoting self because DCS is not
-- accessible") after retry_timeout (4 s) + loop_wait, before the key expires (ttl 10 s); the standby takes
-- the key once it expires and is promoted, ~10-15 s after the cut. No split brain: never two members
-- acknowledging writes at once (Patroni's rule loop_wait + 2 x retry_timeout <= ttl makes the old leader
-- step down before another can be elected); no acknowledged order lost; orders succeed again within RTO_MAX.
-- With `--shop-arg --sync-replication --shop-arg off` the old primary acknowledges writes for the seconds
-- until its demotion (the probe measures them: writes a client on its side was told were committed, lost
-- when it rejoins and is rewound: "every write the probe saw acknowledged is on the primary at the end"
-- fails and names them, exit 98, the expectation set by the mode as in gameday_db_failover.lua); the shop's
-- customers do not see them (their path was cut), so the shop's invariants still hold, and "no split brain"
-- still holds if it stops before the new one starts.
-- Report: "no split brain" (each member's spans of acknowledged writes, their overlaps in seconds), "the
-- cut-off primary stopped acknowledging writes" (its last acknowledged write after the cut, its first
-- refusal, unknown commits, within ACCEPT_MAX), "every write the probe saw acknowledged is on the primary at
-- the end" (looked up by token on the member that leads after the heal), "writes recover after the partition" (the customers' view
-- from the order history: first failed order, seconds with failed orders, RTO; and the probe's first write
-- on the new primary), the shop's invariants, and results.chaos[1].recovery.
-- Target: `primary` resolved when the fault fires; `-e TARGET=pg2` partitions a member by name.
-- Knobs: DURATION (45s), FAULT_AT (8s), FAULT_FOR (22s, how long the partition lasts), BUYERS (4), ORDER_PAUSE
-- (0.5), BROWSERS (4), RTO_MAX (30), ACCEPT_MAX (10: the leader key's ttl; the old primary must stop before
-- another member can take the key). Short form for CI (primary + 1 replica):
--   --shop-arg --replicas --shop-arg 1 -e DURATION=34s -e FAULT_AT=4s -e FAULT_FOR=18s
-- Pass: every invariant holds.
--@shop --db postgres --ha patroni --sync-replication on --lease-ms 2000
--@drill member-links
local checkers = require("lib.checkers")
local gameday = require("lib.gameday")
local shop = require("lib.shop")

local duration = env.DURATION or "45s"
local fault_at = env.FAULT_AT or "8s"
local rto_max = tonumber(env.RTO_MAX or "30")
local accept_max = tonumber(env.ACCEPT_MAX or "10")

options = {
  scenarios = {
    browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "4"), duration = duration,
               exec = "browse" },
    -- Customers who logged in before the fault keep ordering through it: every attempt is a recorded write.
    orders = { executor = "constant-vus", vus = tonumber(env.BUYERS or "4"), duration = duration,
               exec = "order", gracefulStop = "15s" },
  },
  chaos = {
    { at = fault_at, duration = env.FAULT_FOR or "22s", fault = "partition", target = env.TARGET or "primary",
      label = "database primary partitioned" },
  },
  timeout = env.TIMEOUT or "10s",
  thresholds = {
    http_reqs = { "count>10" },
    http_req_failed = { "rate<0.6" },
  },
}

browse = gameday.browse

function order()
  if not me then
    me = shop.login(900 - vu.id % 100)
    if not me then sleep(0.5) return end
  end
  local items = { { product_id = math.random(2, 300), qty = 1 } }
  shop.order(me, items, "dbp-" .. vu.id .. "-" .. vu.iteration, 0)  -- no retry: each attempt is a write
  sleep(tonumber(env.ORDER_PAUSE or "0.5"))
end

local function fmt(v) return v and string.format("%.1f s", v) or "none" end

-- The probe's figures (drill/split_brain.h), read from the drill. JSON null (a sentinel value) becomes nil.
local function probe_figures()
  if not env.PARTITION_PROBE_URL then return nil, "no write probe (run it with stampede drill)" end
  local res = http.get(env.PARTITION_PROBE_URL, { name = "verify: partition probe", timeout = "5s" })
  if res.status ~= 200 then return nil, "the write probe answered " .. tostring(res.status) end
  local probe = res:json()
  for _, t in ipairs({ probe.analysis, probe.durability }) do
    for k, v in pairs(t) do
      if type(v) == "userdata" then t[k] = nil end
    end
  end
  return probe
end

local function no_split_brain(probe, a)
  local evidence = { spans = a.spans, overlaps = a.overlaps, overlap_s = a.overlap_s, attempts = a.attempts,
                     members = probe.members, cut = a.cut }
  if a.cut == nil or a.attempts == 0 then
    return checkers.invariant("no split brain: never two members acknowledging writes at once", false, evidence,
      "the probe saw no partition (was the fault injected?)")
  end
  local ok = a.overlap_s == 0
  local detail = ok and string.format("no overlap: %d spans of acknowledged writes over %d attempts", #a.spans, a.attempts)
    or string.format("%.2f s with two members acknowledging writes (%s)", a.overlap_s, a.overlaps[1].member)
  return checkers.invariant("no split brain: never two members acknowledging writes at once", ok, evidence, detail)
end

local function old_primary_stopped(a)
  local name = "the cut-off primary stopped acknowledging writes"
  if a.cut == nil then return checkers.invariant(name, false, {}, "no partition seen by the probe") end
  local evidence = {
    old_primary = a.old_primary, accepting_at_cut = a.old_primary_accepting_at_cut,
    last_ack_after_cut_s = a.old_primary_last_ack_s, stopped_s = a.old_primary_stopped_s,
    acks_after_cut = a.old_primary_acks_after_cut, unknown_after_cut = a.old_primary_unknown_after_cut,
    refused_after_cut = a.old_primary_refused_after_cut, refused_from_s = a.old_primary_refused_s,
    accept_max_s = accept_max,
    new_primary = a.new_primary, new_primary_first_ack_s = a.new_primary_first_ack_s,
  }
  local window = a.old_primary_last_ack_s or 0
  local ok = a.old_primary_accepting_at_cut and a.old_primary_stopped_s ~= nil and window <= accept_max
  local detail
  if not a.old_primary_accepting_at_cut then
    detail = a.old_primary .. " was not acknowledging writes when it was cut (was it the primary?)"
  elseif a.old_primary_stopped_s == nil then
    detail = a.old_primary .. " never stopped acknowledging writes after the cut"
  else
    detail = string.format("%s acknowledged writes until %s after the cut (bound %g s; after the cut: %d acknowledged, "
      .. "%d unknown, %d refused from %s on); %s acknowledged writes from %s after the cut", a.old_primary,
      a.old_primary_last_ack_s and fmt(a.old_primary_last_ack_s) or "0 s (none after it)", accept_max,
      a.old_primary_acks_after_cut, a.old_primary_unknown_after_cut, a.old_primary_refused_after_cut,
      fmt(a.old_primary_refused_s), tostring(a.new_primary), fmt(a.new_primary_first_ack_s))
  end
  return checkers.invariant(name, ok, evidence, detail)
end

-- The probe's acknowledged writes, looked up at the end on the member that leads then.
local function probe_writes_kept(d)
  local name = "every write the probe saw acknowledged is on the primary at the end"
  if not d.checked_on then return checkers.invariant(name, false, d, tostring(d.error)) end
  local ok = d.lost_count == 0
  local detail = ok and string.format("%d acknowledged writes, all on %s", d.acknowledged, d.checked_on)
    or string.format("%d of %d acknowledged writes missing on %s (%d acknowledged after the cut, from %s to %s "
      .. "after it; e.g. %s)", d.lost_count, d.acknowledged, d.checked_on, d.lost_after_cut, fmt(d.first_lost_s),
      fmt(d.last_lost_s), tostring(d.lost[1]))
  return checkers.invariant(name, ok, d, detail)
end

-- The customers' view, from the order history (gameday.write_recovery), with the probe's first write on
-- the new primary.
local function writes_recover(history, a)
  local ok, evidence, detail = gameday.write_recovery(history, gameday.seconds(fault_at), rto_max, "the cut")
  evidence.probe_new_primary = a and a.new_primary or nil
  evidence.probe_new_primary_first_ack_s = a and a.new_primary_first_ack_s or nil
  return checkers.invariant("writes recover after the partition", ok, evidence, detail)
end

function verify(history)
  local out = checkers.shop(history)
  local probe, err = probe_figures()
  if not probe then
    out[#out + 1] = checkers.invariant("no split brain: never two members acknowledging writes at once", false, {}, err)
    out[#out + 1] = checkers.invariant("the cut-off primary stopped acknowledging writes", false, {}, err)
    out[#out + 1] = checkers.invariant("every write the probe saw acknowledged is on the primary at the end", false, {},
                                       err)
    out[#out + 1] = writes_recover(history, nil)
    return out
  end
  out[#out + 1] = no_split_brain(probe, probe.analysis)
  out[#out + 1] = old_primary_stopped(probe.analysis)
  out[#out + 1] = probe_writes_kept(probe.durability)
  out[#out + 1] = writes_recover(history, probe.analysis)
  return out
end
