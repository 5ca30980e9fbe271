-- setup() that waits (for the Ctrl-C-during-setup tests): it says so on stderr, then sleeps past any test.
options = { vus = 1, duration = "1s" }

function setup()
  print("setup: waiting")
  sleep(600)
end

function default()
  http.get("/")
end
