-- http.batch, one exec function per case (-e CASE=name); each reports what it saw through check().
local case = assert(env.CASE, "-e CASE=name is required")

local scenario = { executor = "per-vu-iterations", vus = 1, iterations = 1, exec = case }
options = { scenarios = { main = scenario } }
if env.BATCH then options.batch = tonumber(env.BATCH) end
if env.BATCH_PER_HOST then options.batchPerHost = tonumber(env.BATCH_PER_HOST) end
if case == "hard_stop" then
  scenario.executor, scenario.duration, scenario.gracefulStop = "constant-vus", "1s", "0s"
  scenario.iterations = nil
end

local function expect(name, condition)
  check(nil, { [name] = condition and true or false })
end

-- Responses come back in the order given, whatever order they completed in, each timed on its own; the
-- three forms of a request (list, table, URL string) are accepted.
function order()
  local responses = http.batch({
    { "GET", "/delay?ms=300" },
    "/hello",
    { method = "POST", url = "/echo", body = "posted", params = { headers = { ["X-Batch"] = "yes" } } },
    { "GET", "/delay?ms=100", nil, { name = "short delay" } },
  })
  expect("four responses", #responses == 4)
  expect("1: the slow delay", responses[1].status == 200 and responses[1]:json().delayed_ms == 300)
  expect("1: its url", responses[1].url == "/delay?ms=300")
  expect("2: hello", responses[2].status == 200 and #responses[2].body == 615)
  local echo = responses[3]:json()
  expect("3: the table form with its body and params",
         echo.method == "POST" and echo.body == "posted" and echo.headers["X-Batch"] == "yes")
  expect("4: the short delay", responses[4]:json().delayed_ms == 100)
  local slow, short = responses[1].timings.duration, responses[4].timings.duration
  expect("each is timed on its own", slow >= 295 and short >= 95 and short < slow)
  expect("an empty batch is an empty list", #http.batch({}) == 0)
end

-- Requests to two origins (env.A, env.B): the server counts how many arrive at once.
function bound()
  local requests = {}
  for i = 1, 9 do requests[#requests + 1] = { "GET", env.A .. "/a" .. i } end
  for i = 1, 6 do requests[#requests + 1] = { "GET", env.B .. "/b" .. i } end
  local responses = http.batch(requests)
  local all_ok = #responses == 15
  for i, res in ipairs(responses) do
    local expected = i <= 9 and ("/a" .. i) or ("/b" .. (i - 9))
    all_ok = all_ok and res.status == 200 and res.body == expected
  end
  expect("fifteen responses in order", all_ok)
end

-- One request failing (no listener, a bad URL, its own timeout, a 500) is that request's response.
function failures()
  local responses = http.batch({
    { "GET", "/hello" },
    { "GET", "http://127.0.0.1:" .. env.CLOSED_PORT .. "/x" },
    { "GET", "http://" },
    { "GET", "/delay?ms=3000", nil, { timeout = "150ms" } },
    { "GET", "/status/500" },
    { "GET", "/status/404", nil, { expectedStatuses = { 404 } } },
  })
  expect("six responses", #responses == 6)
  expect("1 ok", responses[1].status == 200 and responses[1].ok)
  expect("2 refused", responses[2].status == 0 and responses[2].error_code == "connect_refused")
  expect("3 bad URL", responses[3].status == 0 and responses[3].error ~= nil and responses[3].url == "http://")
  expect("4 timed out", responses[4].status == 0 and responses[4].error_code == "read_timeout")
  expect("5 a 500", responses[5].status == 500 and responses[5].error_code == "status_5xx")
  expect("6 an expected 404", responses[6].status == 404 and responses[6].ok)
end

-- batchPerHost = 1: the second and third requests wait inside the batch; the wait is `blocked`.
function queued()
  local responses = http.batch({ { "GET", "/delay?ms=100" }, { "GET", "/delay?ms=100" }, { "GET", "/delay?ms=100" } })
  expect("three", #responses == 3)
  expect("the first waited for nothing", responses[1].timings.blocked < 50)
  expect("the third waited for two", responses[3].timings.blocked >= 190)
end

-- A batch still in flight at the scenario's hard stop is aborted: the run does not wait for it.
function hard_stop()
  http.batch({ { "GET", "/delay?ms=10000" }, { "GET", "/delay?ms=10000" } })
end

-- A script mistake stops the run at its file:line, as with http.get.
function mistakes()
  http.batch("not a list")
end
