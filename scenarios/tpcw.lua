-- TPC-W browsing, shopping and ordering mixes on the reference shop: the 14 web interactions mapped to
-- the shop's endpoints, each VU an emulated browser dealing interactions from a shuffled deck with the
-- mix's exact shares (DECK=0: independent draws), with negative-exponential think time (mean 7 s,
-- truncated at 70 s; THINK_SCALE shortens it for quick runs, e.g. 0.01).
--   stampede drill scenarios/tpcw.lua -e MIX=shopping -e VUS=50 -e DURATION=5m
--   stampede run scenarios/tpcw.lua --target http://127.0.0.1:8080 -e MIX=browsing -e THINK_SCALE=0.01
-- Mapping (interaction -> request name): home -> GET /api/categories; new_products -> GET /api/products?category;
-- best_sellers -> GET /api/bestsellers; product_detail -> GET /api/products/{id}; search_request ->
-- GET /api/categories (the search form); search_results -> GET /api/products?q; shopping_cart ->
-- POST /api/cart/items + GET /api/cart; customer_registration -> POST /api/users; buy_request ->
-- GET /api/cart (review); buy_confirm -> POST /api/orders (recorded as "order"); order_inquiry ->
-- GET /api/orders; order_display -> GET /api/orders/{id}; admin_request / admin_confirm ->
-- GET /api/products/{id} (the shop has no product-update endpoint: an approximation, ~0.2 % of traffic).
-- Hypothesis: per-interaction p(90) within TPC-W's limits (3 s for most, 5 s best sellers / search
-- results / buy confirm), no errors, and the shop's invariants hold.
local tpcw = require("lib.tpcw")
local checkers = require("lib.checkers")

local mix = env.MIX or "shopping"
assert(tpcw.mixes[mix], "MIX must be browsing, shopping or ordering")
local think_scale = tonumber(env.THINK_SCALE or "1")
local words = { "book", "history", "art", "the", "guide", "life", "world", "story" }

options = {
  scenarios = {
    browsers = { executor = "constant-vus", vus = tonumber(env.VUS or "20"), duration = env.DURATION or "60s",
                 exec = "browser", gracefulStop = "10s" },
  },
  thresholds = {
    ["http_req_duration{name:GET /api/categories}"] = { "p(90)<3000" },
    ["http_req_duration{name:GET /api/products/{id}}"] = { "p(90)<3000" },
    ["http_req_duration{name:GET /api/bestsellers}"] = { "p(90)<5000" },
    ["http_req_duration{name:GET /api/products?q}"] = { "p(90)<5000" },
    http_req_failed = { "rate<0.01" },
  },
}

local function product() return math.random(1, 1000) end

local actions = {}
function actions.home() http.get("/api/categories", { name = "GET /api/categories" }) end
function actions.new_products()
  http.get("/api/products?size=50&category=" .. math.random(1, 24), { name = "GET /api/products?category" })
end
function actions.best_sellers() http.get("/api/bestsellers", { name = "GET /api/bestsellers" }) end
function actions.product_detail() http.get("/api/products/" .. product(), { name = "GET /api/products/{id}" }) end
function actions.search_request() http.get("/api/categories", { name = "GET /api/categories" }) end
function actions.search_results()
  http.get("/api/products?size=50&q=" .. words[math.random(#words)], { name = "GET /api/products?q" })
end
local function ensure_session()
  if session_user then return true end
  local res = http.post("/api/sessions", { json = { email = "customer" .. (vu.id % 1000 + 1) .. "@shop.test",
                                                    password = "stampede" }, name = "POST /api/sessions" })
  if res.status == 200 then session_user = res:json().user_id end
  return session_user ~= nil
end
function actions.shopping_cart()
  if not ensure_session() then return end
  http.post("/api/cart/items", { json = { product_id = product(), qty = 1 }, name = "POST /api/cart/items" })
  http.get("/api/cart", { name = "GET /api/cart" })
end
function actions.customer_registration()
  http.post("/api/users", { json = { email = string.format("tpcw-%d-%d-%d@shop.test", stampede.seed, vu.id, vu.iteration),
                                     password = "stampede", name = "TPC-W " .. vu.id },
                            name = "POST /api/users", expectedStatuses = { 201, 409 } })
end
function actions.buy_request()
  if not ensure_session() then return end
  http.get("/api/cart", { name = "GET /api/cart" })
end
function actions.buy_confirm()
  if not ensure_session() then return end
  local item = { product_id = product(), qty = 1 }
  local key = "tpcw-" .. vu.id .. "-" .. vu.iteration
  local res = http.post("/api/orders", { json = { items = { item } }, headers = { ["Idempotency-Key"] = key },
                                         name = "POST /api/orders", expectedStatuses = { 201, 409 },
                                         history = "order",
                                         historyValue = { user_id = session_user, key = key, items = { item } } })
  if res.status == 201 then last_order = res:json().order_id end
end
function actions.order_inquiry()
  if not ensure_session() then return end
  http.get("/api/orders", { name = "GET /api/orders" })
end
function actions.order_display()
  if not ensure_session() then return end
  if last_order then
    http.get("/api/orders/" .. last_order, { name = "GET /api/orders/{id}" })
  else
    http.get("/api/orders", { name = "GET /api/orders" })
  end
end
actions.admin_request = actions.product_detail
actions.admin_confirm = actions.product_detail

function browser()
  if not deal then deal = env.DECK == "0" and function() return tpcw.draw(mix) end or tpcw.deck(mix) end
  local interaction = deal()
  group(interaction, actions[interaction])
  sleep(tpcw.think_time(7 * think_scale))
end

-- Under `stampede drill` (which passes ADMIN_TOKEN) the shop's invariants are checked too.
if env.ADMIN_TOKEN then
  function verify(history)
    return checkers.shop(history)
  end
end
