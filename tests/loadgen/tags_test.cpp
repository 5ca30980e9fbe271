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
