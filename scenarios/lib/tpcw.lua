-- TPC-W's 14 web interactions and its three mixes (spec v1.8, clause 5), think time and decks. Pure
-- functions (tested in drill_checkers_test); scenarios/tpcw.lua maps the interactions to the shop's API.
local tpcw = {}

tpcw.interactions = {
  "home", "new_products", "best_sellers", "product_detail", "search_request", "search_results",
  "shopping_cart", "customer_registration", "buy_request", "buy_confirm", "order_inquiry", "order_display",
  "admin_request", "admin_confirm",
}

-- Percentages per interaction, in the order above (browsing 95/5, shopping 80/20, ordering 50/50).
tpcw.mixes = {
  browsing = { 29.00, 11.00, 11.00, 21.00, 12.00, 11.00, 2.00, 0.82, 0.75, 0.69, 0.30, 0.25, 0.10, 0.09 },
  shopping = { 16.00, 5.00, 5.00, 17.00, 20.00, 17.00, 11.60, 3.00, 2.60, 1.20, 0.75, 0.66, 0.10, 0.09 },
  ordering = { 9.12, 0.46, 0.46, 12.35, 14.53, 13.08, 13.53, 12.86, 12.73, 10.18, 0.25, 0.22, 0.12, 0.11 },
}

-- Independent draws: long runs converge to the mix's shares.
function tpcw.draw(mix, random)
  local shares = tpcw.mixes[mix] or error("unknown TPC-W mix '" .. tostring(mix) .. "' (browsing, shopping, ordering)")
  local r = (random or math.random)() * 100
  for i, p in ipairs(shares) do
    r = r - p
    if r < 0 then return tpcw.interactions[i] end
  end
  return tpcw.interactions[1]
end

-- A shuffled deck of 10,000 cards with the mix's exact shares (0.01 % resolution): a run that deals a
-- whole deck hits every share exactly, so short runs are representative too. Returns a dealer function.
function tpcw.deck(mix, random)
  local shares = tpcw.mixes[mix] or error("unknown TPC-W mix '" .. tostring(mix) .. "'")
  random = random or math.random
  local cards = {}
  for i, p in ipairs(shares) do
    for _ = 1, math.floor(p * 100 + 0.5) do cards[#cards + 1] = tpcw.interactions[i] end
  end
  local next_card = #cards + 1
  return function()
    if next_card > #cards then  -- reshuffle (Fisher-Yates) when the deck is used up
      for i = #cards, 2, -1 do
        local j = math.floor(random() * i) + 1
        cards[i], cards[j] = cards[j], cards[i]
      end
      next_card = 1
    end
    local c = cards[next_card]
    next_card = next_card + 1
    return c
  end
end

-- Negative-exponential think time, mean `mean` seconds, truncated at 10 x mean (TPC-W: 7 s, 70 s).
function tpcw.think_time(mean, random)
  mean = mean or 7
  local r = (random or math.random)()
  if r <= 0 then r = 1e-12 end
  return math.min(-math.log(r) * mean, 10 * mean)
end

return tpcw
