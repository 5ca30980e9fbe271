// The one Prometheus text writer (common/prometheus_text.h) on output known by heart: headers once per
// family, label and HELP escaping, number formats, histogram series.
#include "common/prometheus_text.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

namespace stampede::prometheus {
namespace {

TEST(prometheus_text, counters_and_gauges_with_their_headers) {
  text_writer w;
  w.family("requests_total", metric_type::counter, "Requests by result.");
  w.sample("requests_total", {{"result", "ok"}}, uint64_t{12});
  w.sample("requests_total", {{"result", "failed"}, {"kind", "reset"}}, 3);
  w.family("open_connections", metric_type::gauge, "Connections open now.");
  w.sample("open_connections", {}, int64_t{-2});
  w.family("empty_total", metric_type::counter, "A family without samples yet.");
  EXPECT_EQ(w.text(),
            "# HELP requests_total Requests by result.\n"
            "# TYPE requests_total counter\n"
            "requests_total{result=\"ok\"} 12\n"
            "requests_total{result=\"failed\",kind=\"reset\"} 3\n"
            "# HELP open_connections Connections open now.\n"
            "# TYPE open_connections gauge\n"
            "open_connections -2\n"
            "# HELP empty_total A family without samples yet.\n"
            "# TYPE empty_total counter\n");
}

TEST(prometheus_text, label_values_escape_backslash_quote_and_newline) {
  text_writer w;
  w.family("proxy_bytes_total", metric_type::counter, "Bytes.");
  w.sample("proxy_bytes_total", {{"proxy", "a\\b\"c\nd"}, {"plain", "x y=z,{}"}}, 1);
  EXPECT_EQ(w.text(),
            "# HELP proxy_bytes_total Bytes.\n"
            "# TYPE proxy_bytes_total counter\n"
            "proxy_bytes_total{proxy=\"a\\\\b\\\"c\\nd\",plain=\"x y=z,{}\"} 1\n");
}

TEST(prometheus_text, help_escapes_backslash_and_newline_but_not_quotes) {
  text_writer w;
  w.family("x_total", metric_type::counter, "C:\\path \"quoted\"\nsecond line");
  EXPECT_EQ(w.text(),
            "# HELP x_total C:\\\\path \"quoted\"\\nsecond line\n"
            "# TYPE x_total counter\n");
}

TEST(prometheus_text, numbers_are_written_as_prometheus_reads_them) {
  auto text = [](double v) {
    std::string out;
    append_value(out, v);
    return out;
  };
  EXPECT_EQ(text(0), "0");
  EXPECT_EQ(text(12), "12");
  EXPECT_EQ(text(2.5), "2.5");
  EXPECT_EQ(text(0.0005), "0.0005");
  EXPECT_EQ(text(0.1), "0.1");  // shortest round trip, not 0.10000000000000001
  EXPECT_EQ(text(0.001234), "0.001234");
  EXPECT_EQ(text(1e-5), "1e-05");
  EXPECT_EQ(text(-3.25), "-3.25");
  EXPECT_EQ(text(1e21), "1e+21");
  EXPECT_EQ(text(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(text(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(text(std::nan("")), "NaN");
  text_writer w;
  w.family("big_total", metric_type::counter, "Exact integers.");
  w.sample("big_total", {}, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(w.text(),
            "# HELP big_total Exact integers.\n# TYPE big_total counter\nbig_total 18446744073709551615\n");
}

TEST(prometheus_text, histogram_series_are_cumulative_buckets_then_sum_and_count) {
  text_writer w;
  w.family("request_seconds", metric_type::histogram, "Request duration.");
  constexpr std::array<double, 3> bounds{0.0005, 0.1, 2.5};
  constexpr std::array<uint64_t, 3> cumulative{1, 4, 4};
  w.histogram("request_seconds", {{"route", "/api/x"}, {"status", "200"}}, bounds, cumulative, 0.75, 5);
  EXPECT_EQ(w.text(),
            "# HELP request_seconds Request duration.\n"
            "# TYPE request_seconds histogram\n"
            "request_seconds_bucket{route=\"/api/x\",status=\"200\",le=\"0.0005\"} 1\n"
            "request_seconds_bucket{route=\"/api/x\",status=\"200\",le=\"0.1\"} 4\n"
            "request_seconds_bucket{route=\"/api/x\",status=\"200\",le=\"2.5\"} 4\n"
            "request_seconds_bucket{route=\"/api/x\",status=\"200\",le=\"+Inf\"} 5\n"
            "request_seconds_sum{route=\"/api/x\",status=\"200\"} 0.75\n"
            "request_seconds_count{route=\"/api/x\",status=\"200\"} 5\n");
}

TEST(prometheus_text, labels_from_a_span_and_take_empties_the_writer) {
  const std::array<label, 2> labels{label{"a", "1"}, label{"b", "2"}};
  text_writer w;
  w.family("g", metric_type::gauge, "G.");
  w.sample("g", std::span<const label>(labels), 0.5);
  const std::string text = w.take();
  EXPECT_EQ(text, "# HELP g G.\n# TYPE g gauge\ng{a=\"1\",b=\"2\"} 0.5\n");
}

}  // namespace
}  // namespace stampede::prometheus
