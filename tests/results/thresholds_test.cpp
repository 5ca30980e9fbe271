#include "results/thresholds.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "tests/support/error_of.h"

namespace stampede::results {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using stampede::testing::error_of;

std::string expression_error(std::string_view text, metric_type type) {
  return error_of([&] { parse_threshold_expression(text, type); });
}

std::string selector_error(std::string_view key) {
  return error_of([&] { parse_metric_selector(key); });
}

// ---- catalogue ----

TEST(metric_catalogue, knows_builtin_metrics_and_their_types) {
  const auto& c = metric_catalogue::builtin();
  for (const char* trend :
       {"http_req_duration", "http_req_blocked", "http_req_connecting", "http_req_tls_handshaking",
        "http_req_sending", "http_req_waiting", "http_req_receiving", "iteration_duration", "group_duration",
        "http_req_duration_uncorrected"}) {
    EXPECT_EQ(c.find(trend), metric_type::trend) << trend;
  }
  EXPECT_EQ(c.find("http_req_failed"), metric_type::rate);
  EXPECT_EQ(c.find("checks"), metric_type::rate);
  for (const char* counter :
       {"http_reqs", "iterations", "dropped_iterations", "data_sent", "data_received"}) {
    EXPECT_EQ(c.find(counter), metric_type::counter) << counter;
  }
  EXPECT_EQ(c.find("vus"), metric_type::gauge);
  EXPECT_EQ(c.find("vus_max"), metric_type::gauge);
  EXPECT_EQ(c.find("http_req_durations"), std::nullopt);
  EXPECT_EQ(c.find("HTTP_REQ_DURATION"), std::nullopt);  // names are case-sensitive
  EXPECT_EQ(c.metrics().size(), 19u);
}

TEST(metric_catalogue, accepts_custom_metrics_and_rejects_conflicts) {
  metric_catalogue c;
  c.add("cart_size", metric_type::gauge);
  c.add("cart_size", metric_type::gauge);  // idempotent
  EXPECT_EQ(c.find("cart_size"), metric_type::gauge);
  EXPECT_EQ(parse_metric_selector("cart_size", c).type, metric_type::gauge);
  EXPECT_EQ(error_of([&] { c.add("cart_size", metric_type::trend); }),
            "metric 'cart_size' is already a gauge, cannot redefine it as a trend");
  EXPECT_THAT(error_of([&] { c.add("http_reqs", metric_type::rate); }), HasSubstr("already a counter"));
  for (const char* bad : {"", "1abc", "has space", "dash-ed", "brace{", "caf\xC3\xA9"}) {
    EXPECT_THAT(error_of([&] { c.add(bad, metric_type::counter); }), HasSubstr("invalid metric name")) << bad;
  }
  EXPECT_THAT(error_of([&] { c.add(std::string(129, 'a'), metric_type::counter); }),
              HasSubstr("at most 128"));
  c.add(std::string(128, 'a'), metric_type::counter);
  // The shared built-in catalogue is not affected.
  EXPECT_EQ(metric_catalogue::builtin().find("cart_size"), std::nullopt);
}

// ---- selectors ----

TEST(metric_selector, plain_metric_name) {
  const auto s = parse_metric_selector("  http_req_duration ");
  EXPECT_EQ(s.metric, "http_req_duration");
  EXPECT_EQ(s.type, metric_type::trend);
  EXPECT_TRUE(s.tags.empty());
  EXPECT_EQ(s.text, "http_req_duration");
}

TEST(metric_selector, tags_are_split_on_the_first_colon_and_sorted) {
  const auto s = parse_metric_selector("http_req_duration{status:200,method:GET}");
  EXPECT_EQ(s.metric, "http_req_duration");
  EXPECT_EQ(s.tags, (std::vector<tag_filter>{{"method", "GET"}, {"status", "200"}}));
  EXPECT_EQ(s.text, "http_req_duration{status:200,method:GET}");
}

TEST(metric_selector, tricky_values) {
  EXPECT_EQ(parse_metric_selector("group_duration{group:::checkout}").tags,
            (std::vector<tag_filter>{{"group", "::checkout"}}));
  EXPECT_EQ(parse_metric_selector("http_req_duration{name:/item/{id}}").tags,
            (std::vector<tag_filter>{{"name", "/item/{id}"}}));
  EXPECT_EQ(parse_metric_selector("http_req_duration{name:GET /api/cart}").tags,
            (std::vector<tag_filter>{{"name", "GET /api/cart"}}));
  EXPECT_EQ(parse_metric_selector("http_req_duration{url:http://127.0.0.1:8080/a?b=c&d={e}}").tags,
            (std::vector<tag_filter>{{"url", "http://127.0.0.1:8080/a?b=c&d={e}"}}));
  EXPECT_EQ(parse_metric_selector("http_req_duration{ name : /cart , method :  POST }").tags,
            (std::vector<tag_filter>{{"method", "POST"}, {"name", "/cart"}}));
  EXPECT_EQ(parse_metric_selector("http_req_duration {name:/a}").metric, "http_req_duration");
  EXPECT_EQ(parse_metric_selector("checks{check:it's ok}").tags,
            (std::vector<tag_filter>{{"check", "it's ok"}}));
}

TEST(metric_selector, quoted_values_hold_commas_and_spaces) {
  EXPECT_EQ(parse_metric_selector(R"(http_req_duration{name:"a,b", method:GET})").tags,
            (std::vector<tag_filter>{{"method", "GET"}, {"name", "a,b"}}));
  EXPECT_EQ(parse_metric_selector("http_req_duration{name:' padded '}").tags,
            (std::vector<tag_filter>{{"name", " padded "}}));
  EXPECT_EQ(parse_metric_selector(R"(checks{check:'say "hi"'})").tags,
            (std::vector<tag_filter>{{"check", R"(say "hi")"}}));
  EXPECT_EQ(parse_metric_selector(R"(checks{check:""})").tags, (std::vector<tag_filter>{{"check", ""}}));
}

TEST(metric_selector, errors_name_the_key_and_what_was_expected) {
  EXPECT_EQ(
      selector_error("http_req_durations"),
      "invalid threshold metric 'http_req_durations': unknown metric 'http_req_durations' (known: "
      "http_req_duration, http_req_duration_uncorrected, http_req_blocked, http_req_connecting, "
      "http_req_tls_handshaking, http_req_sending, http_req_waiting, http_req_receiving, iteration_duration, "
      "group_duration, http_req_failed, checks, http_reqs, iterations, dropped_iterations, data_sent, "
      "data_received, vus, vus_max)");
  EXPECT_THAT(selector_error(""), HasSubstr("empty metric name"));
  EXPECT_THAT(selector_error("   "), HasSubstr("empty metric name"));
  EXPECT_THAT(selector_error("{name:/a}"), HasSubstr("missing metric name before '{'"));
  EXPECT_THAT(selector_error("http_req_duration{}"), HasSubstr("empty tag selector '{}'"));
  EXPECT_THAT(selector_error("http_req_duration{ }"), HasSubstr("empty tag selector '{}'"));
  EXPECT_THAT(selector_error("http_req_duration{"),
              HasSubstr("expected '}' at the end of the tag selector '{'"));
  EXPECT_THAT(selector_error("http_req_duration{name:/a}x"),
              HasSubstr("expected '}' at the end of the tag selector '{name:/a}x'"));
  EXPECT_THAT(selector_error("http_req_duration{name}"),
              HasSubstr("tag 'name' has no value (expected tag:value)"));
  EXPECT_THAT(selector_error("http_req_duration{name,a:b}"), HasSubstr("tag 'name' has no value"));
  EXPECT_THAT(selector_error("http_req_duration{a:b,}"), HasSubstr("empty tag (expected {tag:value,...})"));
  EXPECT_THAT(selector_error("http_req_duration{,a:b}"), HasSubstr("empty tag"));
  EXPECT_THAT(selector_error("http_req_duration{:b}"), HasSubstr("missing tag name before ':'"));
  EXPECT_THAT(selector_error("http_req_duration{name:}"),
              HasSubstr("tag 'name' has an empty value (write name:\"\" to match an empty value)"));
  EXPECT_THAT(selector_error("http_req_duration{name: ,a:b}"), HasSubstr("tag 'name' has an empty value"));
  EXPECT_THAT(selector_error("http_req_duration{a:1,a:2}"), HasSubstr("tag 'a' appears more than once"));
  EXPECT_THAT(selector_error(R"(http_req_duration{name:"abc})"),
              HasSubstr("unterminated quote in the value of tag 'name'"));
  EXPECT_THAT(selector_error(R"(http_req_duration{name:"a"b})"),
              HasSubstr("unexpected 'b' after the quoted value of tag 'name' (expected ',' or '}')"));
}

TEST(metric_selector, matches_samples_carrying_all_its_tags) {
  using tags = std::vector<std::pair<std::string_view, std::string_view>>;
  const auto any = parse_metric_selector("http_req_duration");
  const auto cart = parse_metric_selector("http_req_duration{name:/cart,method:GET}");
  EXPECT_TRUE(selector_matches(any, tags{}));
  EXPECT_TRUE(selector_matches(any, tags{{"name", "/x"}}));
  EXPECT_TRUE(selector_matches(cart, tags{{"method", "GET"}, {"status", "200"}, {"name", "/cart"}}));
  EXPECT_FALSE(selector_matches(cart, tags{{"name", "/cart"}}));
  EXPECT_FALSE(selector_matches(cart, tags{{"name", "/cart"}, {"method", "POST"}}));
  EXPECT_FALSE(selector_matches(cart, tags{{"name", "/Cart"}, {"method", "GET"}}));
}

// ---- expressions ----

TEST(threshold_expression, every_operator) {
  const std::pair<const char*, comparison> cases[] = {
      {"p(95)>200", comparison::greater},    {"p(95)>=200", comparison::greater_equal},
      {"p(95)<200", comparison::less},       {"p(95)<=200", comparison::less_equal},
      {"p(95)==200", comparison::equal},     {"p(95)===200", comparison::strict_equal},
      {"p(95)!=200", comparison::not_equal},
  };
  for (const auto& [text, op] : cases) {
    const auto e = parse_threshold_expression(text, metric_type::trend);
    EXPECT_EQ(e.op, op) << text;
    EXPECT_EQ(e.value, 200) << text;
    EXPECT_EQ(to_string(e), text);
  }
}

TEST(threshold_expression, every_aggregation_for_its_type) {
  struct row {
    const char* text;
    metric_type type;
    aggregation agg;
  };
  const row rows[] = {
      {"avg<1", metric_type::trend, {aggregation_method::avg, 0}},
      {"min<1", metric_type::trend, {aggregation_method::min, 0}},
      {"max<1", metric_type::trend, {aggregation_method::max, 0}},
      {"med<1", metric_type::trend, {aggregation_method::med, 0}},
      {"p(99.9)<1", metric_type::trend, {aggregation_method::percentile, 99.9}},
      {"p(0)<1", metric_type::trend, {aggregation_method::percentile, 0}},
      {"p(100)<1", metric_type::trend, {aggregation_method::percentile, 100}},
      {"rate<1", metric_type::rate, {aggregation_method::rate, 0}},
      {"count<1", metric_type::counter, {aggregation_method::count, 0}},
      {"rate<1", metric_type::counter, {aggregation_method::rate, 0}},
      {"value<1", metric_type::gauge, {aggregation_method::value, 0}},
  };
  for (const auto& r : rows) {
    const auto e = parse_threshold_expression(r.text, r.type);
    EXPECT_EQ(e.agg, r.agg) << r.text;
    EXPECT_EQ(to_string(e), r.text);
  }
}

TEST(threshold_expression, whitespace_and_numbers) {
  EXPECT_EQ(parse_threshold_expression("  p( 95 )  <   200  ", metric_type::trend),
            (threshold_expression{{aggregation_method::percentile, 95}, comparison::less, 200}));
  EXPECT_EQ(parse_threshold_expression("\tavg\n<=\n0.5", metric_type::trend).value, 0.5);
  EXPECT_EQ(parse_threshold_expression("rate<0.01", metric_type::rate).value, 0.01);
  EXPECT_EQ(parse_threshold_expression("value>-3", metric_type::gauge).value, -3);
  EXPECT_EQ(parse_threshold_expression("count<1e3", metric_type::counter).value, 1000);
  EXPECT_EQ(parse_threshold_expression("count<2.5E-1", metric_type::counter).value, 0.25);
  EXPECT_EQ(to_string(parse_threshold_expression("p(99.99) < 0.1", metric_type::trend)), "p(99.99)<0.1");
}

TEST(threshold_expression, wrong_aggregation_for_the_type) {
  EXPECT_EQ(
      expression_error("count<5", metric_type::trend),
      "invalid threshold expression 'count<5' for a trend metric: aggregation 'count' does not apply to a "
      "trend metric (expected avg, min, max, med or p(N))");
  EXPECT_THAT(expression_error("p(95)<5", metric_type::rate),
              HasSubstr("aggregation 'p' does not apply to a rate metric (expected rate)"));
  EXPECT_THAT(expression_error("avg<5", metric_type::counter),
              HasSubstr("aggregation 'avg' does not apply to a counter metric (expected count or rate)"));
  EXPECT_THAT(expression_error("rate<5", metric_type::gauge),
              HasSubstr("aggregation 'rate' does not apply to a gauge metric (expected value)"));
  EXPECT_THAT(expression_error("value<5", metric_type::trend), HasSubstr("'value' does not apply"));
}

TEST(threshold_expression, every_error_path_has_a_clear_message) {
  const auto trend = metric_type::trend;
  EXPECT_EQ(expression_error("", trend),
            "invalid threshold expression '' for a trend metric: it is empty (expected e.g. 'p(95)<200')");
  EXPECT_THAT(expression_error("   ", trend), HasSubstr("it is empty"));
  EXPECT_THAT(expression_error("mean<5", trend),
              HasSubstr("unknown aggregation 'mean' (expected avg, min, max, med or p(N))"));
  EXPECT_THAT(expression_error("<5", trend),
              HasSubstr("expected an aggregation (avg, min, max, med or p(N)) at '<5'"));
  EXPECT_THAT(expression_error("p95<5", trend),
              HasSubstr("expected '(' after 'p' at '95<5' (percentiles are written p(N), e.g. p(95))"));
  EXPECT_THAT(expression_error("p()<5", trend), HasSubstr("expected a number in p(N) at ')<5'"));
  EXPECT_THAT(expression_error("p(x)<5", trend), HasSubstr("expected a number in p(N) at 'x)<5'"));
  EXPECT_THAT(expression_error("p(101)<5", trend), HasSubstr("percentile 101 is outside [0, 100]"));
  EXPECT_THAT(expression_error("p(-1)<5", trend), HasSubstr("percentile -1 is outside [0, 100]"));
  EXPECT_THAT(expression_error("p(100.01)<5", trend), HasSubstr("percentile 100.01 is outside [0, 100]"));
  EXPECT_THAT(expression_error("p(95<5", trend), HasSubstr("expected ')' to close p( at '<5'"));
  EXPECT_THAT(expression_error("p(95)=>5", trend),
              HasSubstr("expected an operator (>, >=, <, <=, ==, ===, !=) after 'p(95)', got '=>5'"));
  EXPECT_THAT(expression_error("p(95)=5", trend), HasSubstr("expected an operator"));
  EXPECT_THAT(expression_error("p(95)", trend), HasSubstr("after 'p(95)', got nothing"));
  EXPECT_THAT(expression_error("p(95) 5", trend), HasSubstr("got '5'"));
  EXPECT_THAT(expression_error("p(95)<", trend), HasSubstr("expected a number after '<', got nothing"));
  EXPECT_THAT(expression_error("p(95)<abc", trend), HasSubstr("expected a number after '<', got 'abc'"));
  EXPECT_THAT(expression_error("p(95)<==5", trend), HasSubstr("expected a number after '<=', got '=5'"));
  EXPECT_THAT(expression_error("p(95)<inf", trend), HasSubstr("got 'inf'"));
  EXPECT_THAT(expression_error("p(95)<nan", trend), HasSubstr("got 'nan'"));
  EXPECT_THAT(expression_error("p(95)<+5", trend), HasSubstr("got '+5'"));
  EXPECT_THAT(expression_error("p(95)<.5", trend), HasSubstr("got '.5'"));
  EXPECT_THAT(expression_error("p(95)<5.", trend),
              HasSubstr("expected digits after the decimal point in '5.'"));
  EXPECT_THAT(expression_error("p(95)<1e999", trend), HasSubstr("number '1e999' is out of range"));
  EXPECT_THAT(
      expression_error("p(95)<200ms", trend),
      HasSubstr("unexpected trailing text 'ms' after the number (trend thresholds are plain milliseconds)"));
  EXPECT_THAT(expression_error("rate<0.1x", metric_type::rate), HasSubstr("unexpected trailing text 'x'"));
  EXPECT_THAT(expression_error("p(95)<200 && avg<5", trend),
              HasSubstr("unexpected trailing text '&& avg<5'"));
  EXPECT_THAT(expression_error("p(95)<1e", trend), HasSubstr("unexpected trailing text 'e'"));
  EXPECT_THAT(expression_error("p(95)<0x10", trend), HasSubstr("unexpected trailing text 'x10'"));
}

TEST(threshold_expression, holds_for_every_operator) {
  const auto expr = [](comparison op) { return threshold_expression{{aggregation_method::avg, 0}, op, 10}; };
  struct row {
    comparison op;
    bool below, equal, above;
  };
  const row rows[] = {
      {comparison::greater, false, false, true},  {comparison::greater_equal, false, true, true},
      {comparison::less, true, false, false},     {comparison::less_equal, true, true, false},
      {comparison::equal, false, true, false},    {comparison::strict_equal, false, true, false},
      {comparison::not_equal, true, false, true},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(holds(expr(r.op), 9.999), r.below) << to_string(r.op);
    EXPECT_EQ(holds(expr(r.op), 10), r.equal) << to_string(r.op);
    EXPECT_EQ(holds(expr(r.op), 10.001), r.above) << to_string(r.op);
    EXPECT_FALSE(holds(expr(r.op), std::numeric_limits<double>::quiet_NaN())) << to_string(r.op);
  }
  EXPECT_TRUE(holds(expr(comparison::less), -std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(holds(expr(comparison::greater), std::numeric_limits<double>::infinity()));
}

// ---- building from the options table ----

TEST(build_thresholds, short_and_long_forms) {
  const std::vector<metric_thresholds_input> input{
      {"http_req_duration", {{"p(95)<200"}, {"p(99) < 500", true, "10s"}}},
      {"http_req_failed", {{"rate<0.01"}}},
      {"http_req_duration{name:/cart}", {{"avg<100", true}}},
      {"vus", {}},
  };
  const auto t = build_thresholds(input);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].selector.metric, "http_req_duration");
  EXPECT_EQ(t[0].text, "p(95)<200");
  EXPECT_FALSE(t[0].abort_on_fail);
  EXPECT_EQ(t[0].delay_abort_eval, 0ns);
  EXPECT_EQ(t[1].text, "p(99) < 500");
  EXPECT_EQ(t[1].expression,
            (threshold_expression{{aggregation_method::percentile, 99}, comparison::less, 500}));
  EXPECT_TRUE(t[1].abort_on_fail);
  EXPECT_EQ(t[1].delay_abort_eval, 10s);
  EXPECT_EQ(t[2].selector.type, metric_type::rate);
  EXPECT_EQ(t[3].selector.tags, (std::vector<tag_filter>{{"name", "/cart"}}));
  EXPECT_TRUE(t[3].abort_on_fail);
}

TEST(build_thresholds, errors_say_where) {
  EXPECT_EQ(error_of([] {
              build_thresholds(
                  std::vector<metric_thresholds_input>{{"http_req_duration", {{"p(95)<200"}, {"p(95)<x"}}}});
            }),
            "thresholds['http_req_duration'][2]: invalid threshold expression 'p(95)<x' for a trend metric: "
            "expected a number after '<', got 'x'");
  EXPECT_THAT(
      error_of([] {
        build_thresholds(std::vector<metric_thresholds_input>{{"http_reqz", {{"count>1"}}}});
      }),
      HasSubstr("thresholds['http_reqz']: invalid threshold metric 'http_reqz': unknown metric 'http_reqz'"));
  EXPECT_THAT(error_of([] {
                build_thresholds(std::vector<metric_thresholds_input>{
                    {"http_req_failed", {{"rate<0.1", true, "ten seconds"}}}});
              }),
              HasSubstr("thresholds['http_req_failed'][1]: delayAbortEval: invalid duration 'ten seconds'"));
  // A key with no entries is still validated.
  EXPECT_THAT(error_of([] {
                build_thresholds(std::vector<metric_thresholds_input>{{"nope", {}}});
              }),
              HasSubstr("unknown metric 'nope'"));
}

TEST(build_thresholds, custom_catalogue) {
  metric_catalogue c;
  c.add("orders_placed", metric_type::counter);
  const auto t =
      build_thresholds(std::vector<metric_thresholds_input>{{"orders_placed", {{"count>=100"}}}}, c);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].selector.type, metric_type::counter);
}

// ---- evaluation ----

// A metric store keyed by "selector text|aggregation", standing in for the real aggregates.
struct fake_store {
  std::map<std::string, double> values;
  int calls = 0;
  metric_value_source source() {
    return [this](const metric_selector& s, const threshold_expression& e) -> std::optional<double> {
      ++calls;
      const auto it = values.find(s.text + "|" + to_string(e.agg));
      if (it == values.end()) return std::nullopt;
      return it->second;
    };
  }
};

std::vector<threshold> thresholds_for(std::vector<metric_thresholds_input> input) {
  return build_thresholds(input);
}

TEST(evaluate_thresholds, passes_and_failures_with_observed_values) {
  fake_store store;
  store.values = {{"http_req_duration|p(95)", 180.5},
                  {"http_req_duration{name:/cart}|avg", 120},
                  {"http_req_failed|rate", 0.02},
                  {"http_reqs|count", 5000}};
  const auto t = thresholds_for({{"http_req_duration", {{"p(95)<200"}}},
                                 {"http_req_duration{name:/cart}", {{"avg<100", true}}},
                                 {"http_req_failed", {{"rate<0.01"}}},
                                 {"http_reqs", {{"count>=5000"}}}});
  const auto r = evaluate_thresholds(t, store.source());
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(store.calls, 4);
  EXPECT_EQ(r[0].metric, "http_req_duration");
  EXPECT_EQ(r[0].expression, "p(95)<200");
  EXPECT_EQ(r[0].observed, 180.5);
  EXPECT_TRUE(r[0].ok);
  EXPECT_FALSE(r[0].no_data);
  EXPECT_EQ(r[1].metric, "http_req_duration{name:/cart}");
  EXPECT_FALSE(r[1].ok);
  EXPECT_TRUE(r[1].abort_on_fail);
  EXPECT_FALSE(r[2].ok);
  EXPECT_EQ(r[2].observed, 0.02);
  EXPECT_TRUE(r[3].ok);
  EXPECT_FALSE(all_ok(r));
  EXPECT_TRUE(all_ok(std::span(r).first(1)));
  EXPECT_TRUE(all_ok(std::span<const threshold_result>{}));
}

TEST(evaluate_thresholds, no_data_semantics) {
  fake_store empty;
  const auto t = thresholds_for({{"http_req_duration", {{"p(95)<200"}, {"avg>100"}}},
                                 {"dropped_iterations", {{"count<10"}}},
                                 {"iterations", {{"count>0"}}},
                                 {"checks", {{"rate>0.9"}}},
                                 {"http_req_failed", {{"rate<0.01"}}},
                                 {"vus", {{"value==0"}}}});
  const auto r = evaluate_thresholds(t, empty.source());
  ASSERT_EQ(r.size(), 7u);
  for (const auto& x : r) EXPECT_TRUE(x.no_data) << x.metric << " " << x.expression;
  // Trends with no samples pass whatever the expression, and observe nothing.
  EXPECT_TRUE(r[0].ok);
  EXPECT_TRUE(r[1].ok);
  EXPECT_EQ(r[0].observed, std::nullopt);
  // Counters, rates and gauges read 0.
  EXPECT_TRUE(r[2].ok);
  EXPECT_EQ(r[2].observed, 0.0);
  EXPECT_FALSE(r[3].ok);  // nothing ran: "count>0" must fail
  EXPECT_FALSE(r[4].ok);  // no checks ran: "rate>0.9" fails
  EXPECT_TRUE(r[5].ok);
  EXPECT_TRUE(r[6].ok);
  EXPECT_EQ(r[6].observed, 0.0);
}

TEST(evaluate_thresholds, nan_aggregate_fails) {
  fake_store store;
  store.values = {{"http_req_duration|avg", std::nan("")}};
  const auto r = evaluate_thresholds(thresholds_for({{"http_req_duration", {{"avg<1"}}}}), store.source());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_FALSE(r[0].no_data);
}

TEST(evaluate_thresholds, source_exceptions_propagate) {
  const auto t = thresholds_for({{"http_reqs", {{"count>1"}}}});
  const metric_value_source broken = [](const metric_selector&,
                                        const threshold_expression&) -> std::optional<double> {
    throw std::runtime_error("store closed");
  };
  EXPECT_THROW(evaluate_thresholds(t, broken), std::runtime_error);
}

TEST(should_abort, only_failed_abort_on_fail_thresholds_after_the_delay) {
  auto t = thresholds_for({{"http_req_failed", {{"rate<0.01", true, "10s"}, {"rate<0.01"}}}});
  const threshold_result failed{"http_req_failed", "rate<0.01", 0.5, false, false, true};
  const threshold_result passed{"http_req_failed", "rate<0.01", 0.0, true, false, true};
  EXPECT_FALSE(should_abort(t[0], failed, 9s));
  EXPECT_TRUE(should_abort(t[0], failed, 10s));
  EXPECT_TRUE(should_abort(t[0], failed, 1h));
  EXPECT_FALSE(should_abort(t[0], passed, 1h));
  EXPECT_FALSE(should_abort(t[1], failed, 1h));  // not abortOnFail
  EXPECT_TRUE(should_abort(thresholds_for({{"checks", {{"rate>0.9", true}}}})[0], failed, 0s));
}

}  // namespace
}  // namespace stampede::results
