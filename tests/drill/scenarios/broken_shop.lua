-- Orders against a shop (a test double in drill_broken_shop_test), recorded as history, then the shop
-- checker. The test double corrupts its audit on purpose (env.MODE on its side).
local checkers = require("lib.checkers")

options = { scenarios = { buy = { executor = "shared-iterations", vus = 2, iterations = 6, maxDuration = "20s" } } }

function default()
  local user = vu.id * 1000 + vu.iteration
  local key = "key-" .. user
  local items = { { product_id = 7, qty = 1 } }
  http.post("/api/orders", {
    json = { items = items },
    headers = { ["Idempotency-Key"] = key, ["X-User"] = tostring(user) },
    history = "order", historyValue = { user_id = user, key = key, items = items },
  })
end

function verify(history)
  return checkers.shop(history)
end
