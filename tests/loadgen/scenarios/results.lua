-- Exercises every part of the results file: an open model for 2.5 s (125 iterations), a group with
-- a check, a named request that always answers 404, and thresholds of each kind.
options = {
  scenarios = {
    load = { executor = "constant-arrival-rate", rate = 50, duration = "2500ms", preAllocatedVUs = 5, maxVUs = 20 },
  },
  thresholds = {
    http_req_duration = { "p(99)<5000" },
    ["http_req_duration{name:GET /json}"] = { { threshold = "max<5000", abortOnFail = true } },
    checks = { "rate>0.9" },
    http_reqs = { "count>=250" },
  },
}

function default()
  group("browse", function()
    local res = http.get("/json")
    check(res, { ["status is 200"] = function(r) return r.status == 200 end })
  end)
  http.get("/status/404", { name = "missing" })
end
