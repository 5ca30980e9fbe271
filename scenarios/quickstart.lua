-- Quickstart: a browsing user against any HTTP target.
--   stampede run scenarios/quickstart.lua --target http://127.0.0.1:8080 --vus 10 --duration 30s
-- Hypothesis: the front page and a JSON endpoint answer under 200 ms at p(99) with under 1% errors.
options = {
  vus = 5,
  duration = "10s",
  thresholds = {
    http_req_duration = { "p(99)<200" },
    http_req_failed = { "rate<0.01" },
    checks = { "rate>0.99" },
  },
}

local pages = { "/", "/hello", "/json" }

function default()
  local res = http.get(pages[math.random(#pages)], { name = "GET page" })
  check(res, {
    ["status is 2xx"] = function(r) return r.status >= 200 and r.status < 300 end,
  })
  sleep(0.05 + math.random() * 0.1)   -- think time
end
