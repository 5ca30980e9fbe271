-- Game day: the database primary dies in the middle of checkout load (`stampede shop --db postgres --ha
-- patroni`): SIGKILL of the Patroni leader's Patroni and postmaster, as if its machine were gone.
-- Hypothesis: writes fail fast from within ~1-3 s of the kill (the database HAProxy has no primary: sessions
-- cut, new connections closed); Patroni's leader key expires (ttl 10 s, loop_wait 1 s) and the synchronous
-- standby is promoted; HAProxy sends sessions to it within ~0.5 s of its /primary answering 200; orders
-- succeed again ~10-15 s after the kill (RTO <= RTO_MAX, 30 s). With synchronous replication (the default
-- here) no acknowledged order is lost: every order a customer saw acknowledged is on the new primary, once.
-- With `--shop-arg --sync-replication --shop-arg off` acknowledged orders of the last moments before the
-- kill may be lost; the checker then names them by order id and idempotency key.
-- RPO: invariant "acknowledged orders lost in the failover (RPO)" gives it in orders (each named, when it
-- was acknowledged, looked up again on the new primary) and, filled in by `stampede drill`, in bytes of WAL
-- that the killed primary wrote past the new primary's switch point (results.drill.failover). In sync mode
-- it holds with 0 orders lost (WAL bytes may still be > 0: commits that were waiting for the standby, never
-- acknowledged, and background records); in async mode it is a report.
-- Broken mode (deterministic loss): `--shop-arg --sync-replication --shop-arg off -e HOLD_BACK=3s` drops the
-- WAL stream of pg1 (the first primary) to its replicas from HOLD_BACK before the kill (a timeout toxic on
-- the link `replication:pg1`): orders acknowledged in those seconds are certainly lost. The drill exits 98
-- ("acknowledged orders exist exactly once" fails, naming them); the RPO invariant then holds when the
-- loss was caught (some lost, every one looked up absent on the new primary) and fails when nothing was
-- lost (the hold-back did not take).
-- Report, from the customers' side: invariant "writes recover after the primary is killed" (first failed
-- order after the kill, seconds with failed or unknown orders, RTO until the first acknowledged order after
-- the last failure) and results.chaos[1].recovery (all requests, per second).
-- A flash sale runs through the failover: FLASH_BUYERS (30) customers log in a second before the kill and
-- arrive spread over FLASH_SPREAD (4 s), each buying one of FLASH_STOCK (20) units and trying again after a failed or unanswered attempt (the per-user
-- limit makes that safe) until the shop answers. Hypothesis: the sale sells out exactly (sold = stock, never
-- more, nobody twice) once the new primary serves.
-- Target: `primary` is resolved when the fault fires (the member whose Patroni REST API answers as
-- leader); `-e TARGET=pg2` kills a member by its topology name instead. On a sharded shop (`--shop-arg
-- --shards --shop-arg 2`: each shard a Patroni cluster) name the shard: `-e TARGET=shard1-primary`.
-- Knobs: DURATION (40s), FAULT_AT (8s), FAULT_FOR (10s, the recovery figures' fault window), BUYERS (4 customers ordering in a loop), ORDER_PAUSE (0.5 s
-- between a customer's orders), BROWSERS (6), RTO_MAX (30), FLASH_BUYERS (30), FLASH_STOCK (20; 0: no sale), FLASH_SPREAD (4s),
-- HOLD_BACK (unset; the broken mode), HOLD_TARGET (replication:pg1). Short form for CI (primary + 1 replica):
--   --shop-arg --replicas --shop-arg 1 -e DURATION=30s -e FAULT_AT=4s
-- Pass: every invariant holds.
--@shop --db postgres --ha patroni --sync-replication on --lease-ms 2000
local checkers = require("lib.checkers")
local gameday = require("lib.gameday")
local shop = require("lib.shop")

local duration = env.DURATION or "40s"
local fault_at = env.FAULT_AT or "8s"
local rto_max = tonumber(env.RTO_MAX or "30")
local flash_buyers = tonumber(env.FLASH_BUYERS or "30")
local flash_stock = tonumber(env.FLASH_STOCK or "20")
-- The broken mode: the replica held back for HOLD_BACK before the kill (nil: not held back).
local hold_back = env.HOLD_BACK and gameday.seconds(env.HOLD_BACK) or nil
-- "on"/"off" from `stampede drill` (the shop's topology): what this run may lose.
local sync_replication = env.DB_SYNC_REPLICATION

local scenarios = {
  browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "6"), duration = duration,
             exec = "browse" },
  -- Customers who logged in before the fault keep ordering through it: every attempt during the
  -- outage is a recorded write (a customer who cannot log in would place none).
  orders = { executor = "constant-vus", vus = tonumber(env.BUYERS or "4"), duration = duration,
             exec = "order", gracefulStop = "15s" },
}
if flash_stock > 0 then
  scenarios.flash = { executor = "per-vu-iterations", vus = flash_buyers, iterations = 1,
                      startTime = string.format("%gs", math.max(0, gameday.seconds(fault_at) - 1)),
                      maxDuration = duration, exec = "buy", gracefulStop = "15s" }
end

options = {
  scenarios = scenarios,
  chaos = {
    -- A kill is not healed; `duration` is the window the per-second recovery figures treat as the fault.
    { at = fault_at, duration = env.FAULT_FOR or "10s", fault = "kill", target = env.TARGET or "primary",
      label = "database primary killed" },
  },
  timeout = env.TIMEOUT or "10s",
  thresholds = {
    http_reqs = { "count>10" },
    -- ~12 s of failures by design; more than 60% means the shop did not come back.
    http_req_failed = { "rate<0.6" },
  },
}

-- The broken mode: the WAL that pg1 (the primary at the start) streams to its replicas is dropped from
-- HOLD_BACK before the kill until after it (a timeout toxic with no timeout, on the downstream of the
-- replication link `replication:pg1`): with asynchronous replication the primary keeps acknowledging
-- orders the replica never receives, so the failover certainly loses them.
if hold_back then
  local kill_s = gameday.seconds(fault_at)
  if hold_back > kill_s then error("HOLD_BACK (" .. env.HOLD_BACK .. ") must not exceed FAULT_AT (" .. fault_at .. ")") end
  options.chaos[#options.chaos + 1] = {
    at = string.format("%gs", kill_s - hold_back),
    duration = string.format("%gs", hold_back + gameday.seconds(env.FAULT_FOR or "10s")),
    fault = "timeout", timeout = 0, stream = "downstream", target = env.HOLD_TARGET or "replication:pg1",
    label = "replica held back (its WAL stream dropped)",
  }
end

browse = gameday.browse

-- The sale: product 1, `flash_stock` units, one per customer, already started.
function setup()
  if flash_stock <= 0 then return {} end
  local res = http.post("/api/admin/flash-sales", {
    json = { product_id = 1, stock = flash_stock, price = 999, per_user_limit = 1, starts_at = 0 },
    headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) },
    name = "setup: create flash sale",
  })
  if res.status ~= 201 then error("creating the flash sale answered " .. res.status .. " " .. tostring(res.body)) end
  return { sale = res:json().id }
end

-- One flash buyer (customers 1..FLASH_BUYERS): tries until the shop gives a definite answer (201, 409 already
-- bought, 410 sold out), through the outage, half a second apart; an attempt without one may have bought,
-- and the per-user limit refuses the second unit.
function buy(data)
  local user
  for _ = 1, 20 do
    user = shop.login(vu.id, 1)
    if user then break end
    sleep(0.5)
  end
  if not user then return end
  -- Arrivals spread over FLASH_SPREAD from a second before the kill, so most buy during the outage.
  sleep((vu.id % flash_buyers) * gameday.seconds(env.FLASH_SPREAD or "4s") / flash_buyers)
  for _ = 1, 60 do
    local res = shop.flash_purchase(user, tostring(data.sale))
    if res.status ~= 0 and res.status < 500 then return end
    sleep(0.5)
  end
end

function order()
  if not me then
    me = shop.login(900 - vu.id % 100)
    if not me then sleep(0.5) return end
  end
  local items = { { product_id = math.random(2, 300), qty = 1 } }
  shop.order(me, items, "dbf-" .. vu.id .. "-" .. vu.iteration, 0)  -- no retry: each attempt is a write
  sleep(tonumber(env.ORDER_PAUSE or "0.5"))
end

-- The customers' view of the failover, from the order history (gameday.write_recovery).
local function write_recovery(history)
  local ok, evidence, detail = gameday.write_recovery(history, gameday.seconds(fault_at), rto_max, "the kill")
  return checkers.invariant("writes recover after the primary is killed", ok, evidence, detail)
end

-- Whether the sale sold out exactly: the shop's own audit, as the flash checker read it (its per-sale
-- evidence), against the stock set up. More buyers than units, each trying until answered, so anything
-- but sold = stock means units lost (or sold twice, which the flash checker names).
local function sold_out_exactly(out)
  local per_sale
  for _, inv in ipairs(out) do
    if inv.name:find("^flash sale never oversold") then per_sale = inv.evidence.per_sale end
  end
  local sale  -- the seed has a sale of its own: this drill's is the newest
  for _, s in ipairs(per_sale or {}) do
    if not sale or s.sale_id > sale.sale_id then sale = s end
  end
  if not sale then
    return checkers.invariant("the flash sale sells out exactly through the failover", false, {},
                              "no flash sale in the shop's audit")
  end
  local ok = sale.sold == flash_stock and sale.remaining == 0
  return checkers.invariant("the flash sale sells out exactly through the failover", ok,
    { stock = flash_stock, sold = sale.sold, remaining = sale.remaining, buyers = flash_buyers,
      customers_who_bought = sale.buyers },
    string.format("sold %d of %d units to %d customers (%d tried)", sale.sold, flash_stock, sale.buyers, flash_buyers))
end

-- Looks an acknowledged order up on the new primary as its customer (GET /api/orders/{id}, a read path
-- other than the audit the set checker used): "absent" (404, or the id now holds another order: a
-- sequence value given again), "present" (the acknowledged order itself) or "error".
local function look_up(order_id, acked_value)
  local res = http.get("/api/orders/" .. tostring(order_id), { name = "verify: GET /api/orders/{id}",
                                                              expectedStatuses = { 200, 404 } })
  if res.status == 404 then return "absent" end
  if res.status ~= 200 then return "error" end
  local ok, body = pcall(res.json, res)
  if not ok then return "error" end
  if acked_value and acked_value.created_at ~= nil and body.created_at ~= acked_value.created_at then return "absent" end
  return "present"
end

-- The customer who placed an operation (the conventions of order() and buy() above).
local function customer_of(op)
  if op.op == "flash_purchase" then return op.process end
  local vu_id = tonumber(tostring((op.invoke or {}).key or ""):match("^dbf%-(%d+)%-"))
  return vu_id and 900 - vu_id % 100 or nil
end

-- RPO in orders: the acknowledged orders the failover lost, named by order id and idempotency key, with
-- when each was acknowledged, and each looked up again on the new primary (at most 50; with a control:
-- one of the same customer's orders that was not lost must be found). RPO in bytes of WAL: the drill
-- fills `rpo_wal_bytes` in after the run (results.drill.failover). The expectation is set by the mode:
-- synchronous, none lost; asynchronous, a report; held back (HOLD_BACK), some lost, all absent.
local function lost_in_failover(history, out)
  local kill_t = gameday.seconds(fault_at)
  local set_evidence = {}
  for _, inv in ipairs(out) do
    if inv.name == "acknowledged orders exist exactly once" then set_evidence = inv.evidence or {} end
  end
  local acked_by_key, acked_by_customer = {}, {}
  for _, o in ipairs(checkers.operations(history, { "order", "flash_purchase" })) do
    if o.outcome == "ok" and o.value and o.value.order_id then
      local v = o.invoke or {}
      local key = o.op == "flash_purchase" and ("flash/" .. tostring(v.sale_id) .. "/" .. tostring(v.user_id))
                  or ("order/" .. tostring(v.user_id) .. "/" .. tostring(v.key))
      acked_by_key[key] = o
      local c = customer_of(o)
      if c then acked_by_customer[c] = acked_by_customer[c] or {} table.insert(acked_by_customer[c], o) end
    end
  end
  local lost_keys, named, lookups, controls = {}, {}, { absent = 0, present = 0, error = 0, skipped = 0 }, {}
  for _, l in ipairs(set_evidence.lost_orders or {}) do if l.key then lost_keys[l.key] = true end end
  for i, l in ipairs(set_evidence.lost_orders or {}) do
    local o = l.key and acked_by_key[l.key]
    local entry = { order_id = l.id, key = l.key, op = o and o.op, user_id = o and (o.invoke or {}).user_id,
                    idempotency_key = o and (o.invoke or {}).key,
                    acknowledged_at_s = o and o.t_end, before_kill_s = o and o.t_end and kill_t - o.t_end }
    local customer = o and customer_of(o)
    if i <= 50 and customer and shop.login(customer, 3) then
      entry.on_new_primary = look_up(l.id, o.value)
      lookups[entry.on_new_primary] = lookups[entry.on_new_primary] + 1
      if not controls[customer] then  -- the same lookup finds an order of theirs that was not lost
        for _, other in ipairs(acked_by_customer[customer] or {}) do
          local v = other.invoke or {}
          local k = other.op == "flash_purchase" and ("flash/" .. tostring(v.sale_id) .. "/" .. tostring(v.user_id))
                    or ("order/" .. tostring(v.user_id) .. "/" .. tostring(v.key))
          if not lost_keys[k] then
            controls[customer] = { order_id = other.value.order_id, found = look_up(other.value.order_id, other.value) }
            break
          end
        end
      end
    else
      lookups.skipped = lookups.skipped + 1
    end
    named[#named + 1] = entry
  end
  local control_list, controls_found = {}, true
  for c, r in pairs(controls) do
    control_list[#control_list + 1] = { customer = c, order_id = r.order_id, found = r.found }
    controls_found = controls_found and r.found == "present"
  end
  local lost = set_evidence.lost_count or 0
  local mode = hold_back and "asynchronous replication, replica held back" or
               sync_replication == "off" and "asynchronous replication" or "synchronous replication"
  local ok
  if hold_back then
    ok = lost > 0 and lookups.absent == #named - lookups.skipped and controls_found
  elseif sync_replication == "off" then
    ok = true  -- a report: asynchronous replication may lose the last acknowledged orders
  else
    ok = lost == 0
  end
  local evidence = {
    mode = mode, lost_count = lost, lost_orders = (json and json.array) and json.array(named) or named,
    lookups = lookups, controls = (json and json.array) and json.array(control_list) or control_list, kill_at_s = kill_t,
    hold_back_from_s = hold_back and kill_t - hold_back or nil,
    acknowledged = set_evidence.acknowledged,
    rpo_wal_bytes = "pending",  -- filled in by `stampede drill` (results.drill.failover)
  }
  local detail
  if lost > 0 then
    local parts = {}
    for i = 1, math.min(#named, 10) do
      local n = named[i]
      parts[i] = string.format("%s %s", tostring(n.order_id), tostring(n.idempotency_key or n.key))
        .. (n.before_kill_s and string.format(" (acknowledged %.1f s before the kill)", n.before_kill_s) or "")
    end
    detail = string.format("RPO: %d acknowledged orders lost (%s; order id and key): %s%s", lost, mode,
                           table.concat(parts, ", "), lost > 10 and string.format(" (+%d more)", lost - 10) or "")
    if hold_back then
      detail = detail .. string.format("; on the new primary: %d absent, %d present, %d not looked up",
                                       lookups.absent, lookups.present + lookups.error, lookups.skipped)
    end
  elseif hold_back then
    detail = "RPO: no acknowledged order lost although the replica was held back " .. env.HOLD_BACK ..
             " before the kill (" .. mode .. "): the broken mode did not do what it is for"
  elseif sync_replication == "off" then
    detail = "RPO: 0 acknowledged orders lost (" .. mode .. ": none happened to be in flight to the replica)"
  else
    detail = "RPO: 0 acknowledged orders lost (" .. mode .. "); WAL the old primary wrote past the switch point "
             .. "is commits that were still waiting for the standby (never acknowledged) and background records"
  end
  return checkers.invariant("acknowledged orders lost in the failover (RPO)", ok, evidence, detail)
end

function verify(history)
  local out = checkers.shop(history)
  if flash_stock > 0 then out[#out + 1] = sold_out_exactly(out) end
  out[#out + 1] = write_recovery(history)
  out[#out + 1] = lost_in_failover(history, out)
  return out
end
