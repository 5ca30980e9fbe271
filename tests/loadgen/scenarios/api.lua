-- The Lua API, one exec function per case (-e CASE=name). Every case reports what it saw through
-- check(): the test asserts that each named check passed. Cases needing a target get --target.
local case = assert(env.CASE, "-e CASE=name is required")

local scenario = {
  executor = "per-vu-iterations", vus = tonumber(env.VUS or "1"), iterations = tonumber(env.ITERATIONS or "1"),
  exec = case,
}
if case == "abort_case" then
  scenario = { executor = "constant-vus", vus = 1, duration = "10s", exec = case }
end
options = { scenarios = { main = scenario } }
if case == "discard_case" then
  options.discardResponseBodies = true
end
if case == "pool_wait_timeout" then
  options.maxConnectionsPerHost = 1
  scenario.vus = 2
end
if case == "no_user_agent" then
  options.userAgent = ""  -- as in k6: no User-Agent header at all
end
if case == "sleep_case" then
  options.thresholds = { iteration_duration = { "min>=195", "max<600" } }
end

-- Records one check named `name` that passes when `condition` is truthy.
local function expect(name, condition)
  check(nil, { [name] = condition and true or false })
end

-- Case-insensitive lookup in the headers object of an /echo reply.
local function header(headers, name)
  for key, value in pairs(headers) do
    if key:lower() == name:lower() then return value end
  end
  return nil
end

-- init-time data
shared_value = "original"
local own_source = open("api.lua")  -- relative to this file's folder
local users = env.USERS_CSV and csv.parse(open(env.USERS_CSV)) or {}

function methods()
  local get = http.get("/echo?x=1"):json()
  expect("GET method", get.method == "GET")
  expect("GET query", get.query == "x=1")
  expect("GET has no body", get.body == "" and header(get.headers, "content-length") == nil)
  for _, m in ipairs({ "post", "put", "patch" }) do
    local sent = "body of " .. m
    local echo = http[m]("/echo", sent):json()
    expect(m .. " method", echo.method == m:upper())
    expect(m .. " body", echo.body == sent)
    expect(m .. " content-length", header(echo.headers, "content-length") == tostring(#sent))
  end
  expect("POST without body sends Content-Length 0",
         header(http.post("/echo"):json().headers, "content-length") == "0")
  expect("DELETE method", http.delete("/echo"):json().method == "DELETE")
  expect("del alias", http.del("/echo"):json().method == "DELETE")
  expect("OPTIONS method", http.options("/echo"):json().method == "OPTIONS")
  local head = http.head("/hello")
  expect("HEAD status", head.status == 200)
  expect("HEAD has no body", head.body == "")
  expect("HEAD content-length", head.headers["content-length"] == "615")
  local custom = http.request("PUT", "/echo", "raw", { headers = { ["X-Custom"] = "yes" } }):json()
  expect("request method", custom.method == "PUT")
  expect("request body", custom.body == "raw")
  expect("request header", header(custom.headers, "x-custom") == "yes")
  local shifted = http.request("POST", "/echo", { body = "from params" }):json()
  expect("request params in place of body", shifted.body == "from params")
end

function params()
  local j = http.post("/echo", { json = { list = json.array() } }):json()
  expect("json body", j.body == '{"list":[]}')
  expect("json content-type", header(j.headers, "content-type") == "application/json")
  local j2 = http.put("/echo", nil, { json = { a = 1 } }):json()
  expect("json decodes", json.decode(j2.body).a == 1)
  local f = http.post("/echo", { form = { name = "a b&c=d" } }):json()
  expect("form body", f.body == "name=a%20b%26c%3Dd")
  expect("form content-type", header(f.headers, "content-type") == "application/x-www-form-urlencoded")
  local h = http.get("/echo", { headers = { ["X-Trace"] = "t-1", ["User-Agent"] = "custom-agent" } }):json()
  expect("custom header", header(h.headers, "x-trace") == "t-1")
  expect("user agent override", header(h.headers, "user-agent") == "custom-agent")
  local plain = http.get("/echo"):json()
  expect("default user agent", header(plain.headers, "user-agent") == "stampede/0.1")
  expect("host header", header(plain.headers, "host") == env.TARGET:gsub("^http://", ""))
  expect("named request", http.get("/hello", { name = "named hello" }).status == 200)
  local absolute = http.get(env.TARGET .. "/counter?from=absolute")
  expect("absolute url", absolute.status == 200 and absolute:json().count == 1)
  expect("res.url is the url as given", absolute.url == env.TARGET .. "/counter?from=absolute")
  expect("url_encode", http.url_encode("a b/é") == "a%20b%2F%C3%A9")
end

-- Two VUs, one connection: VU 1 holds it for 1.5 s; VU 2's request, with a 300 ms timeout, times out
-- while still waiting for it (the timeout covers the whole exchange).
function pool_wait_timeout()
  if vu.id == 1 then
    expect("slow request holds the connection", http.get("/delay?ms=1500").status == 200)
  else
    sleep(0.1)
    local r = http.get("/hello", { timeout = "300ms" })
    expect("waiting request timed out", r.status == 0 and r.error_code == "read_timeout")
    expect("after its timeout, not after the slow one", r.timings.blocked >= 250 and r.timings.blocked < 1000)
  end
end

function no_user_agent()
  local plain = http.get("/echo"):json()
  expect("no user agent", header(plain.headers, "user-agent") == nil)
  local h = http.get("/echo", { headers = { ["User-Agent"] = "explicit" } }):json()
  expect("explicit user agent still sent", header(h.headers, "user-agent") == "explicit")
end

function response()
  local r = http.get("/json")
  expect("status", r.status == 200)
  expect("ok", r.ok == true)
  expect("body", r.body:find("Espresso cup", 1, true) ~= nil)
  expect("headers lower case", (r.headers["content-type"] or ""):find("application/json", 1, true) == 1)
  expect("headers any case", r.headers["Content-Type"] == r.headers["content-type"])
  expect("res:json()", r:json().currency == "EUR")
  expect("res.json()", r.json().products[2].name == "Milk jug")
  expect("json arrays", #r:json().products == 3)
  local t = r.timings
  expect("timings", t.total > 0 and t.duration >= 0 and t.waiting >= 0 and t.blocked >= 0
                    and t.total + 1e-9 >= t.duration)
  expect("no error", r.error == nil and r.error_code == nil)
  local missing = http.get("/status/404")
  expect("404 status", missing.status == 404)
  expect("404 error_code", missing.error_code == "status_4xx")
  expect("404 error", missing.error == "HTTP 404")
  expect("404 not ok", missing.ok == false)
  expect("503 error_code", http.get("/status/503").error_code == "status_5xx")
  local slow = http.get("/delay?ms=50")
  expect("waiting covers the delay", slow.timings.waiting >= 45)
  expect("chunked body", http.get("/chunked?n=3").body == "chunk 0\nchunk 1\nchunk 2\n")
  local refused = http.get("http://127.0.0.1:" .. env.CLOSED_PORT .. "/x")
  expect("refused status", refused.status == 0)
  expect("refused error_code", refused.error_code == "connect_refused")
  expect("refused error", type(refused.error) == "string" and #refused.error > 0)
  expect("refused not ok", refused.ok == false)
end

function timeout_case()
  local r = http.get("/delay?ms=3000", { timeout = "200ms" })
  expect("timeout status", r.status == 0)
  expect("timeout error_code", r.error_code == "read_timeout")
  local n = http.get("/delay?ms=3000", { timeout = 0.1 })
  expect("numeric timeout", n.error_code == "read_timeout")
  expect("in time", http.get("/delay?ms=10", { timeout = "2s" }).status == 200)
end

function cookies()
  if vu.iteration == 0 then
    if vu.id == 1 then
      expect("set-cookie answered", http.get("/set-cookie?sid=one&theme=dark").status == 200)
    else
      http.get("/delay?ms=100")  -- by now VU 1 has its cookies
    end
    local seen = http.get("/cookies"):json().cookies
    if vu.id == 1 then
      expect("cookies sent back", seen.sid == "one" and seen.theme == "dark")
      expect("http.cookies()", http.cookies().sid == "one")
    else
      expect("other VU has no cookies", seen.sid == nil and next(http.cookies()) == nil)
    end
  else
    local seen = http.get("/cookies"):json().cookies
    if vu.id == 1 then
      expect("cookies kept across iterations", seen.sid == "one")
      http.get("/set-cookie?sid=two")
      expect("cookie replaced", http.get("/cookies"):json().cookies.sid == "two")
      http.clear_cookies()
      expect("jar cleared", http.get("/cookies"):json().cookie == "")
    else
      expect("other VU still has no cookies", seen.sid == nil)
    end
  end
end

function close_case()
  for i = 1, 3 do
    local closing = http.get("/close")
    expect("close answered " .. i, closing.status == 200 and closing:json().closing == true)
    expect("next request after close " .. i, http.get("/hello").status == 200)
  end
end

function discard_case()
  local res = http.get("/hello")
  expect("discarded body still has a status", res.status == 200)
  expect("discarded body is empty", res.body == "")
  expect("headers are kept", res.headers["content-length"] == "615")
end

function sleep_case()
  if vu.iteration == 0 then
    sleep(0.2)
  else
    sleep("200ms")
  end
end

function checks_groups()
  check(1, { ["is one"] = function(v) return v == 1 end, ["is two"] = function(v) return v == 2 end })
  check(nil, { ["raising predicate"] = function() error("boom") end })
  local all = check(5, { ["five"] = 5 })
  expect("check returns true when all pass", all == true)
  group("outer", function()
    check(nil, { ["inside outer"] = true })
    group("inner", function()
      sleep(0.05)
      check(nil, { ["inside inner"] = false })
    end)
  end)
  expect("group returns the function's values", group("value", function() return 42 end) == 42)
end

function fail_case()
  if vu.iteration % 2 == 0 then fail("deliberate failure") end
  http.get("/hello")
end

function json_case()
  expect("encode empty array", json.encode(json.array()) == "[]")
  expect("json.array(nil) is an empty array", json.encode(json.array(nil)) == "[]")
  expect("json.array marks a table", json.encode(json.array({ "a" })) == '["a"]')
  expect("encode empty table as object", json.encode({}) == "{}")
  expect("encode null", json.encode({ a = json.null }) == '{"a":null}')
  expect("encode list", json.encode({ 1, "x", true }) == '[1,"x",true]')
  expect("encode integer", json.encode({ n = 3 }) == '{"n":3}')
  expect("encode integral float as integer", json.encode({ 6 / 2, -0.0 }) == '[3,0]')
  expect("encode fraction", json.decode(json.encode({ 2.5 }))[1] == 2.5)
  local d = json.decode('{"a":[],"b":null,"c":{"d":[1,2.5,"s",true]}}')
  expect("decode null", d.b == json.null)
  expect("decode nested", d.c.d[1] == 1 and d.c.d[2] == 2.5 and d.c.d[3] == "s" and d.c.d[4] == true)
  expect("decoded empty array encodes as []", json.encode(d.a) == "[]")
  expect("decoded array keeps its mark", json.encode(json.decode('{"d":[1,"s",true]}')) == '{"d":[1,"s",true]}')
  local again = json.decode(json.encode(d))
  expect("round trip", again.b == json.null and json.encode(again.a) == "[]" and again.c.d[3] == "s")
  expect("unicode", json.decode('"caf\\u00e9"') == "café")
  local ok, err = pcall(json.decode, "{bad")
  expect("decode error", not ok and tostring(err):find("invalid JSON", 1, true) ~= nil)
  expect("encode function fails", not pcall(json.encode, { f = print }))
  local cycle = {}
  cycle.self = cycle
  expect("encode cycle fails", not pcall(json.encode, cycle))
  expect("encode NaN fails", not pcall(json.encode, 0 / 0))
end

function csv_case()
  expect("open at init, relative path", own_source:find("one exec function per case", 1, true) ~= nil)
  expect("csv rows", #users == 3)
  expect("csv header keys", users[1].name == "alice" and users[1].password == "s3cret")
  expect("csv quoted delimiter", users[2].name == "bob, jr.")
  expect("csv escaped quote", users[3].name == 'carol "cc"')
  expect("csv quoted newline", users[3].password == "multi\nline")
  local rows = csv.parse("a;b\r\n1;2\r\n", { header = false, delimiter = ";" })
  expect("csv arrays", #rows == 2 and rows[1][1] == "a" and rows[2][2] == "2")
  local ok, err = pcall(csv.parse, '"open')
  expect("csv unterminated quote", not ok and tostring(err):find("unterminated", 1, true) ~= nil)
  local opened, message = pcall(open, "api.lua")
  expect("open inside a VU fails", not opened and tostring(message):find("top level", 1, true) ~= nil)
end

function env_case()
  expect("env value", env.GREETING == "hello world")
  expect("env missing", env.MISSING == nil)
end

function ids()
  check(nil, { [string.format("vu %d iteration %d scenario %s", vu.id, vu.iteration, vu.scenario)] = true })
end

function random_case()
  check(nil, { [string.format("vu %d random %d %d %.17g", vu.id, math.random(1, 1000000000), math.random(100),
                              math.random())] = true })
end

if case == "setup_teardown" or case == "setup_copy" or case == "setup_kept" then
  function setup()
    local r = http.get("/setup-marker")  -- 404, but the server counts it
    return { token = "tok-" .. r.status, list = json.array({ 1, 2, 3 }), empty = json.array() }
  end

  function teardown(data)
    http.get("/teardown/" .. data.token .. "/" .. #data.list)
  end
end

function setup_teardown(data)
  expect("data token", data.token == "tok-404")
  expect("data list", #data.list == 3 and data.list[3] == 3)
  expect("data empty array", json.encode(data.empty) == "[]")
  http.get("/hello")
end

-- Every VU gets its own copy of setup()'s data (as in k6): VU 1 changes its copy before VU 2 looks.
function setup_copy(data)
  if vu.id == 1 then
    data.token = "changed by vu 1"
    table.insert(data.list, 4)
  end
  http.get("/hello")
  if vu.id == 2 then
    expect("vu 2 sees the original data", data.token == "tok-404" and #data.list == 3)
  end
end

-- A VU's copy is decoded once and kept for its later iterations (as k6 does): its own changes persist, no
-- other VU's reach it.
function setup_kept(data)
  data.seen = (data.seen or 0) + 1
  data.token = "vu " .. vu.id
  http.get("/hello")  -- yields: the other VU runs an iteration meanwhile
  expect("a vu's copy keeps its own changes", data.seen == vu.iteration + 1 and data.token == "vu " .. vu.id)
  expect("the list is setup's", #data.list == 3)
end

function isolation()
  mine = vu.id
  if vu.id == 1 then shared_value = "changed by vu 1" end
  http.get("/hello")  -- yields: the other VU assigns its globals meanwhile
  expect("own global kept", mine == vu.id)
  if vu.id == 1 then
    expect("vu 1 sees its assignment", shared_value == "changed by vu 1")
  else
    expect("shared global unchanged for others", shared_value == "original")
  end
end

-- A VU's `vu` table and private globals are made at their first use (loadgen/lua_runtime.cpp): a VU that
-- touches neither for two iterations then sees the current ones, and one `vu` throughout.
local iterations_before_vu = {}  -- per VU coroutine, without reading `vu`
function lazy_vu()
  local co = coroutine.running()
  iterations_before_vu[co] = (iterations_before_vu[co] or 0) + 1
  if iterations_before_vu[co] < 3 then
    http.get("/hello")
    return
  end
  local first = vu
  expect("vu made late has the current iteration", first.iteration == 2 and first.scenario == "main")
  late_global = first.id  -- the private globals are made now, holding the same `vu`
  http.get("/hello")  -- yields: the other VU makes its own meanwhile
  expect("vu stays one table with its own id", vu == first and late_global == vu.id)
end

function abort_case()
  if vu.iteration == 2 then stampede.abort("enough") end
  http.get("/hello")
end

-- The server closes idle keep-alive connections after 100 ms (see the test): requests after a longer
-- pause must not fail because the pooled connection went stale.
function stale_case()
  for _, method in ipairs({ "GET", "POST", "PUT" }) do
    expect(method .. " first", http.request(method, "/echo", "x").status == 200)
    sleep(0.3)
    local again = http.request(method, "/echo", "x")
    expect(method .. " after the server closed the idle connection", again.status == 200)
  end
end
