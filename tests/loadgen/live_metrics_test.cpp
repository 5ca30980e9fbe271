// The generator's live metrics (loadgen/live_metrics.h, `stampede run --metrics-listen`): scraped during a
// real run against the test server (values rise, a step's histogram counts what its request counter
// counts, labels as docs/SCENARIOS.md documents them, the endpoint ends with the run), checked by
// `promtool check metrics`, bounded labels, and the flag's errors.
#include "loadgen/live_metrics.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "loadgen/cli.h"
#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/child_process.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

using namespace std::chrono_literals;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::temp_dir;

// Samples of a scrape by their full series text: `name{labels}` -> value.
std::map<std::string, double> parse_samples(const std::string& body) {
  std::map<std::string, double> out;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

// The sum of every sample whose series starts with `prefix` (a name and the start of its labels).
double sum_of(const std::map<std::string, double>& samples, const std::string& prefix,
              const std::string& contains = {}) {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    if (series.starts_with(prefix) && series.find(contains) != std::string::npos) sum += value;
  }
  return sum;
}

std::optional<std::string> scrape(uint16_t port) {
  try {
    http::blocking_client client("127.0.0.1", port, 2s);
    auto r = client.get("/metrics");
    if (r.status != 200) return std::nullopt;
    return r.body;
  } catch (const std::system_error&) {
    return std::nullopt;
  }
}

// The first `name` on PATH, or empty.
std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

// `promtool check metrics` on `body`: its exit code and what it said; nullopt when promtool is not installed.
std::optional<std::pair<int, std::string>> promtool_check(const temp_dir& dir, const std::string& body) {
  const std::string promtool = find_on_path("promtool");
  if (promtool.empty()) return std::nullopt;
  const std::string metrics_file = dir.write("scraped.prom", body);
  const auto log = dir.path() / "promtool.log";
  const int code = testing::run_bounded(
      {"/bin/sh", "-c", "'" + promtool + "' check metrics < '" + metrics_file + "'"}, log, 30s);
  return std::pair{code, testing::read_text(log)};
}

constexpr std::string_view script =
    "options = { scenarios = { browse = { executor = 'constant-vus', vus = 2, duration = '4s' } } }\n"
    "local orders = metrics.counter('orders')\n"
    "function default()\n"
    "  group('journey', function()\n"
    "    local res = http.get('/hello', { name = 'hello' })\n"
    "    check(res, { ['is 200'] = function(r) return r.status == 200 end })\n"
    "    http.get('/status/503', { name = 'unavailable' })\n"
    "    http.get('/json?id=' .. tostring(vu.iteration))\n"
    "  end)\n"
    "  orders:add(2)\n"
    "  sleep(0.05)\n"
    "end\n";

class live_metrics_run : public ::testing::Test {
 protected:
  // Runs `script` with --metrics-listen 127.0.0.1:0 on another thread; `during(port)` runs meanwhile.
  template <class During>
  run_result run_with_metrics(During during) {
    run_request request = make_request(dir_.write("live.lua", script), server_.base_url());
    request.threads = 2;  // two workers' snapshots add up
    request.metrics_listen = host_port{"127.0.0.1", 0};
    std::promise<uint16_t> listening;
    request.metrics_listening = [&](uint16_t port) { listening.set_value(port); };
    auto run = std::async(std::launch::async, [&] { return run_scenario(request, dir_); });
    auto port = listening.get_future();
    if (port.wait_for(30s) == std::future_status::ready) during(port.get());
    return run.get();
  }

  testing::test_server server_;
  temp_dir dir_;
};

TEST_F(live_metrics_run, scrapes_during_the_run_rise_and_agree_and_the_endpoint_ends_with_the_run) {
  std::string first;
  std::string second;
  uint16_t served_on = 0;
  const run_result r = run_with_metrics([&](uint16_t port) {
    served_on = port;
    // The first second handed over, then a later one (the figures are about a second old, by design).
    EXPECT_TRUE(testing::eventually(
        [&] {
          auto body = scrape(port);
          if (body && parse_samples(*body)["stampede_data_second"] >= 0) first = *body;
          return !first.empty();
        },
        10s));
    const double first_second = parse_samples(first)["stampede_data_second"];
    EXPECT_TRUE(testing::eventually(
        [&] {
          auto body = scrape(port);
          if (body && parse_samples(*body)["stampede_data_second"] >= first_second + 1) second = *body;
          return !second.empty();
        },
        10s));
  });
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  const auto a = parse_samples(first);
  const auto b = parse_samples(second);

  const std::string hello_2xx =
      R"m(stampede_http_requests_total{scenario="browse",step="hello",status="2xx"})m";
  const std::string unavailable_5xx =
      R"m(stampede_http_requests_total{scenario="browse",step="unavailable",status="5xx"})m";
  const std::string unnamed_2xx =
      R"m(stampede_http_requests_total{scenario="browse",step="(unnamed)",status="2xx"})m";
  ASSERT_TRUE(a.contains(hello_2xx)) << first;
  EXPECT_GT(a.at(hello_2xx), 0);
  EXPECT_GT(b.at(hello_2xx), a.at(hello_2xx)) << "the counter rises during the run";
  EXPECT_GT(b.at(unavailable_5xx), 0) << second;
  EXPECT_GT(b.at(unnamed_2xx), 0) << second;
  EXPECT_GT(b.at(R"m(stampede_errors_total{kind="status_5xx"})m"),
            a.at(R"m(stampede_errors_total{kind="status_5xx"})m"));
  EXPECT_EQ(b.at(R"m(stampede_errors_total{kind="connect_refused"})m"), 0);
  EXPECT_GT(b.at("stampede_iterations_total"), a.at("stampede_iterations_total"));
  EXPECT_EQ(b.at("stampede_dropped_iterations_total"), 0);
  EXPECT_GT(b.at(R"m(stampede_checks_total{result="pass"})m"),
            a.at(R"m(stampede_checks_total{result="pass"})m"));
  EXPECT_EQ(b.at(R"m(stampede_checks_total{result="fail"})m"), 0);
  EXPECT_EQ(b.at("stampede_vus"), 2);
  EXPECT_EQ(b.at("stampede_vus_max"), 2);
  EXPECT_TRUE(b.contains(R"m(stampede_event_loop_lag_seconds{worker="0"})m")) << second;
  EXPECT_TRUE(b.contains(R"m(stampede_event_loop_lag_seconds{worker="1"})m")) << second;
  EXPECT_GT(b.at(R"m(stampede_group_duration_seconds_count{group="::journey"})m"), 0) << second;
  // Custom metrics come with the per-second handover (interval_snapshot::custom). Added before the
  // iteration's sleep: up to one iteration per VU ahead of the iterations counted.
  EXPECT_GE(b.at("stampede_custom_orders_total"), 2 * b.at("stampede_iterations_total")) << second;
  EXPECT_LE(b.at("stampede_custom_orders_total"), 2 * (b.at("stampede_iterations_total") + 2)) << second;

  // In one scrape a step's histogram counts exactly the requests its counter counts.
  for (const auto* samples : {&a, &b}) {
    for (const std::string step : {"hello", "unavailable", "(unnamed)"}) {
      const double requests = sum_of(*samples, "stampede_http_requests_total{", "step=\"" + step + "\"");
      const std::string histogram = "stampede_http_request_duration_seconds";
      EXPECT_EQ(samples->at(histogram + "_count{step=\"" + step + "\"}"), requests) << step;
      EXPECT_EQ(samples->at(histogram + "_bucket{step=\"" + step + "\",le=\"+Inf\"}"), requests) << step;
      EXPECT_LE(samples->at(histogram + "_bucket{step=\"" + step + "\",le=\"0.001\"}"),
                samples->at(histogram + "_bucket{step=\"" + step + "\",le=\"60\"}"));
    }
  }
  // Bounded labels: no URL, no query, no "METHOD /path" step.
  for (const std::string* body : {&first, &second}) {
    EXPECT_EQ(body->find("/json"), std::string::npos) << *body;
    EXPECT_EQ(body->find("GET "), std::string::npos) << *body;
  }
  // Nothing after the last scrape can exceed the results' final figures, and the endpoint ended with the run.
  ASSERT_TRUE(r.has_results());
  EXPECT_LE(b.at("stampede_http_request_duration_seconds_count{step=\"hello\"}"),
            static_cast<double>(r.step("hello")->at("requests").to_number<int64_t>()));
  EXPECT_FALSE(scrape(served_on).has_value());
}

TEST_F(live_metrics_run, promtool_check_metrics_accepts_a_scraped_body) {
  if (find_on_path("promtool").empty()) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus, scripts/setup.sh)";
  }
  std::string body;
  const run_result r = run_with_metrics([&](uint16_t port) {
    EXPECT_TRUE(testing::eventually(
        [&] {
          auto scraped = scrape(port);
          if (scraped && parse_samples(*scraped)["stampede_data_second"] >= 0) body = *scraped;
          return !body.empty();
        },
        10s));
  });
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_FALSE(body.empty());
  const auto checked = promtool_check(dir_, body);
  ASSERT_TRUE(checked.has_value());
  EXPECT_EQ(checked->first, 0) << checked->second << "\n" << body;
}

// The script's metrics.* by their declared names, summed over the seconds handed over.
TEST(live_metrics, custom_metrics_are_exposed_by_declared_name) {
  using results::metric_type;
  custom_metrics second;
  const size_t orders = second.declare("orders_placed", metric_type::counter, false);
  const size_t paid = second.declare("payment_ok", metric_type::rate, false);
  const size_t queue = second.declare("queue_depth", metric_type::gauge, false);
  const size_t wait = second.declare("checkout_wait", metric_type::trend, true);
  const size_t items = second.declare("cart_items", metric_type::trend, false);
  second.add(orders, 3, 1, {});
  second.add(orders, 2, 2, {});
  second.add(paid, 1, 1, {});
  second.add(paid, 0, 2, {});
  second.add(paid, 1, 3, {});
  second.add(queue, 7, 1, {});
  second.add(queue, 4, 5, {});
  second.add(wait, 12.5, 1, {});  // ms
  second.add(wait, 1500, 1, {});
  second.add(items, 3, 1, {});
  live_metrics metrics;
  metrics.add_custom(second);
  metrics.add_custom(second);  // a second second (or another worker's)
  const std::string body = metrics.render();
  const auto samples = parse_samples(body);
  EXPECT_EQ(samples.at("stampede_custom_orders_placed_total"), 10) << body;
  EXPECT_EQ(samples.at(R"m(stampede_custom_payment_ok_total{result="true"})m"), 4);
  EXPECT_EQ(samples.at(R"m(stampede_custom_payment_ok_total{result="false"})m"), 2);
  EXPECT_EQ(samples.at("stampede_custom_queue_depth"), 4);  // the latest
  EXPECT_EQ(samples.at("stampede_custom_checkout_wait_seconds_count"), 4);
  EXPECT_EQ(samples.at(R"m(stampede_custom_checkout_wait_seconds_bucket{le="0.01"})m"), 0);
  EXPECT_EQ(samples.at(R"m(stampede_custom_checkout_wait_seconds_bucket{le="0.025"})m"), 2);
  EXPECT_EQ(samples.at(R"m(stampede_custom_checkout_wait_seconds_bucket{le="1"})m"), 2);
  EXPECT_EQ(samples.at(R"m(stampede_custom_checkout_wait_seconds_bucket{le="2.5"})m"), 4);
  EXPECT_NEAR(samples.at("stampede_custom_checkout_wait_seconds_sum"), 2 * (0.0125 + 1.5), 0.003);
  EXPECT_EQ(samples.at(R"m(stampede_custom_cart_items_bucket{le="2"})m"), 0);
  EXPECT_EQ(samples.at(R"m(stampede_custom_cart_items_bucket{le="5"})m"), 2);
  EXPECT_EQ(samples.at("stampede_custom_cart_items_count"), 2);
  temp_dir dir;
  if (const auto checked = promtool_check(dir, body)) {
    EXPECT_EQ(checked->first, 0) << checked->second << "\n" << body;
  }
}

// Many declared names: at most max_live_steps labels, the rest under "(other)"; never an undeclared name.
TEST(live_metrics, labels_are_bounded_and_only_declared_names) {
  live_metrics metrics;
  interval_snapshot snapshot;
  snapshot.second = 0;
  for (size_t i = 0; i < max_live_steps + 10; ++i) {
    interval_snapshot::step step{.name = "step " + std::to_string(i),
                                 .kind = step_kind::request,
                                 .corrected = hdr_histogram(1, 3'600'000'000, 3),
                                 .statuses = {}};
    step.declared = true;
    step.corrected.record(1500);  // 1.5 ms
    step.requests = 1;
    step.statuses = {{0, 0, 1, 0, 0, 0}, {0, 0, 0, 0, 0, 0}};
    snapshot.steps.push_back(std::move(step));
  }
  interval_snapshot::step unnamed{.name = "GET /orders/12345",
                                  .kind = step_kind::request,
                                  .corrected = hdr_histogram(1, 3'600'000'000, 3),
                                  .statuses = {}};
  unnamed.corrected.record(70'000'000);  // 70 s: above every bound, counted under +Inf only
  unnamed.statuses = {{1, 0, 0, 0, 0, 0}};
  snapshot.steps.push_back(std::move(unnamed));
  metrics.add(snapshot);
  const auto samples = parse_samples(metrics.render());

  size_t labelled = 0;
  for (const auto& [series, value] : samples) {
    if (series.starts_with("stampede_http_request_duration_seconds_count{step=\"step ")) ++labelled;
  }
  EXPECT_EQ(labelled, max_live_steps);
  EXPECT_EQ(samples.at("stampede_http_request_duration_seconds_count{step=\"(other)\"}"), 10);
  EXPECT_EQ(samples.at(R"m(stampede_http_requests_total{scenario="(none)",step="(other)",status="2xx"})m"),
            10);
  EXPECT_EQ(samples.at(R"m(stampede_http_request_duration_seconds_bucket{step="step 0",le="0.001"})m"), 0);
  EXPECT_EQ(samples.at(R"m(stampede_http_request_duration_seconds_bucket{step="step 0",le="0.0025"})m"), 1);
  EXPECT_EQ(samples.at(R"m(stampede_http_request_duration_seconds_bucket{step="(unnamed)",le="60"})m"), 0);
  EXPECT_EQ(samples.at(R"m(stampede_http_request_duration_seconds_bucket{step="(unnamed)",le="+Inf"})m"), 1);
  EXPECT_EQ(samples.at(R"m(stampede_http_requests_total{scenario="(none)",step="(unnamed)",status="none"})m"),
            1);
  EXPECT_NEAR(samples.at(R"m(stampede_http_request_duration_seconds_sum{step="step 0"})m"), 0.0015,
              0.0015 * 0.001);
  for (const auto& [series, value] : samples) EXPECT_EQ(series.find("orders"), std::string::npos) << series;
}

class live_metrics_flag : public ::testing::Test {
 protected:
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
  std::string script_path() { return dir_.write("one.lua", "function default() http.get('/hello') end\n"); }

  testing::test_server server_;
  temp_dir dir_;
};

TEST_F(live_metrics_flag, a_bad_address_exits_2_naming_the_flag) {
  for (const std::string bad : {"localhost:9464", "127.0.0.1", "127.0.0.1:99999", "http://127.0.0.1:9464"}) {
    const auto [code, err] =
        run_cli({script_path(), "--target", server_.base_url(), "-i", "1", "--metrics-listen", bad});
    EXPECT_EQ(code, exit_usage) << bad;
    EXPECT_NE(err.find("--metrics-listen"), std::string::npos) << err;
  }
  EXPECT_EQ(server_.total_hits(), 0u);
}

TEST_F(live_metrics_flag, a_busy_port_exits_2_naming_the_flag_before_the_script_runs) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor busy(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const std::string address = "127.0.0.1:" + std::to_string(busy.local_endpoint().port());
  const auto [code, err] =
      run_cli({script_path(), "--target", server_.base_url(), "-i", "1", "--metrics-listen", address});
  EXPECT_EQ(code, exit_usage);
  EXPECT_NE(err.find("--metrics-listen " + address + ": cannot listen"), std::string::npos) << err;
  EXPECT_EQ(server_.total_hits(), 0u);
}

}  // namespace
}  // namespace stampede::loadgen
