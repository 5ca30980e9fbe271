// The scenario Lua API end to end: scenarios/api.lua runs one case per test against the test server
// and reports what it observed through check(); the test asserts on the checks, on the results JSON
// and on what the server saw.
#include <gtest/gtest.h>

#include <set>

#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::scenario;
using test::temp_dir;

class lua_api : public ::testing::Test {
 protected:
  run_result run_case(const std::string& name, std::map<std::string, std::string> env = {}, int threads = 1,
                      uint64_t seed = 1) {
    env["CASE"] = name;
    env.try_emplace("TARGET", server_.base_url());
    run_request request = make_request(script_, server_.base_url(), std::move(env));
    request.threads = threads;
    request.seed = seed;
    return run_scenario(request, dir_);
  }

  // The run succeeded, no iteration failed, and exactly `expected` distinct checks were recorded,
  // every one of them passing.
  static void expect_all_checks_passed(const run_result& r, size_t expected) {
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(r.has_results());
    EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 0) << r.err;
    const auto checks = r.checks();
    EXPECT_EQ(checks.size(), expected) << r.err;
    for (const auto& [name, counts] : checks) {
      EXPECT_GT(counts.first, 0) << name;
      EXPECT_EQ(counts.second, 0) << "failed check: " << name;
    }
  }

  testing::test_server server_;
  temp_dir dir_;
  std::string script_ = scenario("api.lua");
};

TEST_F(lua_api, http_methods_reach_the_server_with_their_bodies) {
  const auto r = run_case("methods");
  expect_all_checks_passed(r, 23);
  EXPECT_EQ(server_.hits("/echo"), 10u);
  EXPECT_EQ(server_.hits("/hello"), 1u);
  // Default step names: method and path without the query.
  for (const char* name : {"GET /echo", "POST /echo", "PUT /echo", "PATCH /echo", "DELETE /echo",
                           "OPTIONS /echo", "HEAD /hello"}) {
    EXPECT_NE(r.step(name), nullptr) << name;
  }
  EXPECT_EQ(r.step("PUT /echo")->at("requests").to_number<int64_t>(), 2);
}

TEST_F(lua_api, params_json_form_headers_name_and_absolute_urls) {
  const auto r = run_case("params");
  expect_all_checks_passed(r, 13);
  EXPECT_EQ(server_.hits("/counter"), 1u);
  // params.name replaces the default step name.
  EXPECT_NE(r.step("named hello"), nullptr);
  EXPECT_EQ(r.step("GET /hello"), nullptr);
  // An absolute URL is named by its path like a relative one.
  EXPECT_NE(r.step("GET /counter"), nullptr);
}

TEST_F(lua_api, the_timeout_covers_the_wait_for_a_free_connection) {
  const auto r = run_case("pool_wait_timeout");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto checks = r.checks();
  ASSERT_EQ(checks.size(), 3u) << r.err;
  for (const auto& [name, counts] : checks) EXPECT_EQ(counts.second, 0) << "failed check: " << name;
  EXPECT_EQ(server_.hits("/hello"), 0u);  // it never got a connection
}

TEST_F(lua_api, an_empty_user_agent_option_sends_no_user_agent_header) {
  expect_all_checks_passed(run_case("no_user_agent"), 2);
}

TEST_F(lua_api, response_fields_and_errors) {
  const auto r = run_case("response", {{"CLOSED_PORT", std::to_string(test::closed_port())}});
  expect_all_checks_passed(r, 21);
  const auto& errors = r.summary().at("errors_by_kind").as_object();
  EXPECT_EQ(errors.at("connect_refused").to_number<int64_t>(), 1);
  EXPECT_EQ(errors.at("status_4xx").to_number<int64_t>(), 1);
  EXPECT_EQ(errors.at("status_5xx").to_number<int64_t>(), 1);
  EXPECT_EQ(r.summary_int("errors"), 3);
  EXPECT_EQ(r.summary_int("requests"), 6);
  EXPECT_EQ(r.summary().at("status_classes").at("none").to_number<int64_t>(), 1);
}

TEST_F(lua_api, params_timeout_ends_slow_requests_as_read_timeout) {
  const auto r = run_case("timeout_case");
  expect_all_checks_passed(r, 4);
  EXPECT_EQ(r.summary().at("errors_by_kind").at("read_timeout").to_number<int64_t>(), 2);
  // Two requests cut at 200 ms and 100 ms, not after the server's 3 s.
  EXPECT_LT(r.root().at("meta").at("duration_s").to_number<double>(), 1.5);
  const auto* step = r.step("GET /delay");
  ASSERT_NE(step, nullptr);
  EXPECT_GE(step->at("uncorrected_latency_ms").at("max").to_number<double>(), 195.0);
  EXPECT_LT(step->at("uncorrected_latency_ms").at("max").to_number<double>(), 1000.0);
}

TEST_F(lua_api, cookies_are_kept_per_vu) {
  const auto r = run_case("cookies", {{"VUS", "2"}, {"ITERATIONS", "2"}});
  expect_all_checks_passed(r, 8);
  EXPECT_EQ(server_.hits("/set-cookie"), 2u);
}

TEST_F(lua_api, connection_close_is_followed_by_a_fresh_connection) {
  const auto r = run_case("close_case");
  expect_all_checks_passed(r, 6);
  EXPECT_EQ(r.summary_int("errors"), 0);
  EXPECT_EQ(server_.hits("/close"), 3u);
  EXPECT_EQ(server_.hits("/hello"), 3u);
}

TEST(lua_api_keep_alive, requests_after_the_server_closed_an_idle_connection_succeed) {
  testing::test_server server(http::server_options{.idle_timeout = std::chrono::milliseconds(100)});
  temp_dir dir;
  auto request = make_request(scenario("api.lua"), server.base_url(), {{"CASE", "stale_case"}});
  const auto r = run_scenario(request, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.summary_int("errors"), 0) << r.failed_checks();
  EXPECT_EQ(r.failed_checks(), "");
  EXPECT_EQ(r.checks().size(), 6u);
  EXPECT_EQ(server.hits("/echo"), 6u);
}

TEST_F(lua_api, discard_response_bodies_keeps_status_and_headers) {
  const auto r = run_case("discard_case");
  expect_all_checks_passed(r, 3);
  EXPECT_GT(r.summary_int("data_received_bytes"), 615);  // received, just not kept
}

TEST_F(lua_api, sleep_shows_in_iteration_duration) {
  const auto r = run_case("sleep_case", {{"ITERATIONS", "3"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.scenario().at("iterations").to_number<int64_t>(), 3);
  const auto& thresholds = r.root().at("thresholds").as_array();
  ASSERT_EQ(thresholds.size(), 2u);
  for (const auto& t : thresholds) {
    EXPECT_TRUE(t.at("ok").as_bool()) << json::serialize(t);
    const double observed = t.at("observed").to_number<double>();
    EXPECT_GE(observed, 195.0);
    EXPECT_LT(observed, 600.0);
  }
  EXPECT_GE(r.root().at("meta").at("duration_s").to_number<double>(), 0.6);
}

TEST_F(lua_api, checks_are_counted_per_name_and_group_and_groups_are_timed) {
  const auto r = run_case("checks_groups", {{"ITERATIONS", "3"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.check("is one"), (std::pair<int64_t, int64_t>{3, 0}));
  EXPECT_EQ(r.check("is two"), (std::pair<int64_t, int64_t>{0, 3}));
  EXPECT_EQ(r.check("raising predicate"), (std::pair<int64_t, int64_t>{0, 3}));
  EXPECT_EQ(r.check("five"), (std::pair<int64_t, int64_t>{3, 0}));
  EXPECT_EQ(r.check("inside outer", "::outer"), (std::pair<int64_t, int64_t>{3, 0}));
  EXPECT_EQ(r.check("inside inner", "::outer::inner"), (std::pair<int64_t, int64_t>{0, 3}));
  EXPECT_EQ(r.check("inside outer"), std::nullopt);  // reported under its group only
  EXPECT_EQ(r.check("check returns true when all pass"), (std::pair<int64_t, int64_t>{3, 0}));
  EXPECT_EQ(r.check("group returns the function's values"), (std::pair<int64_t, int64_t>{3, 0}));
  EXPECT_EQ(r.summary().at("errors_by_kind").at("check_failed").to_number<int64_t>(), 9);

  for (const char* name : {"::outer", "::outer::inner"}) {
    const auto* step = r.step(name);
    ASSERT_NE(step, nullptr) << name;
    EXPECT_EQ(step->at("kind").as_string(), "group");
    EXPECT_EQ(step->at("requests").to_number<int64_t>(), 3);
    EXPECT_GE(step->at("uncorrected_latency_ms").at("min").to_number<double>(), 49.0) << name;
    EXPECT_LT(step->at("uncorrected_latency_ms").at("max").to_number<double>(), 500.0) << name;
  }
  EXPECT_NE(r.step("::value"), nullptr);
  EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 0);
}

TEST_F(lua_api, fail_counts_the_iteration_and_the_run_goes_on) {
  const auto r = run_case("fail_case", {{"ITERATIONS", "4"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.scenario().at("iterations").to_number<int64_t>(), 4);
  EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 2);
  EXPECT_EQ(server_.hits("/hello"), 2u);  // iterations 1 and 3 went past fail()
  // Reported once, grouped, with the script's file:line.
  EXPECT_NE(r.err.find("2x"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("api.lua:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("deliberate failure"), std::string::npos) << r.err;
}

TEST_F(lua_api, json_encode_decode_round_trips) { expect_all_checks_passed(run_case("json_case"), 19); }

TEST_F(lua_api, open_at_init_and_csv_parse) {
  const std::string csv = dir_.write("users.csv",
                                     "name,password\n"
                                     "alice,s3cret\n"
                                     "\"bob, jr.\",pw2\n"
                                     "\"carol \"\"cc\"\"\",\"multi\nline\"\n");
  // Scenarios read files in their own folder only (the sandbox): run a copy of api.lua next to the CSV.
  std::filesystem::copy_file(scenario("api.lua"), dir_.path() / "api.lua");
  script_ = (dir_.path() / "api.lua").string();
  expect_all_checks_passed(run_case("csv_case", {{"USERS_CSV", csv}}), 9);
}

TEST_F(lua_api, env_values_from_the_command_line) {
  const auto r = run_case("env_case", {{"GREETING", "hello world"}});
  expect_all_checks_passed(r, 2);
  EXPECT_EQ(r.root().at("meta").at("env").at("GREETING").as_string(), "hello world");
}

TEST_F(lua_api, vu_id_and_iteration_are_unique_across_threads) {
  const auto r = run_case("ids", {{"VUS", "4"}, {"ITERATIONS", "2"}}, /*threads=*/2);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> expected;
  for (int id = 1; id <= 4; ++id) {
    for (int iteration = 0; iteration < 2; ++iteration) {
      expected.insert("vu " + std::to_string(id) + " iteration " + std::to_string(iteration) +
                      " scenario main");
    }
  }
  std::set<std::string> seen;
  for (const auto& [name, counts] : r.checks()) {
    seen.insert(name);
    EXPECT_EQ(counts.first, 1) << name;
  }
  EXPECT_EQ(seen, expected);
}

TEST_F(lua_api, math_random_is_reproducible_per_seed_and_differs_across_vus) {
  auto draws = [&](uint64_t seed) {
    const auto r = run_case("random_case", {{"VUS", "2"}}, 1, seed);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, std::string> by_vu;  // "vu 1" -> its draws
    for (const auto& [name, counts] : r.checks()) {
      const size_t split = name.find(" random ");
      by_vu[name.substr(0, split)] = name.substr(split + 8);
    }
    return by_vu;
  };
  const auto first = draws(7);
  const auto second = draws(7);
  const auto other_seed = draws(8);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first, second);                       // same seed, same sequence per VU
  EXPECT_NE(first.at("vu 1"), first.at("vu 2"));  // VUs draw different numbers
  ASSERT_EQ(other_seed.size(), 2u);
  EXPECT_NE(first.at("vu 1"), other_seed.at("vu 1"));  // another seed, another sequence
}

TEST_F(lua_api, setup_data_reaches_vus_and_teardown) {
  const auto r = run_case("setup_teardown", {{"VUS", "2"}});
  expect_all_checks_passed(r, 3);
  EXPECT_EQ(r.check("data token")->first, 2);
  EXPECT_EQ(server_.hits("/setup-marker"), 1u);        // setup() ran once
  EXPECT_EQ(server_.hits("/teardown/tok-404/3"), 1u);  // teardown(data) ran once, with setup's data
  EXPECT_EQ(server_.hits("/hello"), 2u);
}

TEST_F(lua_api, each_vu_and_teardown_get_their_own_copy_of_setup_data) {
  const auto r = run_case("setup_copy", {{"VUS", "2"}});  // one thread: both VUs share a Lua state
  expect_all_checks_passed(r, 1);
  EXPECT_EQ(server_.hits("/teardown/tok-404/3"), 1u);  // teardown saw setup's data, unchanged
}

TEST_F(lua_api, globals_assigned_in_a_vu_are_private_to_it) {
  const auto r = run_case("isolation", {{"VUS", "2"}});
  expect_all_checks_passed(r, 3);
  EXPECT_EQ(r.check("own global kept")->first, 2);
}

TEST_F(lua_api, stampede_abort_stops_the_run_with_exit_108) {
  const auto r = run_case("abort_case");
  EXPECT_EQ(r.exit_code, exit_script_abort) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_LT(r.root().at("meta").at("duration_s").to_number<double>(), 5.0);  // not the planned 10 s
  const auto& aborted = r.root().at("meta").at("aborted");
  ASSERT_TRUE(aborted.is_object());
  EXPECT_EQ(aborted.at("reason").as_string(), "script");
  EXPECT_EQ(aborted.at("detail").as_string(), "enough");
  EXPECT_GE(r.scenario().at("iterations").to_number<int64_t>(), 3);
}

}  // namespace
}  // namespace stampede::loadgen
