-- Reference-shop client helpers shared by the shipped scenarios: log in, place an order, buy in a flash
-- sale, each recorded in the history with the conventions the checkers read (lib/checkers.lua):
--   "order"          invoke { user_id, key, items }  -> ok = the 201 body, fail = 4xx, unknown = no answer/5xx
--   "flash_purchase" invoke { user_id, sale_id }     -> ok = the 201 body, fail = 409/410/429, unknown
local shop = {}

-- Logs a seeded customer in (customer<N>@shop.test / stampede); the VU's cookie jar keeps the session.
-- A 429 (the shop sheds logins it cannot hash now) is retried after its Retry-After, with jitter, up to
-- `attempts` times (default 10). Returns the user id and the session's token, or nil when the login failed.
function shop.login(customer, attempts)
  local res
  for _ = 1, attempts or 10 do
    res = http.post("/api/sessions", {
      json = { email = "customer" .. customer .. "@shop.test", password = "stampede" },
      name = "POST /api/sessions",
      expectedStatuses = { 200, 429 },
    })
    if res.status ~= 429 then break end
    sleep(tonumber(res.headers["retry-after"] or "1") * (0.5 + math.random()))
  end
  check(res, { ["login 200"] = function(r) return r.status == 200 end })
  if res.status ~= 200 then return nil end
  local ok, body = pcall(res.json, res)
  if not ok then return nil end
  return body.user_id, body.token
end

-- Places an order of explicit items with an idempotency key; retries a definite-unknown answer with the
-- same key (the shop returns the same order), as a careful client does. `extra`: more fields of the
-- operation's invoke value (e.g. the session's shard), optional.
function shop.order(user_id, items, key, retries, extra)
  local invoke = { user_id = user_id, key = key, items = items }
  for k, v in pairs(extra or {}) do invoke[k] = v end
  local res
  for _ = 0, retries or 0 do
    res = http.post("/api/orders", {
      json = { items = items },
      headers = { ["Idempotency-Key"] = key },
      name = "POST /api/orders",
      expectedStatuses = { 201, 409 },
      history = "order", historyValue = invoke,
    })
    if res.status ~= 0 and res.status < 500 then break end
  end
  check(res, { ["order answered"] = function(r) return r.status == 201 or r.status == 409 end })
  return res
end

-- One purchase attempt in flash sale `sale`; 201, 409 (already bought / not started), 410 (sold out) and
-- 429 (shed) are answers. Retries 429 after Retry-After, up to `attempts` times.
function shop.flash_purchase(user_id, sale, attempts)
  local res
  for _ = 1, attempts or 5 do
    res = http.post("/api/flash-sales/" .. sale .. "/purchase", {
      name = "POST /api/flash-sales/{id}/purchase",
      expectedStatuses = { 201, 409, 410, 429 },
      history = "flash_purchase", historyValue = { user_id = user_id, sale_id = tonumber(sale) },
    })
    if res.status ~= 429 then break end
    sleep(tonumber(res.headers["retry-after"] or "1") * (0.5 + math.random()))
  end
  check(res, { ["purchase answered"] = function(r) return r.status == 201 or r.status == 409
                                            or r.status == 410 or r.status == 429 end })
  return res
end

-- A browsing step: a product page, sometimes a search.
function shop.browse()
  local res = http.get("/api/products/" .. math.random(1, 1000), { name = "GET /api/products/{id}" })
  check(res, { ["product 200"] = function(r) return r.status == 200 end })
  if math.random() < 0.3 then http.get("/api/products?q=book&size=10", { name = "GET /api/products?q" }) end
end

return shop
