// Lua code that never yields, or allocates without bound, must not own the generator: every phase
// (the top level and the options, setup, a VU's iteration, teardown, quiesce, verify) ends at its
// deadline or on the first Ctrl-C, names the line that was running, and the run still writes its
// results; memory past luaMemoryLimit is a script error at file:line, never an abort (loadgen/lua_guard.h).
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/sanitizers.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::temp_dir;

// Runs the scenario on another thread; a run that outlives `bound` aborts the test binary: before the
// guard, nothing could stop such a run from outside (only SIGKILL).
run_result run_bounded(const run_request& request, const temp_dir& dir, std::chrono::seconds bound = 30s) {
  auto done = std::async(std::launch::async, [&] { return run_scenario(request, dir); });
  if (done.wait_for(bound) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: the run did not finish within %lld s\n", static_cast<long long>(bound.count()));
    std::abort();
  }
  return done.get();
}

// SIGINT blocked in every thread started after this (so it stays pending for the run's sigtimedwait
// instead of killing the test); a SIGINT left pending is consumed before unblocking.
class sigint_blocked {
 public:
  sigint_blocked() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~sigint_blocked() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGINT) == 1) {
      int sig = 0;
      sigwait(&set_, &sig);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  sigint_blocked(const sigint_blocked&) = delete;
  sigint_blocked& operator=(const sigint_blocked&) = delete;

 private:
  sigset_t set_;
  sigset_t old_;
};

bool wait_for_hits(const testing::test_server& server, const std::string& path, uint64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (server.hits(path) < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);  // polling a counter, bounded
  }
  return true;
}

// "where" of a stop: the script's path as Lua shortens it, then ":line".
bool located_at(const json::object& stop, std::string_view file_and_line) {
  return std::string_view(stop.at("where").as_string()).ends_with("/" + std::string(file_and_line));
}

const json::object& only_interruption(const run_result& r) {
  const auto& list = r.root().at("script_interruptions").as_array();
  EXPECT_EQ(list.size(), 1u) << json::serialize(list);
  return list.at(0).as_object();
}

class script_limits : public ::testing::Test {
 protected:
  run_request request_for(std::string_view name, std::string_view text) {
    return make_request(dir_.write(name, text), server_.base_url());
  }

  testing::test_server server_;
  temp_dir dir_;
};

// ---- time ----

// One VU loops forever on worker 0 while the other (worker 1) keeps sending requests: the stuck one is
// stopped when its scenario's end + gracefulStop passes, the run writes its results, and the note names
// the VU and the line. Before the guard the run never ended.
TEST_F(script_limits, a_vu_that_never_yields_is_stopped_at_its_scenario_end) {
  run_request request = request_for("stuck.lua", R"lua(
options = { scenarios = { s = { executor = "constant-vus", vus = 2, duration = "1s", gracefulStop = "500ms" } } }
function default()
  if vu.id == 1 then
    local n = 0
    while true do n = n + 1 end
  end
  http.get("/hello")
  sleep(0.02)
end
)lua");
  request.threads = 2;
  const auto started = std::chrono::steady_clock::now();
  const run_result r = run_bounded(request, dir_);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results()) << r.err;
  EXPECT_LT(took, 10s);
  const json::object& stop = only_interruption(r);
  EXPECT_EQ(stop.at("phase").as_string(), "iteration");
  EXPECT_EQ(stop.at("vu").to_number<int64_t>(), 1);
  EXPECT_EQ(stop.at("scenario").as_string(), "s");
  EXPECT_TRUE(located_at(stop, "stuck.lua:6")) << json::serialize(stop);
  EXPECT_NE(std::string(stop.at("message").as_string()).find("ran past its scenario's end + gracefulStop"),
            std::string::npos);
  EXPECT_GT(stop.at("ran_s").to_number<double>(), 0.5);  // since the watchdog first saw it (it began at once)
  EXPECT_EQ(r.scenario().at("interrupted_iterations").to_number<int64_t>(), 1);
  EXPECT_GT(r.summary_int("requests"), 5);  // the other worker went on
  EXPECT_NE(r.err.find("VU 1 of scenario s: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stuck.lua:6: the iteration was stopped"), std::string::npos) << r.err;
}

// An embedder (stampede drill blocks SIGINT and SIGTERM before any thread) may block every signal
// before it runs the load: the watchdog's signal must still reach the threads that run Lua.
TEST_F(script_limits, the_watchdog_works_when_the_embedder_blocked_every_signal) {
  const run_request request = request_for("blocked.lua", R"lua(
options = { scenarios = { s = { executor = "constant-vus", vus = 1, duration = "300ms", gracefulStop = "200ms" } } }
function default() while true do end end
)lua");
  auto done = std::async(std::launch::async, [&] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);  // this thread and every thread the run starts
    return run_scenario(request, dir_);
  });
  if (done.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: the run did not finish\n");
    std::abort();
  }
  const run_result r = done.get();
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results()) << r.err;
  EXPECT_TRUE(located_at(only_interruption(r), "blocked.lua:3"));
}

// Ctrl-C stops a VU that never yields at once (the stop would otherwise wait for it forever), and the
// run ends with 105 and its results.
TEST(script_limits_signals, the_first_sigint_stops_a_vu_that_never_yields) {
  sigint_blocked blocked;
  auto server = std::make_unique<testing::test_server>();
  temp_dir dir;
  const run_request request = make_request(dir.write("spin.lua", R"lua(
options = { scenarios = { s = { executor = "constant-vus", vus = 1, duration = "60s" } } }
function default()
  http.get("/hello")
  while true do end
end
)lua"), server->base_url());
  auto done = std::async(std::launch::async, [&] { return run_scenario(request, dir); });
  EXPECT_TRUE(wait_for_hits(*server, "/hello", 1));  // (the signal below ends the run either way)
  const auto signalled = std::chrono::steady_clock::now();
  kill(getpid(), SIGINT);
  if (done.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: SIGINT did not stop the run\n");
    std::abort();
  }
  const run_result r = done.get();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 5s);
  server.reset();
  EXPECT_EQ(r.exit_code, exit_interrupted) << r.err;
  ASSERT_TRUE(r.has_results()) << r.err;
  const json::object& stop = only_interruption(r);
  EXPECT_TRUE(located_at(stop, "spin.lua:5")) << json::serialize(stop);
  EXPECT_NE(std::string(stop.at("message").as_string()).find("did not yield while the run was stopping"),
            std::string::npos);
  EXPECT_EQ(r.summary_int("requests"), 1);
}

// pcall cannot catch the stop, nor can a callback inside a C function (where Lua cannot yield), a
// message handler or a coroutine of the script's own hide the loop.
TEST_F(script_limits, pcall_callbacks_handlers_and_coroutines_cannot_hide_a_loop) {
  const std::pair<const char*, const char*> cases[] = {
      {"pcall", "while true do pcall(function() while true do end end) end"},
      {"sort", "local t = {3, 2, 1}; table.sort(t, function(a, b) while true do end end)"},
      {"handler", "xpcall(function() error('x') end, function() while true do end end)"},
      {"coroutine", "coroutine.wrap(function() while true do end end)()"},
      {"gsub", "local s = string.gsub('abc', '%w', function() while true do end end)"},
  };
  for (const auto& [name, code] : cases) {
    SCOPED_TRACE(name);
    const std::string script = std::string("options = { scenarios = { s = { executor = 'constant-vus', vus = 1,\n"
                                           "  duration = '300ms', gracefulStop = '200ms' } } }\n"
                                           "function default()\n  ") + code + "\nend\n";
    const run_result r = run_bounded(request_for(std::string(name) + ".lua", script), dir_);
    EXPECT_EQ(r.exit_code, exit_ok) << r.err;
    ASSERT_TRUE(r.has_results()) << r.err;
    const json::object& stop = only_interruption(r);
    EXPECT_TRUE(located_at(stop, std::string(name) + ".lua:4")) << json::serialize(stop);
    EXPECT_EQ(r.scenario().at("interrupted_iterations").to_number<int64_t>(), 1);
  }
}

// The top level: bounded by the init timeout, and Ctrl-C stops it (before, the first ignored both); a
// Ctrl-C there writes results, as one in setup() does.
TEST_F(script_limits, a_top_level_that_never_ends_is_stopped_by_its_timeout) {
  run_request request = request_for("init_loop.lua", "local n = 0\nwhile true do n = n + 1 end\nfunction default() end\n");
  request.init_timeout = 500ms;
  const run_result r = run_bounded(request, dir_);
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("init_loop.lua:2: the script's top level did not finish within the init timeout"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(r.has_results());
}

TEST(script_limits_signals, sigint_stops_a_top_level_that_never_ends) {
  sigint_blocked blocked;
  temp_dir dir;
  const run_request request = make_request(dir.write("init_spin.lua", "while true do end\nfunction default() end\n"), "");
  auto done = std::async(std::launch::async, [&] { return run_scenario(request, dir); });
  kill(getpid(), SIGINT);  // pending until the run takes it, whenever that is
  if (done.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: SIGINT did not stop the top level\n");
    std::abort();
  }
  const run_result r = done.get();
  EXPECT_EQ(r.exit_code, exit_interrupted) << r.err;
  EXPECT_NE(r.err.find("init_spin.lua:1: the script's top level was interrupted by a signal"),
            std::string::npos)
      << r.err;
  // As for a Ctrl-C in setup(): results that say where the run stopped.
  ASSERT_TRUE(r.has_results()) << r.err;
  const auto& aborted = r.root().at("meta").at("aborted");
  EXPECT_EQ(aborted.at("reason"), "signal") << json::serialize(aborted);
  EXPECT_EQ(aborted.at("phase"), "init") << json::serialize(aborted);
  EXPECT_EQ(aborted.at("detail"), "interrupted by a signal during the script's top level");
  const json::object& stopped = only_interruption(r);
  EXPECT_EQ(stopped.at("phase").as_string(), "init");
  EXPECT_TRUE(located_at(stopped, "init_spin.lua:1")) << json::serialize(stopped);
}

// A signal taken while a call before the load was finishing anyway (here, a top level that is done at
// once) still ends the run there: it is not forgotten when the next call (setup) starts with its stop
// requests cleared (that setup ran to its timeout: exit 107 after 5 s instead of 105 at once).
TEST(script_limits_signals, a_sigint_taken_as_a_call_finishes_still_ends_the_run_before_the_load) {
  sigint_blocked blocked;
  temp_dir dir;
  const run_request request = make_request(dir.write("setup_waits.lua", R"lua(
options = { setupTimeout = "5s", iterations = 1 }
function setup() sleep(600) end
function default() end
)lua"), "");
  auto done = std::async(std::launch::async, [&] { return run_scenario(request, dir); });
  kill(getpid(), SIGINT);  // pending before the run starts: taken by the top level's call, or by setup's
  if (done.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: the run did not end\n");
    std::abort();
  }
  const run_result r = done.get();
  EXPECT_EQ(r.exit_code, exit_interrupted) << r.err;
  ASSERT_TRUE(r.has_results()) << r.err;
  const std::string phase(r.root().at("meta").at("aborted").at("phase").as_string());
  EXPECT_TRUE(phase == "init" || phase == "setup") << phase;
}

struct child_run {
  bool exited = false;  // false: killed by a signal (its number in `signal`), e.g. an abort
  int code = -1;
  int signal = 0;
  std::string output;   // stdout and stderr
};

// Runs `request` in a child process, killed after `bound`: a crash or a hang there is a failed test, not a
// dead test binary.
child_run run_in_child(run_request request, std::chrono::seconds bound) {
  child_run out;
  int fds[2];
  if (::pipe(fds) != 0) return out;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    request.quiet = true;
    ::_exit(execute_run(request));
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fds[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
      out.output += "\n(killed: still running after " + std::to_string(bound.count()) + " s)";
      ::kill(pid, SIGKILL);
      break;
    }
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.exited = WIFEXITED(status);
  out.code = out.exited ? WEXITSTATUS(status) : -1;
  out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return out;
}

// `options` with metamethods: reading it runs the script's code. An error there names the option and the
// line (it was raised outside any protected call: Lua's panic, an abort); code that never returns is
// stopped at the init timeout like the top level (it held the run for ever).
TEST(script_limits_options, options_with_metamethods_are_read_protected_and_bounded) {
  temp_dir dir;
  const child_run failing = run_in_child(make_request(dir.write("opts_error.lua", R"lua(
options = setmetatable({}, { __index = function(t, key)
  error("no option " .. key)
end })
function default() end
)lua"), ""), 30s);
  ASSERT_TRUE(failing.exited) << "died of signal " << failing.signal << ":\n" << failing.output;
  EXPECT_EQ(failing.code, exit_invalid_options) << failing.output;
  EXPECT_NE(failing.output.find("reading it raised an error: "), std::string::npos) << failing.output;
  EXPECT_NE(failing.output.find("opts_error.lua:3: no option "), std::string::npos) << failing.output;

  run_request looping = make_request(dir.write("opts_loop.lua", R"lua(
options = setmetatable({}, { __index = function()
  while true do end
end })
function default() end
)lua"), "");
  looping.init_timeout = 500ms;
  const child_run stuck = run_in_child(looping, 30s);
  ASSERT_TRUE(stuck.exited) << "died of signal " << stuck.signal << ":\n" << stuck.output;
  EXPECT_EQ(stuck.code, exit_script_error) << stuck.output;
  EXPECT_NE(stuck.output.find("opts_loop.lua:3: the script's top level did not finish within the init timeout"),
            std::string::npos)
      << stuck.output;
}

// setup, teardown, quiesce and verify had timeouts that CPU-bound code ignored. A stuck teardown, quiesce
// or verify must not throw away the completed load: the results are written, with a note of what was cut.
TEST_F(script_limits, setup_teardown_and_verify_that_never_yield_are_bounded_and_results_kept) {
  run_result r = run_bounded(request_for("setup_spin.lua", R"lua(
options = { setupTimeout = "300ms", iterations = 1 }
function setup() while true do end end
function default() http.get("/hello") end
)lua"), dir_);
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("setup_spin.lua:3: setup() did not finish within its timeout"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(server_.hits("/hello"), 0u);

  r = run_bounded(request_for("teardown_spin.lua", R"lua(
options = { teardownTimeout = "300ms", iterations = 2 }
function default() http.get("/hello") end
function teardown() local x = 0 while true do x = x + 1 end end
)lua"), dir_);
  EXPECT_EQ(r.exit_code, exit_script_error);
  ASSERT_TRUE(r.has_results()) << "the completed load's results were thrown away:\n" << r.err;
  EXPECT_EQ(r.summary_int("requests"), 2);
  const json::object& teardown = only_interruption(r);
  EXPECT_EQ(teardown.at("phase").as_string(), "teardown");
  EXPECT_TRUE(located_at(teardown, "teardown_spin.lua:4")) << json::serialize(teardown);
  EXPECT_NE(r.err.find("teardown_spin.lua:4: teardown() did not finish within its timeout"), std::string::npos) << r.err;

  r = run_bounded(request_for("verify_spin.lua", R"lua(
options = { teardownTimeout = "300ms", iterations = 2 }
function default() http.get("/hello") end
function verify(history) while true do end end
)lua"), dir_);
  EXPECT_EQ(r.exit_code, exit_script_error);
  ASSERT_TRUE(r.has_results()) << r.err;
  EXPECT_EQ(r.summary_int("requests"), 2);
  EXPECT_FALSE(r.root().at("verify").at("ok").as_bool());
  EXPECT_NE(std::string(r.root().at("verify").at("error").as_string())
                .find("verify_spin.lua:4: verify() did not finish within its timeout"),
            std::string::npos);

  // quiesce() that never yields is not quiet in time: recorded, verify() still runs, not a script error.
  r = run_bounded(request_for("quiesce_spin.lua", R"lua(
options = { teardownTimeout = "300ms", iterations = 2 }
function default() http.get("/hello") end
function quiesce() while true do end end
function verify(history) return { { name = "ran", ok = true } } end
)lua"), dir_);
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results()) << r.err;
  EXPECT_EQ(r.summary_int("requests"), 2);
  const json::object& quiesce = r.root().at("quiesce").as_object();
  EXPECT_FALSE(quiesce.at("ok").as_bool());
  EXPECT_NE(std::string(quiesce.at("error").as_string()).find("quiesce_spin.lua:4: quiesce() did not finish within its timeout"),
            std::string::npos)
      << json::serialize(quiesce);
  EXPECT_TRUE(r.root().at("verify").at("ok").as_bool());
  const json::object& stopped = only_interruption(r);
  EXPECT_EQ(stopped.at("phase").as_string(), "quiesce");
  EXPECT_TRUE(located_at(stopped, "quiesce_spin.lua:4")) << json::serialize(stopped);
}

TEST(script_limits_signals, sigint_stops_a_teardown_that_never_yields_and_keeps_the_results) {
  sigint_blocked blocked;
  auto server = std::make_unique<testing::test_server>();
  temp_dir dir;
  const run_request request = make_request(dir.write("teardown_spin.lua", R"lua(
options = { teardownTimeout = "60s", iterations = 3 }
function default() http.get("/hello") end
function teardown()
  http.get("/status/204")
  local t0 = os.clock() while os.clock() - t0 < 0.5 do end while true do end
end
)lua"), server->base_url());
  auto done = std::async(std::launch::async, [&] { return run_scenario(request, dir); });
  // Once the request arrived, teardown spins within a millisecond; a signal that came while it still
  // waited for the response would end it the old way (the event loop), which is fine but not this test.
  EXPECT_TRUE(wait_for_hits(*server, "/status/204", 1));  // (the signal below ends the run either way)
  kill(getpid(), SIGINT);
  if (done.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: SIGINT did not stop teardown\n");
    std::abort();
  }
  const run_result r = done.get();
  server.reset();
  EXPECT_EQ(r.exit_code, exit_interrupted) << r.err;
  ASSERT_TRUE(r.has_results()) << r.err;
  ASSERT_NE(r.step("GET /hello"), nullptr);
  EXPECT_EQ(r.step("GET /hello")->at("requests").to_number<int64_t>(), 3);
  EXPECT_NE(r.err.find("interrupted by a signal"), std::string::npos) << r.err;
  const auto& stops = r.root().at("script_interruptions").as_array();
  if (!stops.empty()) {
    EXPECT_TRUE(located_at(stops.at(0).as_object(), "teardown_spin.lua:6")) << json::serialize(stops);
  }
}

// ---- memory ----

// Current virtual size of this process, in bytes.
size_t virtual_size() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) return static_cast<size_t>(std::stoul(line.substr(7))) * 1024;
  }
  return 0;
}

// The issue's case: a VU allocating without bound ended in an uncaught std::bad_alloc (exit 134, no
// results). In a child process whose address space is capped 1.5 GB above the current one, so that
// without the limit the machine is not the one to run out; the limit makes each such iteration a
// script error at its line, and the run ends normally. (Sanitizers reserve terabytes of address
// space: there the run goes in-process, bounded by the limit alone.)
TEST_F(script_limits, a_vu_allocating_without_bound_gets_a_script_error_not_an_abort) {
  run_request request = request_for("hog.lua", R"lua(
options = { luaMemoryLimit = "64MB", scenarios = { s = { executor = "constant-vus", vus = 1, duration = "1s" } } }
function default()
  local t, chunk = {}, string.rep("x", 100000)
  while true do
    t[#t + 1] = chunk .. #t
  end
end
)lua");
  request.threads = 1;
  const std::string out_path = (dir_.path() / "hog.json").string();
  int code = -1;
  std::string err;
  json::value results;
  if (stampede::testing::rss_bounds_checked) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const size_t cap = virtual_size() + size_t{1536} * 1024 * 1024;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(pipe_fds[1], STDERR_FILENO);
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      rlimit limit{cap, cap};
      if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(200);
      request.out_path = out_path;
      request.quiet = true;
      ::_exit(execute_run(request));
    }
    ::close(pipe_fds[1]);
    char buf[4096];
    for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<size_t>(n));
    ::close(pipe_fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "the run died of signal " << WTERMSIG(status) << ":\n" << err;
    code = WEXITSTATUS(status);
    std::ifstream in(out_path);
    if (in) results = json::parse(std::string(std::istreambuf_iterator<char>(in), {}));
  } else {
    const run_result r = run_bounded(request, dir_);
    code = r.exit_code;
    err = r.err;
    results = r.results;
  }
  EXPECT_EQ(code, exit_ok) << err;
  ASSERT_TRUE(results.is_object()) << "no results written:\n" << err;
  EXPECT_GE(results.at("scenarios").at(0).at("failed_iterations").to_number<int64_t>(), 1);
  EXPECT_NE(err.find("hog.lua:6: the script's memory passed its limit of 64.0 MB"), std::string::npos) << err;
}

// One allocation far past the limit is refused at once; Lua's bare "not enough memory" gets the line.
TEST_F(script_limits, a_huge_single_allocation_is_refused_with_the_line) {
  const run_result r = run_bounded(request_for("huge.lua", R"lua(
options = { luaMemoryLimit = "16MB", iterations = 2 }
function default()
  local s = string.rep("x", 300 * 1024 * 1024)
end
)lua"), dir_);
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 2);
  EXPECT_NE(r.err.find("huge.lua:4: not enough memory: an allocation of 300.0 MB was refused"), std::string::npos)
      << r.err;
}

// At the top level (limit from the command line: the options are read after it) and in setup() (limit
// from the options), running out is a script error at the line: exit 107, never an abort.
TEST_F(script_limits, memory_at_the_top_level_and_in_setup_is_a_script_error_with_the_line) {
  run_request request = request_for("init_hog.lua", "local t = {}\nwhile true do t[#t + 1] = string.rep('y', 1000) .. #t end\n");
  request.lua_memory_limit = 32 * 1024 * 1024;
  run_result r = run_bounded(request, dir_);
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("init_hog.lua:2: the script's memory passed its limit of 32.0 MB"), std::string::npos) << r.err;

  r = run_bounded(request_for("setup_hog.lua", R"lua(
options = { luaMemoryLimit = "32MB", iterations = 1 }
function setup()
  local t = {}
  while true do t[#t + 1] = string.rep("z", 1000) .. #t end
end
function default() end
)lua"), dir_);
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("setup_hog.lua:5: the script's memory passed its limit of 32.0 MB"), std::string::npos)
      << r.err;
}

TEST_F(script_limits, a_bad_memory_limit_is_refused_naming_the_option) {
  for (const char* value : {"'lots'", "'10KB'", "0", "true"}) {
    const run_result r = run_scenario(
        request_for("bad_limit.lua", "options = { luaMemoryLimit = " + std::string(value) + " }\nfunction default() end\n"),
        dir_);
    EXPECT_EQ(r.exit_code, exit_invalid_options) << value;
    EXPECT_NE(r.err.find("options.luaMemoryLimit"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace stampede::loadgen
