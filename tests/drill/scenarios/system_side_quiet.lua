-- A game day without a fault (drill_system_side_test's "nothing happened" run): the shop's browsing and
-- checkouts only, so the system side shows every server busy and no health change.
local gameday = require("lib.gameday")
options = gameday.options({})
gameday.install(_ENV)
