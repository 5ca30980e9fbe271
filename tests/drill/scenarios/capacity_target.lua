-- One request per iteration against drill_capacity_test's known-capacity server.
options = { timeout = "10s" }
function default()
  http.get("/work")
end
