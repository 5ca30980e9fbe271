-- quiesce() outcomes for drill_own_system_test: env.QUIESCE = "quiet" (returns a table), "false" (gives
-- up), "error" (a script error), "slow" (outlives its bound).
options = { vus = 1, iterations = 1, teardownTimeout = "1s" }

function default() end

function quiesce()
  if env.QUIESCE == "false" then return false end
  if env.QUIESCE == "error" then error("queue endpoint missing") end
  if env.QUIESCE == "slow" then sleep(30) end
  return { drained = 3 }
end
