-- Flash sale on the reference shop: a browsing crowd, then a rendezvous spike of buyers released at
-- once on one sale, while the browsing goes on.
--   stampede shop --kdf minimal &            (prints the entry URL, writes DIR/topology.json)
--   stampede run scenarios/flash_sale.lua --target http://127.0.0.1:8080 -e ADMIN_TOKEN=...
-- Hypothesis: the sale sells out without overselling (units sold <= stock, nobody over the per-user
-- limit), every purchase gets a definite answer (201, 409 already bought, 410 sold out, 429 shed),
-- and browsing keeps p(99) under 500 ms during the spike.
-- Knobs (-e): BUYERS (300), BROWSERS (20), DURATION (20s), SALE (1), SPIKE_AT (5s), CUSTOMERS (1000).

local buyers = tonumber(env.BUYERS or "300")
local browsers = tonumber(env.BROWSERS or "20")
local duration = env.DURATION or "20s"
local sale = env.SALE or "1"
local customers = tonumber(env.CUSTOMERS or "1000")

options = {
  scenarios = {
    browse = { executor = "constant-vus", vus = browsers, duration = duration, exec = "browse" },
    spike = { executor = "per-vu-iterations", vus = buyers, iterations = 1, startTime = env.SPIKE_AT or "5s",
              maxDuration = duration, exec = "buy", gracefulStop = "10s" },
  },
  thresholds = {
    ["http_req_duration{name:GET /api/products/{id}}"] = { "p(99)<500" },
    ["http_req_failed{name:POST /api/flash-sales/{id}/purchase}"] = { "rate<0.01" },
    checks = { "rate>0.99" },
  },
}

local function login(customer)
  local res
  for _ = 1, 10 do  -- the shop sheds login bursts with 429 + Retry-After
    res = http.post("/api/sessions", {
      json = { email = "customer" .. customer .. "@shop.test", password = "stampede" },
      name = "POST /api/sessions",
      expectedStatuses = { 200, 429 },
    })
    if res.status ~= 429 then break end
    sleep(tonumber(res.headers["retry-after"] or "1") * (0.5 + math.random()))
  end
  check(res, { ["login 200"] = function(r) return r.status == 200 end })
  return res.status == 200
end

function browse()
  local id = math.random(1, 1000)
  local res = http.get("/api/products/" .. id, { name = "GET /api/products/{id}" })
  check(res, { ["product 200"] = function(r) return r.status == 200 end })
  if math.random() < 0.3 then
    http.get("/api/products?q=book&size=10", { name = "GET /api/products?q" })
  end
  sleep(0.2 + math.random() * 0.3)
end

function buy()
  -- Each buyer is a distinct seeded customer; the cookie jar keeps the session.
  if not login((vu.id - 1) % customers + 1) then return end
  for attempt = 1, 5 do
    local res = http.post("/api/flash-sales/" .. sale .. "/purchase", {
      name = "POST /api/flash-sales/{id}/purchase",
      expectedStatuses = { 201, 409, 410, 429 },
    })
    check(res, { ["purchase answered"] = function(r) return r.status == 201 or r.status == 409
                                              or r.status == 410 or r.status == 429 end })
    if res.status ~= 429 then return end
    sleep(tonumber(res.headers["retry-after"] or "1") * (0.5 + math.random()))
  end
end

-- Reconciles the sale from the shop's audit (needs -e ADMIN_TOKEN=...): no oversell, nobody over the limit.
function teardown()
  if not env.ADMIN_TOKEN then return end
  local res = http.get("/api/admin/audit", { headers = { Authorization = "Bearer " .. env.ADMIN_TOKEN } })
  if res.status ~= 200 then
    print("audit unavailable: HTTP " .. res.status)
    return
  end
  local audit = res:json()
  for _, s in ipairs(audit.flash_sales or {}) do
    if tostring(s.sale_id or s.id) == sale then
      local over_limit = 0
      for _, p in ipairs(s.purchases or {}) do
        if (p.count or p.units or 1) > (s.per_user_limit or 1) then over_limit = over_limit + 1 end
      end
      print(string.format("flash sale %s: stock %d, sold %d, remaining %d, buyers over the limit %d",
                          sale, s.stock, s.sold, s.remaining, over_limit))
      check(s, {
        ["flash sale not oversold"] = function(x) return x.sold <= x.stock and x.remaining >= 0 end,
        ["nobody over the per-user limit"] = function() return over_limit == 0 end,
      })
    end
  end
end
