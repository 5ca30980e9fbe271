// Tags and HTTP sub-metrics (docs/SCENARIOS.md, "Tags"): options.tags, scenario tags, params.tags and the
// system tags (name, method, status, group, scenario, expected_response, url) select the requests of a
// threshold's sub-metric; only the tag sets thresholds ask for are recorded, as "tagged" steps.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using test::make_request;
using test::run_scenario;
using test::temp_dir;

// 2 VUs x 3 iterations of scenario "spike" (tags flow=buy), 1 VU x 3 of "calm": per iteration of spike, a
// GET /status/200 tagged page=home, and inside group checkout a POST /status/503; calm: GET /hello.
constexpr const char* script = R"lua(
options = {
  tags = { env_tag = "staging" },
  scenarios = {
    spike = { executor = "per-vu-iterations", vus = 2, iterations = 3, tags = { flow = "buy" } },
    calm = { executor = "per-vu-iterations", vus = 1, iterations = 3, exec = "calm" },
  },
  thresholds = {
    ["http_req_duration{status:200}"] = { "p(95)<5000" },
    ["http_reqs{status:200}"] = { "count==9" },
    ["http_req_failed{flow:buy}"] = { "rate<0.01" },           -- crossed: half of spike's requests fail
    ["http_req_failed{scenario:calm}"] = { "rate==0" },
    ["http_reqs{group:::checkout}"] = { "count==6" },
    ["http_reqs{page:home}"] = { "count==6" },
    ["http_reqs{env_tag:staging}"] = { "count==15" },
    ["http_reqs{expected_response:false}"] = { "count==6" },
    ["http_reqs{method:POST,scenario:spike}"] = { "count==6" },
    ["http_reqs{url:/hello}"] = { "count==3" },
    ["http_req_duration{name:GET /hello}"] = { "max<5000" },
    ["calls{env_tag:staging,scenario:calm}"] = { "count==3" },   -- a custom metric: run and system tags
    ["calls{via:add}"] = { "count==3" },                         -- :add()'s own tags
  },
}
function default()
  http.get("/status/200", { tags = { page = "home" } })
  group("checkout", function() http.post("/status/503") end)
end
local calls = metrics.counter("calls")
function calm()
  http.get("/hello")
  calls:add(1, { via = "add" })
end
)lua";

TEST(tags, thresholds_select_requests_by_every_kind_of_tag) {
  testing::test_server server;
  temp_dir dir;
  const auto r = run_scenario(make_request(dir.write("tags.lua", script), server.base_url()), dir);
  ASSERT_TRUE(r.has_results()) << r.err;
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err << r.out;
  std::map<std::string, std::pair<bool, double>> verdicts;
  for (const auto& t : r.root().at("thresholds").as_array()) {
    verdicts[std::string(t.at("metric").as_string())] = {
        t.at("ok").as_bool(), t.at("observed").is_null() ? -1.0 : t.at("observed").to_number<double>()};
  }
  for (const auto& [metric, verdict] : verdicts) {
    if (metric == "http_req_failed{flow:buy}") {
      EXPECT_FALSE(verdict.first);
      EXPECT_DOUBLE_EQ(verdict.second, 0.5);
    } else {
      EXPECT_TRUE(verdict.first) << metric << " observed " << verdict.second;
    }
  }
  // Each tag set is a "tagged" step; the request steps and the summary are unchanged by them.
  std::map<std::string, int64_t> tagged;
  for (const auto& s : r.root().at("steps").as_array()) {
    if (s.at("kind").as_string() == "tagged") {
      tagged[std::string(s.at("name").as_string())] = s.at("requests").to_number<int64_t>();
    }
  }
  EXPECT_EQ(tagged.size(), 9u);  // {name:GET /hello} is the request step itself
  EXPECT_EQ(tagged.at("{status:200}"), 9);
  EXPECT_EQ(tagged.at("{method:POST,scenario:spike}"), 6);
  EXPECT_EQ(r.summary_int("requests"), 15);
  EXPECT_EQ(r.summary_int("errors"), 6);
}

// Sub-metrics of iteration_duration, iterations and checks by scenario, run-wide and scenario tags: recorded
// only for the tag sets thresholds name, into "metrics" beside the custom metrics.
constexpr const char* iteration_script = R"lua(
options = {
  tags = { env_tag = "staging" },
  scenarios = {
    browse = { executor = "per-vu-iterations", vus = 2, iterations = 3, tags = { flow = "buy" } },
    calm = { executor = "per-vu-iterations", vus = 1, iterations = 2, exec = "calm" },
  },
  thresholds = {
    ["iteration_duration{scenario:calm}"] = { "min>=49" },      -- calm sleeps 50 ms per iteration
    ["iteration_duration{flow:buy}"] = { "max<60000" },
    ["iterations{scenario:browse}"] = { "count==6" },
    ["iterations{flow:buy}"] = { "count==6" },
    ["iterations{env_tag:staging}"] = { "count==8" },
    ["iterations{scenario:calm}"] = { "count>2" },              -- crossed: calm runs 2 iterations
    ["checks{scenario:calm}"] = { "rate==1" },
    ["checks{scenario:browse}"] = { "rate<0.6" },               -- half of browse's checks fail
    ["checks{check:always,scenario:browse}"] = { "rate==1" },
    ["checks{check:always}"] = { "rate==1" },                   -- by check name alone: "checks" as before
  },
}
function default()
  check(1, { always = function() return true end, never = function() return false end })
end
function calm()
  sleep(0.05)
  check(1, { always = function() return true end })
end
)lua";

TEST(tags, iteration_metrics_and_checks_by_scenario_and_run_tags) {
  testing::test_server server;
  temp_dir dir;
  const auto r =
      run_scenario(make_request(dir.write("iterations.lua", iteration_script), server.base_url()), dir);
  ASSERT_TRUE(r.has_results()) << r.err;
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err << r.out;
  std::map<std::string, std::pair<bool, double>> verdicts;
  for (const auto& t : r.root().at("thresholds").as_array()) {
    verdicts[std::string(t.at("metric").as_string())] = {
        t.at("ok").as_bool(), t.at("observed").is_null() ? -1.0 : t.at("observed").to_number<double>()};
  }
  ASSERT_EQ(verdicts.size(), 10u);
  for (const auto& [metric, verdict] : verdicts) {
    EXPECT_EQ(verdict.first, metric != "iterations{scenario:calm}")
        << metric << " observed " << verdict.second;
  }
  EXPECT_EQ(verdicts.at("iterations{scenario:calm}").second, 2);
  EXPECT_EQ(verdicts.at("iterations{env_tag:staging}").second, 8);
  EXPECT_EQ(verdicts.at("checks{scenario:browse}").second, 0.5);
  EXPECT_GE(verdicts.at("iteration_duration{scenario:calm}").second, 49);
  // Only the tag sets thresholds name are recorded, each once, in "metrics" (checks{check:always} is not
  // one).
  std::map<std::string, json::object> metrics;
  for (const auto& m : r.root().at("metrics").as_array()) {
    metrics[std::string(m.at("name").as_string())] = m.as_object();
  }
  EXPECT_EQ(metrics.size(), 9u);
  EXPECT_FALSE(metrics.contains("checks{check:always}"));
  const json::object& calm = metrics.at("iteration_duration{scenario:calm}");
  EXPECT_EQ(calm.at("metric").as_string(), "iteration_duration");
  EXPECT_EQ(calm.at("type").as_string(), "trend");
  EXPECT_TRUE(calm.at("is_time").as_bool());
  EXPECT_EQ(calm.at("samples").to_number<int64_t>(), 2);
  EXPECT_EQ(metrics.at("iterations{flow:buy}").at("count").to_number<double>(), 6);
  EXPECT_EQ(metrics.at("checks{scenario:browse}").at("samples").to_number<int64_t>(), 12);
  EXPECT_EQ(metrics.at("checks{scenario:browse}").at("trues").to_number<int64_t>(), 6);
}

TEST(tags, a_tag_set_a_built_in_metric_never_records_is_refused_at_start) {
  testing::test_server server;
  temp_dir dir;
  auto run_with = [&](const std::string& thresholds) {
    return run_scenario(make_request(dir.write("refused.lua",
                                               "options = { iterations = 1, tags = { team = 'x' }, "
                                               "thresholds = { " +
                                                   thresholds + " } }\nfunction default() end\n"),
                                     server.base_url()),
                        dir);
  };
  auto r = run_with("['iteration_duration{status:200}'] = { 'p(95)<100' }");
  EXPECT_EQ(r.exit_code, exit_invalid_options) << r.err;
  EXPECT_NE(r.err.find("thresholds['iteration_duration{status:200}']: tag 'status' is not recorded for "
                       "iteration_duration (supported: scenario, team"),
            std::string::npos)
      << r.err;
  r = run_with("['data_sent{scenario:default}'] = { 'count<100' }");
  EXPECT_EQ(r.exit_code, exit_invalid_options) << r.err;
  EXPECT_NE(
      r.err.find("thresholds['data_sent{scenario:default}']: tag 'scenario' is not recorded for data_sent "
                 "(supported: none: data_sent is not recorded by tag)"),
      std::string::npos)
      << r.err;
  // Evaluated live like custom metrics (builtin_sub_metrics_live_test): abortOnFail is accepted.
  r = run_with("['iterations{team:x}'] = { { threshold = 'count>0', abortOnFail = true } }");
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;
  r = run_with("['iterations{team:x}'] = { 'count==1' }, ['checks{team:x}'] = { 'rate==0' }");
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;  // no check ran: a rate with no data reads 0
}

TEST(tags, dropped_iterations_by_scenario) {
  testing::test_server server;
  temp_dir dir;
  // flood: 20 arrivals/s for 1 s and one VU busy 300 ms per iteration: most arrivals find no free VU.
  const auto r = run_scenario(make_request(dir.write("dropped.lua", R"lua(
options = {
  scenarios = {
    flood = { executor = "constant-arrival-rate", rate = 20, timeUnit = "1s", duration = "1s",
              preAllocatedVUs = 1, maxVUs = 1, tags = { kind = "open" } },
    calm = { executor = "per-vu-iterations", vus = 1, iterations = 1 },
  },
  thresholds = {
    ["dropped_iterations{scenario:flood}"] = { "count>0" },
    ["dropped_iterations{kind:open}"] = { "count>0" },
    ["dropped_iterations{scenario:calm}"] = { "count==0" },
  },
}
function default() sleep(0.3) end
)lua"),
                                           server.base_url()),
                              dir);
  ASSERT_TRUE(r.has_results()) << r.err;
  EXPECT_EQ(r.exit_code, exit_ok) << r.err << r.out;
  int64_t flood_dropped = -1;
  for (const auto& s : r.root().at("scenarios").as_array()) {
    if (s.at("name").as_string() == "flood") flood_dropped = s.at("dropped_iterations").to_number<int64_t>();
  }
  EXPECT_GT(flood_dropped, 0);
  for (const auto& t : r.root().at("thresholds").as_array()) {
    const std::string metric(t.at("metric").as_string());
    EXPECT_TRUE(t.at("ok").as_bool()) << metric;
    EXPECT_EQ(t.at("observed").to_number<double>(),
              metric == "dropped_iterations{scenario:calm}" ? 0.0 : static_cast<double>(flood_dropped))
        << metric;
  }
}

TEST(tags, a_bad_params_tags_is_an_error_at_its_line) {
  testing::test_server server;
  temp_dir dir;
  const auto r = run_scenario(
      make_request(dir.write("bad.lua", "options = { iterations = 1 }\nfunction default()\n"
                                        "  http.get('/hello', { tags = { page = {} } })\nend\n"),
                   server.base_url()),
      dir);
  EXPECT_EQ(r.exit_code, exit_script_error) << r.err;
  EXPECT_NE(r.err.find("bad.lua:3: http: params.tags must be a table of name = string"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stampede::loadgen
