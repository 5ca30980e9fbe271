-- Two overlapping scenarios: "early" from 0 to 1.5 s, "late" from 1 s to 2 s, each with its own step.
options = {
  scenarios = {
    early = { executor = "constant-vus", vus = 1, duration = "1500ms", exec = "early" },
    late = { executor = "constant-vus", vus = 1, duration = "1s", startTime = "1s", exec = "late" },
  },
}

function early()
  http.get("/hello", { name = "early step" })
  sleep(0.01)
end

function late()
  http.get("/counter", { name = "late step" })
  sleep(0.01)
end
