-- Game day: the database primary dies in the middle of checkout load (`stampede shop --db postgres --ha
-- patroni`): SIGKILL of the Patroni leader's Patroni and postmaster, as if its machine were gone.
-- Hypothesis: writes fail fast from within ~1-3 s of the kill (the database HAProxy has no primary: sessions
-- cut, new connections closed); Patroni's leader key expires (ttl 10 s, loop_wait 1 s) and the synchronous
-- standby is promoted; HAProxy sends sessions to it within ~0.5 s of its /primary answering 200; orders
-- succeed again ~10-15 s after the kill (RTO <= RTO_MAX, 30 s). With synchronous replication (the default
-- here) no acknowledged order is lost: every order a customer saw acknowledged is on the new primary, once.
-- With `--shop-arg --sync-replication --shop-arg off` acknowledged orders of the last moments before the
-- kill may be lost; the checker then names them by idempotency key.
-- Report, from the customers' side: invariant "writes recover after the primary is killed" (first failed
-- order after the kill, seconds with failed or unknown orders, RTO until the first acknowledged order after
-- the last failure) and results.chaos[1].recovery (all requests, per second).
-- A flash sale runs through the failover: FLASH_BUYERS (30) customers log in a second before the kill and
-- arrive spread over FLASH_SPREAD (4 s), each buying one of FLASH_STOCK (20) units and trying again after a failed or unanswered attempt (the per-user
-- limit makes that safe) until the shop answers. Hypothesis: the sale sells out exactly (sold = stock, never
-- more, nobody twice) once the new primary serves.
-- Target: `primary` is resolved when the fault fires (the member whose Patroni REST API answers as
-- leader); `-e TARGET=pg2` kills a member by its topology name instead.
-- Knobs: DURATION (40s), FAULT_AT (8s), FAULT_FOR (10s, the recovery figures' fault window), BUYERS (4 customers ordering in a loop), ORDER_PAUSE (0.5 s
-- between a customer's orders), BROWSERS (6), RTO_MAX (30), FLASH_BUYERS (30), FLASH_STOCK (20; 0: no sale), FLASH_SPREAD (4s). Short form for CI (primary + 1 replica):
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

-- The customers' view of the failover, from the order history: when orders started failing after the
-- kill, for how long, and when the first order after the last failure was acknowledged.
local function write_recovery(history)
  local kill_t = gameday.seconds(fault_at)
  local ops = checkers.operations(history, { "order" })
  table.sort(ops, function(a, b) return a.t < b.t end)
  local first_bad, last_bad, failed, unknown = nil, nil, 0, 0
  for _, o in ipairs(ops) do
    if o.t >= kill_t - 1 and o.outcome ~= "ok" then
      first_bad = first_bad or o.t
      last_bad = o.t
      if o.outcome == "fail" then failed = failed + 1 else unknown = unknown + 1 end
    end
  end
  local back = nil
  for _, o in ipairs(ops) do
    if o.outcome == "ok" and o.t > (last_bad or kill_t) then back = o.t_end break end
  end
  local evidence = {
    kill_at_s = kill_t,
    time_to_detect_s = first_bad and math.max(0, first_bad - kill_t) or nil,
    failed_writes = failed, unknown_writes = unknown,
    seconds_with_failed_writes = first_bad and (last_bad - first_bad) or 0,
    rto_s = back and (back - kill_t) or nil,
    rto_max_s = rto_max,
  }
  local ok = back ~= nil and back - kill_t <= rto_max
  local detail
  if not first_bad then
    detail = "no order failed after the kill (was the fault injected?)"
    ok = false
  elseif not back then
    detail = string.format("orders failing since %.1f s after the kill; none acknowledged afterwards", first_bad - kill_t)
  else
    detail = string.format("first failed order %.1f s after the kill, %d failed + %d unknown over %.1f s, "
      .. "orders acknowledged again %.1f s after the kill (RTO, bound %g s)", first_bad - kill_t, failed, unknown,
      last_bad - first_bad, back - kill_t, rto_max)
  end
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

function verify(history)
  local out = checkers.shop(history)
  if flash_stock > 0 then out[#out + 1] = sold_out_exactly(out) end
  out[#out + 1] = write_recovery(history)
  return out
end
