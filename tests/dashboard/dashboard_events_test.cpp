// The dashboard's events (dashboard/live_view.h: live_state::event_json) on known updates, and its server
// (dashboard/server.h): the page, /events by Last-Event-ID, a request held until the next update.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "common/http_client.h"
#include "dashboard/server.h"
#include "reports/svg_chart.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using namespace stampede::dashboard;

second_view second(int64_t s, int64_t requests, int64_t errors, double p99) {
  second_view v{.second = s,
                .requests = requests,
                .errors = errors,
                .dropped_iterations = 0,
                .vus = 5,
                .latency = {.p50 = p99 / 4, .p90 = p99 / 2, .p95 = p99 / 1.5, .p99 = p99, .max = p99 * 2},
                .errors_by_kind = {}};
  if (errors > 0) v.errors_by_kind["http_5xx"] = errors;
  return v;
}

live_update two_seconds() {
  live_update u;
  u.seconds = {second(0, 100, 0, 12), second(1, 120, 3, 40)};
  u.elapsed_s = 2.05;
  u.planned_duration_s = 10;
  u.requests = 220;
  u.errors = 3;
  u.vus = 5;
  u.vus_max = 8;
  u.latency = {.p50 = 3, .p90 = 9, .p95 = 15, .p99 = 38, .max = 80};
  u.errors_by_kind = {{"http_5xx", 3}, {"timeout", 0}};
  u.steps = {{.name = "login \"</script>",
              .requests = 200,
              .errors = 3,
              .latency = {.p50 = 3, .p90 = 9, .p95 = 15, .p99 = 38, .max = 80}},
             {.name = "checkout", .requests = 20, .errors = 0, .latency = {}}};
  u.thresholds = {{.metric = "http_req_duration",
                   .expression = "p(95)<200",
                   .now = threshold_row::state::pass,
                   .observed = 15.0,
                   .abort_on_fail = false},
                  {.metric = "http_req_failed",
                   .expression = "rate<0.01",
                   .now = threshold_row::state::fail,
                   .observed = 0.0136,
                   .abort_on_fail = true},
                  {.metric = "orders",
                   .expression = "count>0",
                   .now = threshold_row::state::pending,
                   .observed = {},
                   .abort_on_fail = false}};
  u.faults = {{.label = "db +200ms", .start_s = 0.5, .end_s = 1.5},
              {.label = "kill node2", .start_s = 1.2, .end_s = {}}};
  return u;
}

TEST(dashboard_events, the_event_carries_the_figures_tables_and_charts_of_the_update) {
  live_state state({.title = "checkout.lua", .run_id = "r-1"});
  EXPECT_EQ(state.version(), 0u);
  const json::object before = json::parse(state.event_json()).as_object();
  EXPECT_EQ(before.at("version").to_number<int64_t>(), 0);
  EXPECT_EQ(before.at("second").to_number<int64_t>(), -1);
  EXPECT_TRUE(before.at("last_second").is_null());
  EXPECT_EQ(before.at("charts").as_string(), "");  // no chart before the first second
  EXPECT_TRUE(before.at("ended").is_null());

  state.update(two_seconds());
  EXPECT_EQ(state.version(), 1u);
  const json::object e = json::parse(state.event_json()).as_object();
  EXPECT_EQ(e.at("title").as_string(), "checkout.lua");
  EXPECT_EQ(e.at("run_id").as_string(), "r-1");
  EXPECT_EQ(e.at("second").to_number<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(e.at("elapsed_s").to_number<double>(), 2.05);
  EXPECT_DOUBLE_EQ(e.at("planned_duration_s").to_number<double>(), 10);
  const json::object& totals = e.at("totals").as_object();
  EXPECT_EQ(totals.at("requests").to_number<int64_t>(), 220);
  EXPECT_EQ(totals.at("errors").to_number<int64_t>(), 3);
  EXPECT_DOUBLE_EQ(totals.at("error_rate").to_number<double>(), 3.0 / 220);
  EXPECT_EQ(totals.at("vus").to_number<int64_t>(), 5);
  EXPECT_EQ(totals.at("vus_max").to_number<int64_t>(), 8);
  EXPECT_DOUBLE_EQ(totals.at("latency_ms").at("p99").to_number<double>(), 38);
  const json::object& last = e.at("last_second").as_object();
  EXPECT_EQ(last.at("second").to_number<int64_t>(), 1);
  EXPECT_EQ(last.at("requests").to_number<int64_t>(), 120);
  EXPECT_DOUBLE_EQ(last.at("latency_ms").at("max").to_number<double>(), 80);
  // Kinds with no error are left out.
  EXPECT_EQ(e.at("errors_by_kind").as_object(), (json::object{{"http_5xx", 3}}));

  const json::array& thresholds = e.at("thresholds").as_array();
  ASSERT_EQ(thresholds.size(), 3u);
  EXPECT_EQ(thresholds[0].at("state").as_string(), "pass");
  EXPECT_DOUBLE_EQ(thresholds[0].at("observed").to_number<double>(), 15);
  EXPECT_EQ(thresholds[1].at("state").as_string(), "fail");
  EXPECT_TRUE(thresholds[1].at("abort_on_fail").as_bool());
  EXPECT_EQ(thresholds[2].at("state").as_string(), "pending");
  EXPECT_TRUE(thresholds[2].at("observed").is_null());

  const json::array& steps = e.at("steps").as_array();
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].at("name").as_string(), "login \"</script>");  // any text survives the JSON
  EXPECT_EQ(steps[0].at("requests").to_number<int64_t>(), 200);
  EXPECT_DOUBLE_EQ(steps[0].at("rps").to_number<double>(), 200 / 2.05);
  EXPECT_EQ(steps[0].at("errors").to_number<int64_t>(), 3);

  const json::array& faults = e.at("faults").as_array();
  ASSERT_EQ(faults.size(), 2u);
  EXPECT_EQ(faults[0].at("label").as_string(), "db +200ms");
  EXPECT_DOUBLE_EQ(faults[0].at("end_s").to_number<double>(), 1.5);
  EXPECT_TRUE(faults[1].at("end_s").is_null());

  // The report's own charts: the same ids, a band per fault, a line per series.
  const std::string charts(e.at("charts").as_string());
  for (const char* id : {"chart-throughput", "chart-latency", "chart-errors", "chart-vus"})
    EXPECT_NE(charts.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  size_t bands = 0;
  for (size_t at = charts.find("<g class=\"fault\">"); at != std::string::npos;
       at = charts.find("<g class=\"fault\">", at + 1))
    ++bands;
  EXPECT_EQ(bands, 2u * 4);                               // two faults on each of the four charts
  EXPECT_NE(charts.find("http_5xx"), std::string::npos);  // the errors chart by kind
  EXPECT_TRUE(e.at("ended").is_null());
}

TEST(dashboard_events, seconds_accumulate_across_updates_and_the_end_names_the_report) {
  live_state state({.title = "t.lua", .run_id = "r"});
  state.update(two_seconds());
  live_update next = two_seconds();
  next.seconds = {second(2, 90, 0, 20)};
  state.update(std::move(next));
  json::object e = json::parse(state.event_json()).as_object();
  EXPECT_EQ(e.at("version").to_number<int64_t>(), 2);
  EXPECT_EQ(e.at("second").to_number<int64_t>(), 2);
  EXPECT_EQ(e.at("last_second").at("requests").to_number<int64_t>(), 90);
  // Three seconds, three points on the throughput chart's requests line.
  const std::string charts(e.at("charts").as_string());
  const size_t line = charts.find("<polyline", charts.find("chart-throughput"));
  const size_t points = charts.find("points=\"", line) + 8;
  const std::string coords = charts.substr(points, charts.find('"', points) - points);
  EXPECT_EQ(std::count(coords.begin(), coords.end(), ','), 3);

  state.end({.outcome = "thresholds crossed",
             .ok = false,
             .report_path = "/tmp/r/report.html",
             .results_path = {}});
  EXPECT_TRUE(state.ended());
  e = json::parse(state.event_json()).as_object();
  EXPECT_EQ(e.at("version").to_number<int64_t>(), 3);
  const json::object& ended = e.at("ended").as_object();
  EXPECT_EQ(ended.at("outcome").as_string(), "thresholds crossed");
  EXPECT_FALSE(ended.at("ok").as_bool());
  EXPECT_EQ(ended.at("report").as_string(), "/tmp/r/report.html");
  EXPECT_TRUE(ended.at("results").is_null());
}

TEST(dashboard_events, a_long_run_is_drawn_in_buckets) {
  live_state state;
  live_update u;
  for (int64_t s = 0; s < 1500; ++s) u.seconds.push_back(second(s, 10, 0, 5));
  u.elapsed_s = 1500;
  state.update(std::move(u));
  const json::object e = json::parse(state.event_json()).as_object();
  const std::string charts(e.at("charts").as_string());
  const size_t line = charts.find("<polyline", charts.find("chart-throughput"));
  const size_t points = charts.find("points=\"", line) + 8;
  const std::string coords = charts.substr(points, charts.find('"', points) - points);
  // 3-second buckets: 500 points, each a mean of 10 requests/s.
  EXPECT_EQ(std::count(coords.begin(), coords.end(), ','), 500);
  EXPECT_NE(charts.find("3 s buckets"), std::string::npos);
}

std::string event_data(const std::string& body) {
  const size_t at = body.find("data: ");
  if (at == std::string::npos) return {};
  return body.substr(at + 6, body.find('\n', at) - at - 6);
}

TEST(dashboard_server, serves_the_page_and_events_by_last_event_id) {
  server dashboard({.host = "127.0.0.1", .port = 0}, {.title = "t.lua", .run_id = "r"});
  ASSERT_GT(dashboard.port(), 0);
  EXPECT_EQ(dashboard.url(), "http://127.0.0.1:" + std::to_string(dashboard.port()) + "/");
  stampede::http::blocking_client client("127.0.0.1", dashboard.port());

  const auto page = client.get("/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.headers.find("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find(stampede::reports::report_css),
            std::string::npos);  // the report's stylesheet, whole
  EXPECT_NE(page.body.find("new EventSource('events')"), std::string::npos);
  // Nothing fetched from elsewhere: no src= or href= to another origin (the SVG namespace is no fetch).
  EXPECT_EQ(page.body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.body.find("href=\"http"), std::string::npos);
  EXPECT_EQ(page.body.find("@import"), std::string::npos);

  // A first request gets the state at once.
  auto first = client.get("/events");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.headers.find("Content-Type"), "text/event-stream");
  EXPECT_NE(first.body.find("retry: 250\nid: 0\n"), std::string::npos);
  EXPECT_EQ(json::parse(event_data(first.body)).at("version").to_number<int64_t>(), 0);

  // One that has seen version 0 waits for the next update.
  auto waiting = std::async(std::launch::async, [port = dashboard.port()] {
    stampede::http::blocking_client c("127.0.0.1", port);
    return c.request("GET", "/events", {}, {{"Last-Event-ID", "0"}});
  });
  EXPECT_EQ(waiting.wait_for(300ms), std::future_status::timeout);
  dashboard.publish(two_seconds());
  const auto next = waiting.get();
  EXPECT_NE(next.body.find("id: 1\n"), std::string::npos);
  EXPECT_EQ(json::parse(event_data(next.body)).at("totals").at("requests").to_number<int64_t>(), 220);

  // Behind: the current state at once.
  auto behind = client.request("GET", "/events", {}, {{"Last-Event-ID", "0"}});
  EXPECT_NE(behind.body.find("id: 1\n"), std::string::npos);

  // After the end, every request gets the last event at once (the page then stops asking).
  dashboard.finish({.outcome = "passed", .ok = true, .report_path = {}, .results_path = {}});
  auto ended = client.request("GET", "/events", {}, {{"Last-Event-ID", "2"}});
  EXPECT_EQ(json::parse(event_data(ended.body)).at("ended").at("outcome").as_string(), "passed");

  EXPECT_EQ(client.get("/nope").status, 404);
  EXPECT_EQ(client.request("POST", "/events").status, 405);
}

TEST(dashboard_server, listen_addresses_need_an_ip) {
  EXPECT_EQ(parse_listen_address("127.0.0.1:0", "--dashboard").port, 0);
  EXPECT_EQ(parse_listen_address("[::1]:8089", "--dashboard").host, "::1");
  try {
    parse_listen_address("localhost:8089", "--dashboard");
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--dashboard 'localhost:8089' needs an IP address"),
              std::string::npos);
  }
  EXPECT_THROW(parse_listen_address("127.0.0.1", "--dashboard"), std::invalid_argument);
}

}  // namespace
