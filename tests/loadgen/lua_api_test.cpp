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

TEST_F(lua_api, a_vus_copy_of_setup_data_is_decoded_once_and_kept_for_its_iterations) {
  const auto r = run_case("setup_kept", {{"VUS", "2"}, {"ITERATIONS", "3"}});  // one thread, one Lua state
  expect_all_checks_passed(r, 2);
  EXPECT_EQ(r.check("a vu's copy keeps its own changes")->first, 6);
  EXPECT_EQ(server_.hits("/teardown/tok-404/3"), 1u);  // teardown gets setup's data, not a VU's copy
}

TEST_F(lua_api, globals_assigned_in_a_vu_are_private_to_it) {
  const auto r = run_case("isolation", {{"VUS", "2"}});
  expect_all_checks_passed(r, 3);
  EXPECT_EQ(r.check("own global kept")->first, 2);
}

TEST_F(lua_api, the_vu_table_and_private_globals_made_at_first_use_are_current) {
  const auto r = run_case("lazy_vu", {{"VUS", "2"}, {"ITERATIONS", "3"}}, /*threads=*/2);
  expect_all_checks_passed(r, 2);
  EXPECT_EQ(r.check("vu made late has the current iteration")->first, 2);
  EXPECT_EQ(r.check("vu stays one table with its own id")->first, 2);
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

// ---- request parameters and res:json(selector): a mistake stops the run at once ----

class script_mistakes : public ::testing::Test {
 protected:
  run_result run_script(std::string_view name, std::string_view text, std::string target = "",
                        int threads = 1) {
    run_request request = make_request(dir_.write(name, text), target);
    request.threads = threads;
    return run_scenario(request, dir_);
  }

  // The run stopped at the first occurrence with exit 107, naming file:line and `message` at once
  // (before the summary: the coordinator prints it when the worker stops) and in meta.aborted.
  static void expect_stopped_by(const run_result& r, const std::string& where, const std::string& message) {
    EXPECT_EQ(r.exit_code, exit_script_error) << r.err;
    const size_t line = r.err.find("stampede: script error: ");
    ASSERT_NE(line, std::string::npos) << r.err;
    const std::string first = r.err.substr(line, r.err.find('\n', line) - line);
    EXPECT_NE(first.find(where + " " + message), std::string::npos) << r.err;  // the script's file:line
    ASSERT_TRUE(r.has_results()) << r.err;
    const auto& aborted = r.root().at("meta").at("aborted");
    ASSERT_TRUE(aborted.is_object()) << r.err;
    EXPECT_EQ(aborted.at("reason").as_string(), "script_error");
    EXPECT_NE(std::string(aborted.at("detail").as_string()).find(message), std::string::npos);
    // Not 10 s of failing iterations: a few at most, one per VU already inside an iteration.
    EXPECT_LT(r.root().at("meta").at("duration_s").to_number<double>(), 5.0);
    EXPECT_LE(r.scenario().at("failed_iterations").to_number<int64_t>(), 4);
  }

  testing::test_server server_;
  temp_dir dir_;
};

TEST_F(script_mistakes, a_relative_url_without_a_target_stops_the_run_with_107) {
  for (const int threads : {1, 2}) {
    SCOPED_TRACE(std::to_string(threads) + " thread(s)");
    const auto r = run_script("no_target.lua",
                              "options = { vus = 2, duration = '10s' }\n"
                              "function default()\n"
                              "  http.get('/hello')\n"
                              "end\n",
                              "", threads);
    expect_stopped_by(r, "no_target.lua:3:",
                      "http: relative URL '/hello' but no target is set (options.target or --target)");
    EXPECT_EQ(r.summary_int("requests"), 0);
  }
}

TEST_F(script_mistakes, unknown_request_parameters_are_named_with_the_closest_valid_one) {
  const struct {
    const char* params;
    const char* message;
  } cases[] = {
      {"{ jsno = { a = 1 } }", "http: unknown request parameter 'jsno' (did you mean 'json'?)"},
      {"{ header = { ['X-A'] = 'b' } }",
       "http: unknown request parameter 'header' (did you mean 'headers'?)"},
      {"{ expectedStatus = { 201 } }",
       "http: unknown request parameter 'expectedStatus' (did you mean 'expectedStatuses'?)"},
      {"{ redirects = 0 }",
       "http: unknown request parameter 'redirects' (known: headers, body, json, form, name, timeout, "
       "expectedStatuses, history, historyValue, tags)"},
      {"{ headers = 'X-A: b' }", "http: params.headers must be a table of name = value, not a string"},
      {"{ expectedStatuses = 201 }",
       "http: params.expectedStatuses must be a list of status codes, not a number"},
      {"{ name = 42 }", "http: params.name must be a string, not a number"},
      {"'json'", "http: params must be a table"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.params);
    const auto r = run_script("params.lua",
                              "options = { vus = 1, duration = '10s' }\n"
                              "function default()\n"
                              "  http.post('/echo', 'body', " +
                                  std::string(c.params) +
                                  ")\n"
                                  "end\n",
                              server_.base_url());
    expect_stopped_by(r, "params.lua:3:", c.message);
  }
  EXPECT_EQ(server_.hits("/echo"), 0u);  // never a bare request in their place
}

TEST_F(script_mistakes, every_valid_parameter_is_accepted) {
  const auto r =
      run_script("all_params.lua",
                 "options = { iterations = 1 }\n"
                 "function default()\n"
                 "  local res = http.post('/echo', nil, { headers = { ['X-A'] = 'b' }, json = { a = 1 },\n"
                 "    name = 'echo', timeout = '5s', expectedStatuses = { 200 }, history = 'op',\n"
                 "    historyValue = { n = 1 } })\n"
                 "  if res:json('headers.X-A') ~= 'b' then error('header lost') end\n"
                 "  res = http.post('/echo', { body = 'raw' })\n"
                 "  res = http.post('/echo', { form = { a = '1' } })\n"
                 "end\n",
                 server_.base_url());
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 0) << r.err;
  EXPECT_EQ(server_.hits("/echo"), 3u);
}

TEST_F(script_mistakes, res_json_selects_with_the_documented_forms) {
  // /json: {"products":[{"id":1,"name":"Espresso cup",...,"stock":40},{"id":2,"name":"Milk jug",...},
  // {"id":3,"name":"Grinder",...,"stock":0}],"currency":"EUR","page":1}
  const auto r = run_script("selector.lua",
                            "options = { iterations = 1 }\n"
                            "function default()\n"
                            "  local res = http.get('/json')\n"
                            "  local ids = res:json('products.#.id')\n"
                            "  check(res, {\n"
                            "    ['a.b'] = res:json('currency') == 'EUR',\n"
                            "    ['dot call'] = res.json('page') == 1,\n"
                            "    ['array index'] = res:json('products.1.name') == 'Milk jug',\n"
                            "    ['index then key'] = res:json('products.0.stock') == 40,\n"
                            "    ['length'] = res:json('products.#') == 3,\n"
                            "    ['key of every element'] = #ids == 3 and ids[1] == 1 and ids[3] == 3,\n"
                            "    ['absent key is nil'] = res:json('nope') == nil,\n"
                            "    ['index out of range is nil'] = res:json('products.9.name') == nil,\n"
                            "    ['no selector: whole body'] = res:json().products[3].name == 'Grinder',\n"
                            "  })\n"
                            "end\n",
                            server_.base_url());
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 0) << r.err;
  const auto checks = r.checks();
  EXPECT_EQ(checks.size(), 9u);
  for (const auto& [name, counts] : checks) EXPECT_EQ(counts, (std::pair<int64_t, int64_t>{1, 0})) << name;
}

TEST_F(script_mistakes, an_unsupported_selector_stops_the_run_naming_it) {
  const auto r = run_script("query.lua",
                            "options = { vus = 1, duration = '10s' }\n"
                            "function default()\n"
                            "  local res = http.get('/json')\n"
                            "  return res:json('products.#(id==2).name')\n"
                            "end\n",
                            server_.base_url());
  expect_stopped_by(
      r, "query.lua:4:", "res:json: selector 'products.#(id==2).name': queries #(...) are not supported");
}

}  // namespace
}  // namespace stampede::loadgen
