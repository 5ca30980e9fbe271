// Custom metrics (metrics.trend/counter/rate/gauge, docs/SCENARIOS.md): the per-worker registry and its
// exact merge with known values, the Lua API's errors (file:line), thresholds on each type passing and
// failing (exit 99), sub-metrics by tag, and a small k6-style script against the test server.
#include <gtest/gtest.h>

#include <string>

#include "common/hdr_histogram.h"
#include "loadgen/custom_metrics.h"
#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using results::metric_type;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::temp_dir;

results::metric_selector selector(std::string_view key, const custom_metrics& m) {
  return results::parse_metric_selector(key, m.catalogue());
}
results::aggregation agg(results::aggregation_method method, double percentile = 0) { return {method, percentile}; }

// ---- the registry, without Lua ----

TEST(custom_metrics, declaring_validates_names_and_types_as_k6) {
  custom_metrics m;
  EXPECT_EQ(m.declare("login_time", metric_type::trend, true), 0u);
  EXPECT_EQ(m.declare("login_time", metric_type::trend, true), 0u);  // the same again: the same metric
  EXPECT_EQ(m.declare("orders", metric_type::counter, false), 1u);
  EXPECT_THROW(m.declare("login_time", metric_type::counter, false), std::invalid_argument);
  EXPECT_THROW(m.declare("login_time", metric_type::trend, false), std::invalid_argument);  // isTime differs
  EXPECT_THROW(m.declare("http_req_duration", metric_type::trend, true), std::invalid_argument);
  EXPECT_THROW(m.declare("checks", metric_type::rate, false), std::invalid_argument);
  for (const char* bad : {"", "1st", "has space", "dash-ed", "dot.ted", "ünï"}) {
    EXPECT_THROW(m.declare(bad, metric_type::counter, false), std::invalid_argument) << bad;
  }
  EXPECT_THROW(m.declare(std::string(129, 'a'), metric_type::counter, false), std::invalid_argument);
  EXPECT_EQ(m.catalogue().find("orders"), metric_type::counter);
  EXPECT_EQ(m.catalogue().find("login_time"), metric_type::trend);
  try {
    m.declare("http_reqs", metric_type::counter, false);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("built-in"), std::string::npos) << e.what();
  }
}

// Four "workers" with known samples; the merge must equal one worker that saw them all.
TEST(custom_metrics, merge_across_workers_is_exact) {
  std::vector<custom_metrics> workers(4);
  custom_metrics whole;
  for (custom_metrics* m : {&workers[0], &workers[1], &workers[2], &workers[3], &whole}) {
    m->declare("t", metric_type::trend, true);
    m->declare("c", metric_type::counter, false);
    m->declare("r", metric_type::rate, false);
    m->declare("g", metric_type::gauge, false);
  }
  for (int w = 0; w < 4; ++w) {
    for (int i = 0; i < 250; ++i) {
      const double v = w * 250 + i;  // 0..999 over all workers
      const int64_t at = 1'000'000 + static_cast<int64_t>(i) * 10 + w;  // worker 3's last add is the latest
      for (custom_metrics* m : {&workers[static_cast<size_t>(w)], &whole}) {
        m->add(0, v, at, {});
        m->add(1, 0.5, at, {});
        m->add(2, i % 4 == 0 ? 1 : 0, at, {});
        m->add(3, v, at, {});
      }
    }
  }
  custom_metrics merged;
  for (const auto& w : workers) merged.merge(w);
  const custom_metric& t = *merged.metrics()[0];
  ASSERT_EQ(t.all.samples, 1000);
  EXPECT_EQ(t.all.histogram->total_count(), 1000);
  EXPECT_EQ(t.all.histogram->encode_compressed_base64(), whole.metrics()[0]->all.histogram->encode_compressed_base64());
  EXPECT_DOUBLE_EQ(*merged.value(selector("t", merged), agg(results::aggregation_method::percentile, 50), 1),
                   *whole.value(selector("t", whole), agg(results::aggregation_method::percentile, 50), 1));
  EXPECT_NEAR(*merged.value(selector("t", merged), agg(results::aggregation_method::max), 1), 999, 1);
  EXPECT_DOUBLE_EQ(*merged.value(selector("c", merged), agg(results::aggregation_method::count), 1), 500.0);
  EXPECT_DOUBLE_EQ(*merged.value(selector("c", merged), agg(results::aggregation_method::rate), 10), 50.0);
  EXPECT_DOUBLE_EQ(*merged.value(selector("r", merged), agg(results::aggregation_method::rate), 1), 0.252);
  EXPECT_EQ(merged.metrics()[2]->all.trues, 252);  // i % 4 == 0: 63 per worker
  const custom_sink& g = merged.metrics()[3]->all;
  EXPECT_EQ(g.last, 999);  // worker 3, i = 249: the latest wall-clock time
  EXPECT_EQ(g.last_unix_us, 1'000'000 + 2490 + 3);
  EXPECT_EQ(g.min, 0);
  EXPECT_EQ(g.max, 999);
}

TEST(custom_metrics, gauge_merge_does_not_depend_on_the_order) {
  custom_metrics a, b;
  a.declare("g", metric_type::gauge, false);
  b.declare("g", metric_type::gauge, false);
  a.add(0, 7, 100, {});
  b.add(0, 3, 100, {});  // same instant: the larger value wins, whichever is merged first
  custom_metrics ab, ba;
  ab.merge(a);
  ab.merge(b);
  ba.merge(b);
  ba.merge(a);
  EXPECT_EQ(ab.metrics()[0]->all.last, 7);
  EXPECT_EQ(ba.metrics()[0]->all.last, 7);
  EXPECT_EQ(ab.metrics()[0]->all.min, 3);
}

TEST(custom_metrics, only_tracked_tag_sets_get_a_sub_metric) {
  custom_metrics m;
  m.declare("t", metric_type::trend, false);
  m.track(selector("t{flow:buy}", m));
  m.track(selector("t{flow:buy}", m));  // idempotent
  custom_metrics elsewhere;
  elsewhere.declare("other", metric_type::trend, false);
  m.track(selector("other{flow:buy}", elsewhere));  // not declared here: ignored
  ASSERT_EQ(m.metrics()[0]->subs.size(), 1u);
  const std::pair<std::string_view, std::string_view> buy[] = {{"flow", "buy"}, {"page", "x"}};
  const std::pair<std::string_view, std::string_view> browse[] = {{"flow", "browse"}};
  m.add(0, 10, 0, buy);
  m.add(0, 20, 0, browse);
  m.add(0, 30, 0, {});
  EXPECT_EQ(m.metrics()[0]->all.samples, 3);
  EXPECT_EQ(m.metrics()[0]->subs[0].sink.samples, 1);
  EXPECT_NEAR(*m.value(selector("t{flow:buy}", m), agg(results::aggregation_method::max), 1), 10, 0.01);
  EXPECT_FALSE(m.value(selector("t{flow:browse}", m), agg(results::aggregation_method::max), 1));  // not tracked
}

// ---- through a run ----

class custom_metrics_run : public ::testing::Test {
 protected:
  run_result run(const std::string& script, int threads = 1) {
    auto request = make_request(dir_.write("m.lua", script), "");
    request.threads = threads;
    return run_scenario(request, dir_);
  }
  static const json::object* metric(const run_result& r, std::string_view name) {
    const auto* metrics = r.root().if_contains("metrics");
    if (metrics == nullptr) return nullptr;
    for (const auto& m : metrics->as_array()) {
      if (m.at("name").as_string() == name) return &m.as_object();
    }
    return nullptr;
  }
  static const json::object* threshold(const run_result& r, std::string_view metric, std::string_view expression) {
    for (const auto& t : r.root().at("thresholds").as_array()) {
      if (t.at("metric").as_string() == metric && t.at("expression").as_string() == expression) return &t.as_object();
    }
    return nullptr;
  }
  temp_dir dir_;
};

// 8 VUs x 5 iterations over 4 threads, known values: the merged figures are exact.
constexpr const char* known_values = R"lua(
local t = metrics.trend("waiting", true)
local n = metrics.trend("items")
local c = metrics.counter("orders")
local r = metrics.rate("ok")
local g = metrics.gauge("depth")
options = { scenarios = { s = { executor = "per-vu-iterations", vus = 8, iterations = 5 } },
  thresholds = THRESHOLDS }
function default()
  t:add(100 * (vu.iteration + 1))     -- 100..500 ms, 8 of each
  n:add(vu.id)                        -- 1..8, 5 of each
  c:add(2, { kind = vu.iteration == 0 and "first" or "later" })
  r:add(vu.iteration ~= 4)            -- 4 of 5 true
  g:add(vu.id)
end
)lua";

std::string with_thresholds(std::string_view thresholds) {
  std::string s = known_values;
  s.replace(s.find("THRESHOLDS"), 10, thresholds);
  return s;
}

TEST_F(custom_metrics_run, four_threads_merge_to_the_exact_totals_and_thresholds_pass) {
  const auto r = run(with_thresholds(R"({ waiting = { "p(50)<=301", "max<501", "avg<400" }, items = { "min>=1" },
      orders = { "count==80" }, ok = { "rate==0.8" }, depth = { "value>=1", "value<=8" },
      ["orders{kind:first}"] = { "count==16" } })"),
                     4);
  ASSERT_EQ(r.exit_code, exit_ok) << r.err << r.out;
  const auto* waiting = metric(r, "waiting");
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(waiting->at("samples").to_number<int64_t>(), 40);
  EXPECT_TRUE(waiting->at("is_time").as_bool());
  const auto h = hdr_histogram::decode_base64(std::string(waiting->at("histogram").as_string()));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->total_count(), 40);
  // 8 samples each of 100, 200, ..., 500 ms (recorded in us): the 20th percentile is the last 100 ms one.
  EXPECT_NEAR(static_cast<double>(h->value_at_percentile(20)), 100'000, 100);
  EXPECT_NEAR(static_cast<double>(h->value_at_percentile(20.5)), 200'000, 200);
  EXPECT_NEAR(static_cast<double>(h->value_at_percentile(80.5)), 500'000, 500);
  EXPECT_NEAR(waiting->at("stats").at("max").to_number<double>(), 500, 0.5);
  EXPECT_NEAR(metric(r, "items")->at("stats").at("mean").to_number<double>(), 4.5, 0.01);
  EXPECT_EQ(metric(r, "orders")->at("count").to_number<double>(), 80);
  EXPECT_EQ(metric(r, "orders{kind:first}")->at("count").to_number<double>(), 16);
  EXPECT_EQ(metric(r, "ok")->at("trues").to_number<int64_t>(), 32);
  EXPECT_EQ(metric(r, "ok")->at("samples").to_number<int64_t>(), 40);
  const double depth = metric(r, "depth")->at("value").to_number<double>();
  EXPECT_GE(depth, 1);
  EXPECT_LE(depth, 8);
  EXPECT_EQ(metric(r, "depth")->at("min").to_number<double>(), 1);
  EXPECT_EQ(metric(r, "depth")->at("max").to_number<double>(), 8);
  EXPECT_EQ(metric(r, "orders{kind:later}"), nullptr);  // no threshold asked for it
  EXPECT_NE(r.out.find("orders"), std::string::npos);   // in the terminal summary
}

TEST_F(custom_metrics_run, each_type_fails_its_threshold_with_exit_99) {
  struct failing {
    const char* metric;
    const char* expression;
    double observed;
  };
  for (const failing& f : {failing{"waiting", "p(95)<200", 500}, failing{"orders", "count>100", 80},
                           failing{"ok", "rate>0.99", 0.8}, failing{"depth", "value>8", -1},
                           failing{"orders{kind:first}", "count<10", 16}}) {
    const auto r = run(with_thresholds(std::string("{ [\"") + f.metric + "\"] = { \"" + f.expression + "\" } }"));
    EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << f.metric << r.err;
    const auto* t = threshold(r, f.metric, f.expression);
    ASSERT_NE(t, nullptr) << f.metric;
    EXPECT_FALSE(t->at("ok").as_bool()) << f.metric;
    if (f.observed >= 0) {
      EXPECT_NEAR(t->at("observed").to_number<double>(), f.observed, f.observed * 0.001) << f.metric;
    }
  }
}

TEST_F(custom_metrics_run, an_unknown_metric_in_a_threshold_is_still_an_error) {
  const auto r = run(with_thresholds(R"({ login_ok = { "rate>0.9" } })"));
  EXPECT_EQ(r.exit_code, exit_invalid_options);
  EXPECT_NE(r.err.find("unknown metric 'login_ok'"), std::string::npos) << r.err;
  const auto wrong = run(with_thresholds(R"({ orders = { "p(95)<1" } })"));  // a counter has no percentiles
  EXPECT_EQ(wrong.exit_code, exit_invalid_options);
  EXPECT_NE(wrong.err.find("does not apply to a counter"), std::string::npos) << wrong.err;
}

TEST_F(custom_metrics_run, declaring_a_metric_wrongly_stops_the_run_at_its_line) {
  struct bad {
    const char* script;
    const char* message;
  };
  for (const bad& b : {bad{"local a = metrics.counter('http_reqs')\n", "m.lua:1: metric 'http_reqs' is a built-in"},
                       bad{"local a = metrics.rate('x')\nlocal b = metrics.gauge('x')\n",
                           "m.lua:2: metric 'x' was already declared as a rate"},
                       bad{"\nlocal a = metrics.trend('has-dash')\n", "m.lua:2: invalid metric name 'has-dash'"},
                       bad{"local a = metrics.trend(42)\n", "m.lua:1: metrics.trend(): the metric name must be a string"},
                       bad{"local a = metrics.counter('c', true)\n", "m.lua:1: metrics.counter() takes only a name"}}) {
    const auto r = run(std::string(b.script) + "function default() end\n");
    EXPECT_EQ(r.exit_code, exit_script_error) << b.script;
    EXPECT_NE(r.err.find(b.message), std::string::npos) << r.err;
  }
}

TEST_F(custom_metrics_run, bad_values_and_late_declarations_are_errors_at_their_line) {
  const auto r = run(R"lua(
local t = metrics.trend("t")
local r = metrics.rate("r")
options = { iterations = 8, vus = 1 }
function default()
  local i = vu.iteration
  if i == 0 then t:add(0/0)
  elseif i == 1 then t:add("12")
  elseif i == 2 then t:add(-1)
  elseif i == 3 then r:add("yes")
  elseif i == 4 then local late = metrics.counter("late")
  elseif i == 5 then t.add(3)
  elseif i == 6 then t:add(1e300)
  else t:add(1, "flow") end
end
)lua");
  EXPECT_EQ(r.exit_code, exit_ok) << r.err;  // iteration errors are counted, the run goes on
  for (const char* message : {"m.lua:7: t:add(): the value must be a finite number (not NaN or infinite)",
                              "m.lua:8: t:add(): the value must be a number",
                              "m.lua:9: t:add(): a trend takes values >= 0",
                              "m.lua:10: r:add(): the value must be a boolean or a number",
                              "m.lua:11: metrics.counter() declares a metric: call it at the top level",
                              "m.lua:12: metric:add(): call it with ':' (my_metric:add(value)), not '.'",
                              "m.lua:14: t:add(): tags must be a table"}) {
    EXPECT_NE(r.err.find(message), std::string::npos) << message << "\n" << r.err;
  }
  ASSERT_NE(metric(r, "t"), nullptr);
  EXPECT_EQ(metric(r, "t")->at("samples").to_number<int64_t>(), 1);  // only 1e300, clamped to 10^12
  EXPECT_NEAR(metric(r, "t")->at("stats").at("max").to_number<double>(), 1e12, 1e9);
}

// A small k6-style script (a custom trend of a request's waiting time, a rate of logins, a counter of
// orders per flow) against the test server: the sub-metric threshold fails, the run exits 99.
TEST(custom_metrics_e2e, a_ported_k6_script_with_a_sub_metric_threshold) {
  testing::test_server server;
  temp_dir dir;
  const std::string script = dir.write("ported.lua", R"lua(
local login_time = metrics.trend("login_time", true)
local login_ok = metrics.rate("login_ok")
local orders = metrics.counter("orders")
options = {
  scenarios = {
    buyers = { executor = "per-vu-iterations", vus = 2, iterations = 5, tags = { flow = "buy" } },
    lookers = { executor = "per-vu-iterations", vus = 2, iterations = 5, tags = { flow = "browse" }, exec = "browse" },
  },
  thresholds = {
    login_time = { "p(95)<5000" },
    login_ok = { "rate>0.99" },
    orders = { "count>=10" },
    ["orders{flow:buy}"] = { "count>=10" },
    ["orders{flow:browse}"] = { "count>0" },      -- crossed: browsers order nothing
    ["login_time{scenario:buyers}"] = { "max<5000" },
  },
}
function default()
  local res = http.get("/delay?ms=5", { name = "login" })
  login_time:add(res.timings.waiting)
  login_ok:add(res.status == 200)
  group("checkout", function()
    local order = http.post("/echo", { json = { qty = 1 } })
    if order.status == 200 then orders:add(1) end
  end)
end
function browse()
  http.get("/hello")
  login_ok:add(true)
end
)lua");
  const auto r = run_scenario(make_request(script, server.base_url()), dir);
  EXPECT_EQ(r.exit_code, exit_thresholds_crossed) << r.err << r.out;
  std::map<std::string, bool> verdicts;
  for (const auto& t : r.root().at("thresholds").as_array()) {
    verdicts[std::string(t.at("metric").as_string()) + " " + std::string(t.at("expression").as_string())] =
        t.at("ok").as_bool();
  }
  EXPECT_TRUE(verdicts.at("login_time p(95)<5000"));
  EXPECT_TRUE(verdicts.at("login_ok rate>0.99"));
  EXPECT_TRUE(verdicts.at("orders count>=10"));
  EXPECT_TRUE(verdicts.at("orders{flow:buy} count>=10"));
  EXPECT_FALSE(verdicts.at("orders{flow:browse} count>0"));
  EXPECT_TRUE(verdicts.at("login_time{scenario:buyers} max<5000"));
  const auto& metrics = r.root().at("metrics").as_array();
  std::map<std::string, json::object> by_name;
  for (const auto& m : metrics) by_name[std::string(m.at("name").as_string())] = m.as_object();
  EXPECT_EQ(by_name.at("login_time").at("samples").to_number<int64_t>(), 10);
  EXPECT_GE(by_name.at("login_time").at("stats").at("min").to_number<double>(), 4.0);  // the 5 ms delay
  EXPECT_EQ(by_name.at("login_ok").at("samples").to_number<int64_t>(), 20);
  EXPECT_EQ(by_name.at("orders").at("count").to_number<double>(), 10);
  EXPECT_EQ(by_name.at("orders{flow:buy}").at("count").to_number<double>(), 10);
  EXPECT_EQ(by_name.at("orders{flow:browse}").at("samples").to_number<int64_t>(), 0);
  EXPECT_EQ(server.hits("/echo"), 10u);
}

}  // namespace
}  // namespace stampede::loadgen
