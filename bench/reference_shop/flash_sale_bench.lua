-- Benchmark (#17): a flash sale on the reference shop as fast as the shop answers, driven by `stampede run`
-- (bench/reference_shop/flash_sale_bench.sh starts the shop and samples each process's CPU).
-- setup() (not measured) opens a sale of STOCK units of one product, one per user, and logs in USERS seeded
-- customers (--kdf minimal; no argon2 in the purchase path). Then BUYERS VUs, released together, each go
-- through their share of the users (user vu.id, vu.id + BUYERS, ...): every user tries until a definite answer
-- (201 bought, 409 already bought; a 429 is tried again at once, as a buyer mashing the button; no answer or
-- a 5xx after 50 ms) and the VU stops at its first 410 (sold out). USERS > STOCK, so the sale sells out. Every answered attempt is an
-- attempt; step "POST /api/flash-sales/{id}/purchase" holds their count and latencies.
-- verify() checks the audit with checkers.shop: every acknowledged purchase exists exactly once, exactly
-- STOCK sold (sold out, never oversold), nobody over the per-user limit (one each).
-- The sale's duration is the longest buyer's time from release to its 410 (the sum of its requests' times:
-- a buyer does nothing else), the custom trend buyer_elapsed's max: attempts/s = attempts / that.
-- Customer i is user i (checked at login), so only the sessions' tokens go to the VUs.
-- Knobs (-e): BUYERS (256), USERS (4000: needs --scale >= USERS/1000), STOCK (2000), PRODUCT (7),
-- SALE (an id: a sale already opened with STOCK units; default: setup opens one), ADMIN_TOKEN (from the
-- topology), LOGIN_BATCH (32 logins in flight in setup).
-- Run by flash_sale_bench.sh, which sets LUA_PATH=REPO/scenarios/?.lua so that lib.checkers is found.
local checkers = require("lib.checkers")

local buyers = tonumber(env.BUYERS or "256")
local users = tonumber(env.USERS or "4000")
local stock = tonumber(env.STOCK or "2000")
if stock >= users then error("STOCK (" .. stock .. ") must be below USERS (" .. users .. "): the sale must sell out") end
local login_batch = tonumber(env.LOGIN_BATCH or "32")
local buyer_elapsed = metrics.trend("buyer_elapsed", true)

options = {
  setupTimeout = "120s",
  teardownTimeout = "60s",
  batch = login_batch,
  batchPerHost = login_batch,
  scenarios = {
    buy = { executor = "per-vu-iterations", vus = buyers, iterations = 1, maxDuration = "120s", exec = "buy" },
  },
}

local function admin() return { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) } end

function setup()
  local sale = tonumber(env.SALE)
  if not sale then
    local res = http.post("/api/admin/flash-sales", {
      json = { product_id = tonumber(env.PRODUCT or "7"), stock = stock, price = 100, per_user_limit = 1 },
      headers = admin(), name = "setup: open the sale",
    })
    if res.status ~= 201 then error("opening the sale answered " .. res.status .. ": " .. tostring(res.body)) end
    sale = res:json().id
  end
  local tokens, pending = {}, {}
  for i = 1, users do pending[#pending + 1] = i end
  for _ = 1, 20 do  -- rounds: a login shed with 429 goes to the next round
    if #pending == 0 then break end
    local again = {}
    for first = 1, #pending, login_batch do
      local batch, who = {}, {}
      for j = first, math.min(first + login_batch - 1, #pending) do
        local i = pending[j]
        who[#who + 1] = i
        batch[#batch + 1] = { method = "POST", url = "/api/sessions",
                              body = '{"email":"customer' .. i .. '@shop.test","password":"stampede"}',
                              params = { headers = { ["Content-Type"] = "application/json" },
                                         name = "setup: login", expectedStatuses = { 200, 429 } } }
      end
      for k, r in ipairs(http.batch(batch)) do
        if r.status == 200 then
          local body = r:json()
          if body.user_id ~= who[k] then
            error("customer" .. who[k] .. " has user id " .. tostring(body.user_id) .. ", not " .. who[k])
          end
          tokens[who[k]] = body.token
        elseif r.status == 429 then
          again[#again + 1] = who[k]
        else
          error("login of customer" .. who[k] .. " answered " .. r.status)
        end
      end
    end
    pending = again
    if #pending > 0 then sleep(1) end
  end
  if #pending > 0 then error(#pending .. " logins still refused after 20 rounds") end
  -- One string of same-length tokens, not a table of 20,000: every VU gets its own decoded copy of setup()'s
  -- data at its iteration's start, and decoding 256 copies of such a table took ~5 s of the generator's CPU
  -- in the sale's first seconds: 0.45 ms of generator CPU per attempt, 0.05 ms with one string (SQLite: 665-935
  -- attempts/s, p99 5-8 s before; 2,708-3,407, p99 0.25 s after, on a machine at load 12-20).
  local width = #tokens[1]
  for i = 1, users do
    if #tokens[i] ~= width then error("session tokens of different lengths (" .. width .. ", " .. #tokens[i] .. ")") end
  end
  return { sale = sale, width = width, tokens = table.concat(tokens) }
end

local function buy_all(data)
  local path = "/api/flash-sales/" .. data.sale .. "/purchase"
  local elapsed, unknown = 0, 0
  for u = vu.id, users, buyers do
    local user = { id = u, token = data.tokens:sub((u - 1) * data.width + 1, u * data.width) }
    while true do
      local res = http.post(path, {
        headers = { Authorization = "Bearer " .. user.token },
        name = "POST /api/flash-sales/{id}/purchase",
        expectedStatuses = { 201, 409, 410, 429 },
        history = "flash_purchase", historyValue = { user_id = user.id, sale_id = data.sale },
      })
      elapsed = elapsed + res.timings.total
      if res.status == 410 then return elapsed end
      if res.status == 201 or res.status == 409 then break end
      if res.status == 0 or res.status >= 500 then
        -- No answer (a connect timeout or reset on a saturated machine) or the shop's own trouble: the
        -- outcome is unknown, so this user tries again, as a careful client does; if the first attempt
        -- took effect the next answers 409 already bought, and the checker bounds it either way.
        unknown = unknown + 1
        if unknown > 50 then
          check(res, { ["purchase answered"] = function() return false end })
          return elapsed
        end
        sleep(0.05)
        elapsed = elapsed + 50
      elseif res.status ~= 429 then
        check(res, { ["purchase answered"] = function() return false end })
        return elapsed
      end
    end
  end
  return elapsed
end

function buy(data) buyer_elapsed:add(buy_all(data)) end

-- Quiet once the payments have settled (the outbox drained), so verify() reads a settled shop.
function quiesce()
  for _ = 1, 60 do
    local res = http.get("/api/admin/audit", { headers = admin(), name = "quiesce: audit", timeout = "20s" })
    local ob = res.status == 200 and res:json().outbox or nil
    if ob and (ob.pending or 0) == 0 and (ob.in_flight or 0) == 0 then return true end
    sleep(0.5)
  end
  return false
end

function verify(history)
  local out = checkers.shop(history)
  -- Exactly the stock sold: the sale sold out (not only "never oversold").
  local res = http.get("/api/admin/audit", { headers = admin(), name = "verify: audit", timeout = "30s" })
  local sold, sale_stock = -1, -1
  if res.status == 200 then
    for _, s in ipairs(res:json().flash_sales or {}) do
      if (not env.SALE or tostring(s.sale_id) == env.SALE) and s.stock == stock and s.sold == stock
          and s.remaining == 0 then
        sold, sale_stock = s.sold, s.stock
      end
    end
  end
  out[#out + 1] = { name = "exactly the stock sold", ok = sold == stock,
                    evidence = { stock = stock, sold = sold, sale_stock = sale_stock },
                    detail = string.format("%d of %d units sold", sold, stock) }
  return out
end
