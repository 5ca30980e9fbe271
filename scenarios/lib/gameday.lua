-- Shared shape of the game-day scenarios: a browsing crowd and a steady stream of recorded checkouts
-- (open model) against the reference shop, a chaos timeline, and verify() with the shop checker.
-- Each gameday_*.lua picks its faults. Short forms for CI: -e DURATION=15s -e FAULT_AT=5s -e FAULT_FOR=3s
-- (long enough for recovery verdicts: 4 s of baseline, 7 s after the heal).
local checkers = require("lib.checkers")
local shop = require("lib.shop")

local gameday = {}

gameday.duration = env.DURATION or "30s"
gameday.fault_at = env.FAULT_AT or "8s"
gameday.fault_for = env.FAULT_FOR or "8s"

-- Seconds of a k6 duration string ("8s", "1m30s", "250ms") or a number.
function gameday.seconds(d)
  if type(d) == "number" then return d end
  local total = 0
  for n, unit in tostring(d):gmatch("([%d%.]+)(%a+)") do
    local k = ({ ms = 0.001, s = 1, m = 60, h = 3600 })[unit]
    if not k then error("bad duration " .. tostring(d)) end
    total = total + tonumber(n) * k
  end
  return total
end

-- options for a game day with `chaos` (a list of faults); `thresholds` override the lenient defaults:
-- the invariants are the verdict, thresholds only guard against a run that did not happen.
function gameday.options(chaos, thresholds)
  return {
    scenarios = {
      browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "8"), duration = gameday.duration,
                 exec = "browse" },
      orders = { executor = "constant-arrival-rate", rate = tonumber(env.ORDER_RATE or "5"),
                 duration = gameday.duration, preAllocatedVUs = 5, maxVUs = 100, exec = "order",
                 gracefulStop = "15s" },
    },
    chaos = chaos,
    timeout = env.TIMEOUT or "15s",
    thresholds = thresholds or {
      http_reqs = { "count>10" },
      http_req_failed = { "rate<0.5" },
    },
  }
end

function gameday.browse()
  shop.browse()
  sleep(0.2 + math.random() * 0.3)
end

function gameday.verify(history)
  return checkers.shop(history)
end

-- The customers' view of a write outage, from the order history: when orders started failing after the
-- fault at `fault_t` (from 1 s before it), how many failed or ended unknown, over how long, and when the
-- first order after the last failure was acknowledged (the RTO). `what` names the fault in the detail
-- ("the kill", "the cut"). Returns ok (recovered within rto_max seconds), the evidence and the detail;
-- the caller adds its own evidence keys (the fault's time is evidence.fault_at_s).
function gameday.write_recovery(history, fault_t, rto_max, what)
  local ops = checkers.operations(history, { "order" })
  table.sort(ops, function(a, b) return a.t < b.t end)
  local first_bad, last_bad, failed, unknown = nil, nil, 0, 0
  for _, o in ipairs(ops) do
    if o.t >= fault_t - 1 and o.outcome ~= "ok" then
      first_bad = first_bad or o.t
      last_bad = o.t
      if o.outcome == "fail" then failed = failed + 1 else unknown = unknown + 1 end
    end
  end
  local back = nil
  for _, o in ipairs(ops) do
    if o.outcome == "ok" and o.t > (last_bad or fault_t) then back = o.t_end break end
  end
  local evidence = {
    fault_at_s = fault_t,
    time_to_detect_s = first_bad and math.max(0, first_bad - fault_t) or nil,
    failed_writes = failed, unknown_writes = unknown,
    seconds_with_failed_writes = first_bad and (last_bad - first_bad) or 0,
    rto_s = (first_bad and back) and (back - fault_t) or nil,  -- no outage, no RTO
    rto_max_s = rto_max,
  }
  local ok = back ~= nil and back - fault_t <= rto_max
  local detail
  if not first_bad then
    detail = "no order failed after " .. what .. " (was the fault injected?)"
    ok = false
  elseif not back then
    detail = string.format("orders failing since %.1f s after %s; none acknowledged afterwards",
                           math.max(0, first_bad - fault_t), what)
  else
    detail = string.format("first failed order %.1f s after %s, %d failed + %d unknown over %.1f s, orders "
      .. "acknowledged again %.1f s after %s (RTO, bound %g s)", math.max(0, first_bad - fault_t), what, failed,
      unknown, last_bad - first_bad, back - fault_t, what, rto_max)
  end
  return ok, evidence, detail
end

-- Installs browse/order/verify as the scenario's functions. `E` is the scenario's _ENV: per-VU state
-- (`vu`, the logged-in user) must be read and written through it, because a module's own globals are
-- shared by every VU of a worker.
function gameday.install(E)
  E.browse = gameday.browse
  E.order = function()
    if not E.me then E.me = shop.login(1000 - E.vu.id % 200) end
    if not E.me then return end
    local items = { { product_id = math.random(2, 300), qty = math.random(1, 2) } }
    shop.order(E.me, items, "gd-" .. E.vu.id .. "-" .. E.vu.iteration, 1)
  end
  E.verify = gameday.verify
end

return gameday
