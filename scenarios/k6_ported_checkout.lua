-- A k6 checkout journey ported to Stampede (docs/SCENARIOS.md, "Coming from k6"): custom metrics declared
-- at init, run/scenario/request tags, thresholds on sub-metrics by tag, setup() data, CSV data, groups,
-- checks, http.batch and handleSummary, on a ramping-arrival-rate browse and a constant-vus checkout.
--   stampede shop --kdf minimal &            (prints the entry URL)
--   stampede run scenarios/k6_ported_checkout.lua --target http://127.0.0.1:8080 --out out/ported.json
-- Hypothesis: on an idle shop every threshold holds (exit 0). `-e STRICT=1` sets every threshold to a
-- bound no shop meets, so every one of them fails and the run exits 99: one run shows each kind can fail.
-- Knobs (-e): DURATION (10s), RATE (browse iterations/s at the top, 20), BUYERS (3), CUSTOMERS (1000),
-- STRICT (unset).
local duration = env.DURATION or "10s"
local rate = tonumber(env.RATE or "20")
local buyers = tonumber(env.BUYERS or "3")
local customers = tonumber(env.CUSTOMERS or "1000")
local strict = env.STRICT == "1"

-- k6: new Trend('login_duration', true), new Counter(...), new Rate(...), new Gauge(...) in init.
local login_duration = metrics.trend("login_duration", true)
local orders_placed = metrics.counter("orders_placed")
local order_ok = metrics.rate("order_ok")
local cart_lines = metrics.gauge("cart_lines")

-- k6: papaparse over open('data/products.csv') in init (shared read-only by the worker's VUs).
local products = csv.parse(open("data/products.csv"))

-- A threshold's expression: the normal bound, or with STRICT one that nothing meets.
local function bound(normal, impossible) return { strict and impossible or normal } end

options = {
  tags = { suite = "ported" },
  scenarios = {
    browse = { executor = "ramping-arrival-rate", startRate = 5, timeUnit = "1s", preAllocatedVUs = 10,
               maxVUs = 30, stages = { { target = rate, duration = "3s" }, { target = rate, duration = duration } },
               exec = "browse", tags = { flow = "browse" } },
    checkout = { executor = "constant-vus", vus = buyers, duration = duration, exec = "buy",
                 tags = { flow = "buy" }, gracefulStop = "5s" },
  },
  thresholds = {
    http_req_duration = bound("p(95)<2000", "p(95)<0"),
    ["http_req_duration{status:200}"] = bound("p(99)<3000", "max<0"),
    -- http.url names the step by its template: "GET /api/products/{}".
    ["http_req_duration{name:GET /api/products/{}}"] = bound("avg<1000", "avg<0"),
    ["http_req_failed{flow:buy}"] = bound("rate<0.05", "rate<0"),
    ["http_reqs{scenario:browse}"] = bound("count>10", "count>100000000"),
    ["group_duration{group:::checkout}"] = bound("p(95)<3000", "p(95)<0"),
    checks = bound("rate>0.95", "rate>1"),
    ["checks{scenario:browse}"] = bound("rate>0.95", "rate>1"),
    ["iteration_duration{scenario:checkout}"] = bound("p(95)<10000", "p(95)<0"),
    login_duration = bound("p(95)<2000", "p(95)<0"),
    ["login_duration{flow:buy}"] = bound("max<5000", "max<0"),
    orders_placed = bound("count>0", "count>100000000"),
    order_ok = bound("rate>0.9", "rate>1"),
    cart_lines = bound("value<=3", "value<0"),
  },
}

-- k6: export function setup() { ... return data }: the catalogue's categories, for every VU.
function setup()
  local res = http.get("/api/categories", { name = "setup: categories" })
  if res.status ~= 200 then error("GET /api/categories answered " .. res.status) end
  return { categories = #res:json().categories }
end

function browse(data)
  if data.categories < 1 then error("setup() data did not reach the VU") end
  local p = products[math.random(#products)]
  -- Two pages side by side, as k6's http.batch: responses in order.
  local pages = http.batch({
    { "GET", http.url("/api/products/%d", tonumber(p.id)) },
    { "GET", "/api/bestsellers", nil, { name = "GET /api/bestsellers" } },
  })
  check(pages[1], { ["product 200"] = function(r) return r.status == 200 end })
  check(pages[2], { ["bestsellers 200"] = function(r) return r.status == 200 end })
end

-- `signed_in` is a global assigned in VU code: each VU has its own (a top-level local would be shared).
function buy()
  if not signed_in then
    local res = http.post("/api/sessions", {
      json = { email = "customer" .. ((vu.id - 1) % customers + 1) .. "@shop.test", password = "stampede" },
      name = "POST /api/sessions", expectedStatuses = { 200, 429 },
    })
    login_duration:add(res.timings.duration)
    if res.status ~= 200 then
      sleep(tonumber(res.headers["retry-after"] or "1"))
      return
    end
    signed_in = true
  end
  group("checkout", function()
    local lines = math.random(1, 3)
    local items = {}
    for i = 1, lines do items[i] = { product_id = tonumber(products[math.random(#products)].id), qty = 1 } end
    cart_lines:add(lines)
    local res = http.post("/api/orders", {
      json = { items = items },
      headers = { ["Idempotency-Key"] = vu.id .. "-" .. vu.iteration },
      name = "POST /api/orders", tags = { step = "order" }, expectedStatuses = { 201, 409 },
    })
    local ok = check(res, { ["order 201"] = function(r) return r.status == 201 end })
    order_ok:add(ok)
    if ok then orders_placed:add(1) end
  end)
  sleep(0.2)
end

-- k6: export function handleSummary(data) { return { 'ported-summary.json': JSON.stringify(...) } }.
function handleSummary(data)
  local d = data.metrics.http_req_duration.values
  return {
    stdout = string.format("ported checkout: %d orders, p(95) %.1f ms\n",
                           data.metrics.orders_placed.values.count, d["p(95)"]),
    ["ported-summary.txt"] = string.format("orders %d\n", data.metrics.orders_placed.values.count),
  }
end
