// --summary-trend-stats and --summary-time-unit (loadgen/summary_format.h): parsing, the statistics of a
// histogram with a known answer, and the flags end to end on `stampede run`'s summary.
#include "loadgen/summary_format.h"

#include <gtest/gtest.h>

#include <span>

#include "common/hdr_histogram.h"
#include "loadgen/cli.h"
#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

// 1, 2, ..., 1000 us: every value has its own bucket, so each statistic is exact.
std::string one_to_a_thousand_us() {
  hdr_histogram h;
  for (int64_t us = 1; us <= 1000; ++us) h.record(us);
  return h.encode_compressed_base64();
}

TEST(summary_format, parses_k6_statistics_and_names_a_bad_one) {
  const auto stats = parse_trend_stats("avg, min,med,max,p(90),p(99.9),count");
  ASSERT_EQ(stats.size(), 7u);
  EXPECT_EQ(stats[5].what, trend_stat::kind::percentile);
  EXPECT_DOUBLE_EQ(stats[5].percentile, 99.9);
  EXPECT_EQ(stats[5].label, "p(99.9)");
  for (const char* bad : {"avg,mean", "p(101)", "p()", "p(9x)", ""}) {
    EXPECT_THROW(parse_trend_stats(bad), std::invalid_argument) << bad;
  }
  try {
    parse_trend_stats("avg,mean");
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown statistic 'mean' (known: avg, min, med, max, count, p(N))");
  }
  EXPECT_EQ(parse_time_unit("ms"), time_unit::ms);
  EXPECT_THROW(parse_time_unit("min"), std::invalid_argument);
}

TEST(summary_format, statistics_come_from_the_histogram_in_the_chosen_unit) {
  const boost::json::object latency;  // not consulted when the histogram is there
  summary_format f;
  f.stats = parse_trend_stats("min,med,max,p(99.9),count,avg");
  f.unit = time_unit::us;
  EXPECT_EQ(format_trend(latency, one_to_a_thousand_us(), f),
            "min=1us med=500us max=1000us p(99.9)=999us count=1000 avg=500us");
  f.unit = time_unit::ms;
  f.stats = parse_trend_stats("med,max");
  EXPECT_EQ(format_trend(latency, one_to_a_thousand_us(), f), "med=0.50ms max=1.00ms");
  f.unit = time_unit::s;
  EXPECT_EQ(format_trend(latency, one_to_a_thousand_us(), f), "med=0.0005s max=0.0010s");
}

TEST(summary_format, without_a_histogram_only_the_summarys_percentiles_are_shown) {
  const boost::json::object latency{{"min", 1.0}, {"mean", 2.0}, {"p50", 2.0},  {"p90", 3.0},
                                    {"p95", 3.5}, {"p99", 4.0},  {"p999", 5.0}, {"max", 6.0}};
  summary_format f;  // the default set, each value in its own unit
  EXPECT_EQ(format_trend(latency, "", f),
            "avg=2.00ms min=1.00ms med=2.00ms p(90)=3.00ms p(95)=3.50ms p(99)=4.00ms max=6.00ms");
  f.stats = parse_trend_stats("p(99.9),p(75)");
  EXPECT_EQ(format_trend(latency, "", f), "p(99.9)=5.00ms p(75)=n/a");
}

class summary_flags : public ::testing::Test {
 protected:
  // `stampede run` with `args` on a three-request script; exit code, stdout, stderr.
  std::tuple<int, std::string, std::string> run_cli(std::vector<std::string> args) {
    const std::string script = dir_.write("three.lua",
                                          "options = { iterations = 3 }\n"
                                          "function default() http.get('/hello') end\n");
    args.insert(args.begin(), {"run", script, "--target", server_.base_url(), "--quiet", "--threads", "1"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = run_command(std::span<char* const>(argv.data(), argv.size()));
    std::string err = ::testing::internal::GetCapturedStderr();
    std::string out = ::testing::internal::GetCapturedStdout();
    return {code, out, err};
  }

  testing::test_server server_;
  test::temp_dir dir_;
};

TEST_F(summary_flags, choose_the_statistics_and_unit_of_the_text_summary) {
  const auto [code, out, err] =
      run_cli({"--summary-trend-stats", "p(99.9),count,max", "--summary-time-unit", "us"});
  ASSERT_EQ(code, 0) << err;
  const size_t line = out.find("http_req_duration");
  ASSERT_NE(line, std::string::npos) << out;
  const std::string text = out.substr(line, out.find('\n', line) - line);
  EXPECT_NE(text.find(": p(99.9)="), std::string::npos) << text;
  EXPECT_NE(text.find("us count=3 max="), std::string::npos) << text;
  EXPECT_EQ(text.find("avg="), std::string::npos) << text;
  EXPECT_EQ(text.find("ms"), std::string::npos) << text;
}

TEST_F(summary_flags, a_bad_statistic_or_unit_is_a_usage_error_naming_the_flag) {
  const auto [code, out, err] = run_cli({"--summary-trend-stats", "avg,p(200)"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(err.find("--summary-trend-stats: 'p(200)': the percentile must be a number in 0..100"),
            std::string::npos)
      << err;
  const auto [unit_code, unit_out, unit_err] = run_cli({"--summary-time-unit", "minutes"});
  EXPECT_EQ(unit_code, 2);
  EXPECT_NE(unit_err.find("--summary-time-unit: unknown time unit 'minutes'"), std::string::npos) << unit_err;
}

}  // namespace
}  // namespace stampede::loadgen
