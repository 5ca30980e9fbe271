-- Shared shape of the game-day scenarios: a browsing crowd and a steady stream of recorded checkouts
-- (open model) against the reference shop, a chaos timeline, and verify() with the shop checker.
-- Each gameday_*.lua picks its faults. Short forms for CI: -e DURATION=10s -e FAULT_AT=3s -e FAULT_FOR=3s.
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
