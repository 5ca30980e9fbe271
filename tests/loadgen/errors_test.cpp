// Errors and exit codes of `stampede run` (run.h): script errors, invalid options, thresholds, bad
// flags and an unreachable target. The scripts are tiny, so each test writes its own.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "loadgen/cli.h"
#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::temp_dir;

class run_errors : public ::testing::Test {
 protected:
  run_result run_script(std::string_view name, std::string_view text) {
    return run_scenario(make_request(dir_.write(name, text), server_.base_url()), dir_);
  }

  // run_command with "run" and `args`, capturing stderr.
  std::pair<int, std::string> run_cli(std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = run_command(std::span<char* const>(argv.data(), argv.size()));
    std::string err = ::testing::internal::GetCapturedStderr();
    ::testing::internal::GetCapturedStdout();
    return {code, err};
  }

  testing::test_server server_;
  temp_dir dir_;
};

TEST_F(run_errors, syntax_error_exits_107_naming_file_and_line) {
  const auto r = run_script("broken.lua",
                            "options = { iterations = 1 }\n"
                            "function default()\n"
                            "  local x = = 1\n"
                            "end\n");
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("broken.lua:3:"), std::string::npos) << r.err;
  EXPECT_FALSE(r.has_results());  // nothing ran
  EXPECT_EQ(server_.total_hits(), 0u);
}

TEST_F(run_errors, runtime_error_at_the_top_level_exits_107) {
  const auto r = run_script("init_error.lua",
                            "local config = nil\n"
                            "local port = config.port\n"
                            "function default() end\n");
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("init_error.lua:2:"), std::string::npos) << r.err;
}

TEST_F(run_errors, missing_file_opened_at_init_exits_107) {
  const auto r =
      run_script("open_missing.lua", "local data = open('no-such-file.csv')\nfunction default() end\n");
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("no-such-file.csv"), std::string::npos) << r.err;
}

TEST_F(run_errors, http_at_the_top_level_exits_107_explaining_why) {
  const auto r = run_script("init_http.lua", "local res = http.get('/hello')\nfunction default() end\n");
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("init_http.lua:1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("only be called inside VU code"), std::string::npos) << r.err;
  EXPECT_EQ(server_.total_hits(), 0u);
}

TEST_F(run_errors, error_in_setup_exits_107) {
  const auto r = run_script("setup_error.lua",
                            "function setup()\n"
                            "  error('setup went wrong')\n"
                            "end\n"
                            "function default() http.get('/hello') end\n");
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("setup went wrong"), std::string::npos) << r.err;
  EXPECT_EQ(server_.hits("/hello"), 0u);  // the load never started
}

// Runs the scenario on another thread; a run that outlives `bound` aborts the test binary rather than
// hanging the suite (the run cannot be cancelled from outside).
run_result run_bounded(const run_request& request, const temp_dir& dir, std::chrono::seconds bound) {
  auto done = std::async(std::launch::async, [&] { return run_scenario(request, dir); });
  if (done.wait_for(bound) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: the run did not finish within %lld s\n",
                 static_cast<long long>(bound.count()));
    std::abort();
  }
  return done.get();
}

TEST_F(run_errors, setup_and_teardown_that_never_return_are_bounded_by_their_timeouts) {
  // Each loops on requests that complete at once: the timeout must still end it.
  const std::string setup = dir_.write("setup_loop.lua",
                                       "options = { setupTimeout = '300ms', iterations = 1 }\n"
                                       "function setup() while true do http.get('/status/503') end end\n"
                                       "function default() http.get('/hello') end\n");
  auto r = run_bounded(make_request(setup, server_.base_url()), dir_, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("setup() did not finish within its timeout"), std::string::npos) << r.err;
  EXPECT_GT(server_.hits("/status/503"), 0u);
  EXPECT_EQ(server_.hits("/hello"), 0u);

  const std::string teardown =
      dir_.write("teardown_loop.lua",
                 "options = { teardownTimeout = '300ms', iterations = 1 }\n"
                 "function default() http.get('/hello') end\n"
                 "function teardown() while true do http.get('/status/204') end end\n");
  r = run_bounded(make_request(teardown, server_.base_url()), dir_, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, exit_script_error);
  EXPECT_NE(r.err.find("teardown() did not finish within its timeout"), std::string::npos) << r.err;
  EXPECT_EQ(server_.hits("/hello"), 1u);
}

TEST_F(run_errors, error_inside_an_iteration_is_counted_and_the_run_completes) {
  const auto r = run_script("iteration_error.lua",
                            "options = { iterations = 5 }\n"
                            "function default()\n"
                            "  http.get('/hello')\n"
                            "  local t = nil\n"
                            "  return t.field\n"
                            "end\n");
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  EXPECT_EQ(r.scenario().at("iterations").to_number<int64_t>(), 5);
  EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 5);
  EXPECT_EQ(server_.hits("/hello"), 5u);
  EXPECT_NE(r.err.find("5x"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("iteration_error.lua:5:"), std::string::npos) << r.err;
}

TEST_F(run_errors, throw_option_aborts_on_the_first_iteration_error_with_108) {
  const auto r = run_script("throw.lua",
                            "options = { throw = true, vus = 1, duration = '10s' }\n"
                            "function default()\n"
                            "  http.get('/hello')\n"
                            "  if vu.iteration == 1 then error('stop here') end\n"
                            "end\n");
  EXPECT_EQ(r.exit_code, exit_script_abort) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_LT(r.root().at("meta").at("duration_s").to_number<double>(), 5.0);
  const auto& aborted = r.root().at("meta").at("aborted");
  ASSERT_TRUE(aborted.is_object());
  EXPECT_EQ(aborted.at("reason").as_string(), "script");
  EXPECT_NE(std::string(aborted.at("detail").as_string()).find("stop here"), std::string::npos);
}

TEST_F(run_errors, unknown_option_exits_104_naming_it) {
  auto r = run_script("unknown.lua", "options = { vuz = 2 }\nfunction default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.vuz: unknown option (did you mean 'vus'?)"), std::string::npos) << r.err;

  r = run_script(
      "unknown_nested.lua",
      "options = { scenarios = { main = { executor = 'constant-vus', duration = '1s', vu = 2 } } }\n"
      "function default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.scenarios.main.vu: unknown option (did you mean 'vus'?)"), std::string::npos)
      << r.err;

  r = run_script("unknown_far.lua", "options = { redirects = 3 }\nfunction default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.redirects: unknown option\n"), std::string::npos)
      << r.err;  // no far-fetched hint
}

TEST_F(run_errors, bad_values_exit_104_naming_the_option) {
  auto r = run_script("bad_type.lua", "options = { vus = 'many' }\nfunction default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.vus"), std::string::npos) << r.err;

  r = run_script("missing_rate.lua",
                 "options = { scenarios = { buy = { executor = 'constant-arrival-rate', duration = '1s',\n"
                 "                                  preAllocatedVUs = 1 } } }\n"
                 "function default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.scenarios.buy.rate: required for constant-arrival-rate"), std::string::npos)
      << r.err;

  r = run_script("bad_duration.lua",
                 "options = { vus = 1, duration = '10 parsecs' }\nfunction default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.duration"), std::string::npos) << r.err;

  // A closed scenario without VUs or iterations would do nothing and pass.
  r = run_script(
      "no_vus.lua",
      "options = { scenarios = { main = { executor = 'shared-iterations', vus = 0, iterations = 5 } } }\n"
      "function default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.scenarios.main.vus: must be at least 1"), std::string::npos) << r.err;
  r = run_script(
      "no_iterations.lua",
      "options = { scenarios = { main = { executor = 'per-vu-iterations', vus = 2, iterations = 0 } } }\n"
      "function default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.scenarios.main.iterations: must be at least 1"), std::string::npos) << r.err;

  r = run_script("bad_threshold.lua",
                 "options = { thresholds = { http_req_duration = { 'p(99) <<< 5' } } }\n"
                 "function default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("http_req_duration"), std::string::npos) << r.err;
}

TEST_F(run_errors, bad_executor_exits_104) {
  const auto r =
      run_script("bad_executor.lua",
                 "options = { scenarios = { main = { executor = 'constant-vuss', duration = '1s' } } }\n"
                 "function default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("options.scenarios.main.executor: unknown executor 'constant-vuss'"),
            std::string::npos)
      << r.err;
}

TEST_F(run_errors, missing_exec_function_exits_104) {
  auto r =
      run_script("missing_exec.lua",
                 "options = { scenarios = { main = { executor = 'shared-iterations', exec = 'browse' } } }\n"
                 "function default() end\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("no function 'browse'"), std::string::npos) << r.err;

  r = run_script("no_default.lua", "options = { iterations = 1 }\n");
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("no function 'default'"), std::string::npos) << r.err;
  EXPECT_EQ(server_.total_hits(), 0u);
}

TEST_F(run_errors, crossed_thresholds_exit_99) {
  const std::string script =
      dir_.write("thresholds.lua",
                 "options = { iterations = 4,\n"
                 "  thresholds = { http_req_failed = { 'rate<0.5' }, http_reqs = { 'count>=4' } } }\n"
                 "function default() http.get('/status/500') end\n");
  auto r = run_scenario(make_request(script, server_.base_url()), dir_);
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err;
  ASSERT_TRUE(r.has_results());
  const auto& thresholds = r.root().at("thresholds").as_array();
  ASSERT_EQ(thresholds.size(), 2u);
  for (const auto& t : thresholds) {
    if (t.at("metric").as_string() == "http_req_failed") {
      EXPECT_FALSE(t.at("ok").as_bool());
      EXPECT_DOUBLE_EQ(t.at("observed").to_number<double>(), 1.0);
    } else {
      EXPECT_TRUE(t.at("ok").as_bool());
      EXPECT_DOUBLE_EQ(t.at("observed").to_number<double>(), 4.0);
    }
  }
  // --no-thresholds: the same run passes.
  auto request = make_request(script, server_.base_url());
  request.no_thresholds = true;
  r = run_scenario(request, dir_);
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  EXPECT_TRUE(r.root().at("thresholds").as_array().empty());
}

TEST_F(run_errors, bad_command_line_flags_exit_2_naming_the_flag) {
  const std::string script = dir_.write("ok.lua", "function default() end\n");
  auto [code, err] = run_cli({script, "--bogus"});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("--bogus"), std::string::npos) << err;

  std::tie(code, err) = run_cli({script, "--treads", "2"});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("unknown flag '--treads' (did you mean '--threads'?)"), std::string::npos) << err;
  std::tie(code, err) = run_cli({script, "--unsafe-lu"});  // the script limits' flags are candidates too
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("unknown flag '--unsafe-lu' (did you mean '--unsafe-lua'?)"), std::string::npos) << err;
  std::tie(code, err) = run_cli({script, "--lua-memory-limt", "1GB"});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("(did you mean '--lua-memory-limit'?)"), std::string::npos) << err;

  std::tie(code, err) = run_cli({script, "--vus", "zero"});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("--vus"), std::string::npos) << err;

  std::tie(code, err) = run_cli({script, "--duration", "forever"});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("--duration"), std::string::npos) << err;

  std::tie(code, err) = run_cli({script, "--shard", "2/2"});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("--shard"), std::string::npos) << err;

  std::tie(code, err) = run_cli({script, "--threads"});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("--threads: needs a value"), std::string::npos) << err;

  std::tie(code, err) = run_cli({(dir_.path() / "absent.lua").string()});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("absent.lua"), std::string::npos) << err;

  std::tie(code, err) = run_cli({"--help"});
  EXPECT_EQ(code, exit_ok);
  EXPECT_EQ(server_.total_hits(), 0u);
}

TEST_F(run_errors, command_line_flags_override_the_scenario) {
  const std::string script = dir_.write("flags.lua",
                                        "options = { vus = 5, duration = '1m' }\n"
                                        "function default() http.get('/counter') end\n");
  const std::string out = (dir_.path() / "flags.json").string();
  auto [code, err] = run_cli({script, "-q", "--target", server_.base_url(), "--iterations", "7", "--vus", "2",
                              "--threads", "1", "--seed", "3", "-e", "A=b", "--out", out});
  ASSERT_EQ(code, exit_ok) << err;
  EXPECT_EQ(server_.hits("/counter"), 7u);
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  const auto results = json::parse(text.str());
  EXPECT_EQ(results.at("meta").at("seed").to_number<int64_t>(), 3);
  EXPECT_EQ(results.at("meta").at("env").at("A").as_string(), "b");
  EXPECT_EQ(results.at("scenarios").at(0).at("executor").as_string(), "shared-iterations");
  EXPECT_EQ(results.at("scenarios").at(0).at("vus_max").to_number<int64_t>(), 2);
}

TEST_F(run_errors, unreachable_target_finishes_with_connect_refused_errors) {
  const std::string target = "http://127.0.0.1:" + std::to_string(test::closed_port());
  const std::string script =
      dir_.write("refused.lua",
                 "options = { iterations = 6, vus = 2 }\n"
                 "function default()\n"
                 "  local res = http.get('/x')\n"
                 "  check(res, { ['no response'] = function(r) return r.status == 0 end })\n"
                 "end\n");
  const auto r = run_scenario(make_request(script, target), dir_);
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  EXPECT_EQ(r.summary_int("requests"), 6);
  EXPECT_EQ(r.summary_int("errors"), 6);
  EXPECT_EQ(r.summary().at("errors_by_kind").at("connect_refused").to_number<int64_t>(), 6);
  EXPECT_EQ(r.summary().at("status_classes").at("none").to_number<int64_t>(), 6);
  EXPECT_DOUBLE_EQ(r.summary().at("error_rate").to_number<double>(), 1.0);
  EXPECT_EQ(r.check("no response"), (std::pair<int64_t, int64_t>{6, 0}));
  EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 0);
}

// ---- exit precedence (run.h exit_code; README "Exit codes") ----

TEST(exit_code, one_precedence_over_every_combination) {
  // 98 invariant > 107 script error > 108 aborted by the script > 105 interrupted > 99 thresholds > 0.
  for (int bits = 0; bits < 32; ++bits) {
    run_outcome o;
    o.invariant_failed = (bits & 1) != 0;
    o.script_error = (bits & 2) != 0;
    o.script_aborted = (bits & 4) != 0;
    o.interrupted = (bits & 8) != 0;
    o.thresholds_crossed = (bits & 16) != 0;
    const int expected = o.invariant_failed     ? 98
                         : o.script_error       ? 107
                         : o.script_aborted     ? 108
                         : o.interrupted        ? 105
                         : o.thresholds_crossed ? 99
                                                : 0;
    EXPECT_EQ(exit_code(o), expected) << "combination " << bits;
  }
  EXPECT_EQ(exit_invariant_failed, 98);
  EXPECT_EQ(exit_script_error, 107);
  EXPECT_EQ(exit_script_abort, 108);
  EXPECT_EQ(exit_interrupted, 105);
  EXPECT_EQ(exit_thresholds_crossed, 99);
}

// verify() that reports lost orders, with evidence; `extra` adds to the script.
std::string losing_orders_script(std::string_view options, std::string_view extra = "") {
  return "options = " + std::string(options) +
         "\n"
         "function default() http.get('/status/500') " +
         std::string(extra) +
         " end\n"
         "function verify(history)\n"
         "  return { { name = 'stock within bounds', ok = true, detail = '3 counters within bounds' },\n"
         "           { name = 'acknowledged orders exist', ok = false, detail = '2 of 5 lost',\n"
         "             evidence = { lost = { 'order-17', 'order-42' } } } }\n"
         "end\n";
}

TEST_F(run_errors, a_failed_invariant_wins_over_a_crossed_threshold_and_is_printed_with_its_evidence) {
  const auto r = run_script(
      "lost_and_slow.lua",
      losing_orders_script("{ iterations = 2, thresholds = { http_req_failed = { 'rate<0.5' } } }"));
  EXPECT_EQ(r.exit_code, exit_invariant_failed) << r.err;  // 98, not 99: the game day lost orders
  ASSERT_TRUE(r.has_results());
  EXPECT_FALSE(r.root().at("thresholds").at(0).at("ok").as_bool());  // the threshold did fail
  EXPECT_FALSE(r.root().at("verify").at("ok").as_bool());
  // On the terminal, as drill prints them: each invariant, and the failed one's evidence.
  EXPECT_NE(r.out.find("INVARIANTS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\u2713 stock within bounds: 3 counters within bounds"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\u2717 acknowledged orders exist: 2 of 5 lost"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("evidence: {\"lost\":[\"order-17\",\"order-42\"]}"), std::string::npos) << r.out;
}

TEST_F(run_errors, a_failed_invariant_wins_over_a_script_abort) {
  const auto r = run_script("lost_and_aborted.lua", losing_orders_script("{ vus = 1, duration = '10s' }",
                                                                         "stampede.abort('enough')"));
  EXPECT_EQ(r.exit_code, exit_invariant_failed) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_EQ(r.root().at("meta").at("aborted").at("reason").as_string(), "script");
}

TEST_F(run_errors, a_script_error_in_teardown_wins_over_abort_and_thresholds) {
  const auto r = run_script(
      "teardown_error.lua",
      "options = { vus = 1, duration = '10s', thresholds = { http_req_failed = { 'rate<0.5' } } }\n"
      "function default() http.get('/status/500') stampede.abort('enough') end\n"
      "function teardown() error('teardown broke') end\n");
  EXPECT_EQ(r.exit_code, exit_script_error) << r.err;
  EXPECT_NE(r.err.find("teardown broke"), std::string::npos) << r.err;
}

TEST_F(run_errors, a_script_abort_wins_over_a_crossed_threshold) {
  const auto r = run_script(
      "aborted_and_slow.lua",
      "options = { vus = 1, duration = '10s', thresholds = { http_req_failed = { 'rate<0.5' } } }\n"
      "function default() http.get('/status/500') stampede.abort('enough') end\n");
  EXPECT_EQ(r.exit_code, exit_script_abort) << r.err;
  EXPECT_NE(r.out.find("ABORTED: enough"), std::string::npos) << r.out;
}

// A teardown that overruns its timeout after the load was aborted is reported as a timeout (the abort
// used to hide it: the special call's timeout shared the abort flag).
TEST_F(run_errors, a_teardown_timeout_after_an_abort_is_reported_as_a_timeout) {
  const std::string script =
      dir_.write("abort_then_slow_teardown.lua",
                 "options = { vus = 1, duration = '10s', teardownTimeout = '300ms' }\n"
                 "function default() http.get('/hello') stampede.abort('enough') end\n"
                 "function teardown() while true do http.get('/status/204') end end\n");
  const auto r = run_bounded(make_request(script, server_.base_url()), dir_, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, exit_script_error) << r.err;
  EXPECT_NE(r.err.find("teardown() did not finish within its timeout"), std::string::npos) << r.err;
}

// The coordinator's request to stop the load must not reach teardown() when it comes late (it used to
// wait in the worker's queue and cut teardown short at once, as if it had timed out).
TEST_F(run_errors, teardown_runs_to_its_end_after_the_script_aborted_the_load) {
  const auto r = run_script("abort_then_teardown.lua",
                            "options = { vus = 2, duration = '10s' }\n"
                            "function default() http.get('/hello') stampede.abort('enough') end\n"
                            "function teardown()\n"
                            "  for i = 1, 3 do http.get('/counter') sleep(0.05) end\n"
                            "end\n");
  EXPECT_EQ(r.exit_code, exit_script_abort) << r.err;
  EXPECT_EQ(r.err.find("teardown() "), std::string::npos) << r.err;
  EXPECT_EQ(server_.hits("/counter"), 3u);
}

}  // namespace
}  // namespace stampede::loadgen
