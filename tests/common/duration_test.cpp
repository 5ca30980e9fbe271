#include "common/duration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>

namespace stampede {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using ::testing::HasSubstr;

// The message parse_duration throws for `text`, or "" when it does not throw.
std::string error_of(std::string_view text) {
  try {
    parse_duration(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(duration, parses_single_units) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("10s"), 10s);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("3h"), 3h);
  EXPECT_EQ(parse_duration("500us"), 500us);
  EXPECT_EQ(parse_duration("500\xC2\xB5s"), 500us);  // micro sign
  EXPECT_EQ(parse_duration("500\xCE\xBCs"), 500us);  // greek mu
}

TEST(duration, bare_number_is_seconds) {
  EXPECT_EQ(parse_duration("0"), 0s);
  EXPECT_EQ(parse_duration("10"), 10s);
  EXPECT_EQ(parse_duration("1.5"), 1500ms);
  EXPECT_EQ(parse_duration("0s"), 0s);
}

TEST(duration, parses_combinations_and_decimals_exactly) {
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("1m30.5s"), 90500ms);
  EXPECT_EQ(parse_duration("1h2m3s4ms5us"), 1h + 2min + 3s + 4ms + 5us);
  EXPECT_EQ(parse_duration("1h5s"), 1h + 5s);  // skipping units is fine
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0.1s"), 100ms);  // exact, no binary floating point
  EXPECT_EQ(parse_duration("0.001us"), 1ns);
  EXPECT_EQ(parse_duration("0.0001us"), 0ns);  // truncated below 1 ns
  EXPECT_EQ(parse_duration("1.25h"), 75min);
  EXPECT_EQ(parse_duration("0.000000001s"), 1ns);
  EXPECT_EQ(parse_duration("1.123456789123456789123s"), 1123456789ns);  // extra digits ignored
  EXPECT_EQ(parse_duration("007s"), 7s);
}

TEST(duration, tolerates_surrounding_whitespace) {
  EXPECT_EQ(parse_duration("  10s\t"), 10s);
  EXPECT_EQ(parse_duration("\n1m\n"), 1min);
}

TEST(duration, upper_limit_is_ten_years) {
  EXPECT_EQ(parse_duration("87600h"), max_duration);
  EXPECT_EQ(try_parse_duration("87600h1us"), std::nullopt);
  EXPECT_EQ(try_parse_duration("87601h"), std::nullopt);
  EXPECT_EQ(try_parse_duration("99999999999999999999999999h"), std::nullopt);  // would overflow 64 bits
  EXPECT_EQ(try_parse_duration("9223372036854775807"), std::nullopt);
  EXPECT_EQ(try_parse_duration("87599h59m60s"), max_duration);
  EXPECT_EQ(try_parse_duration("87599h59m60.000001s"), std::nullopt);
  EXPECT_THAT(error_of("87601h"), HasSubstr("longer than 10 years"));
}

TEST(duration, try_parse_rejects_malformed_input) {
  for (const char* bad : {"",      "   ",   "-1s",    "-0",   "+1s",       "s",        "ms",   ".5s",  "1.s",
                          "1.",    "1x",    "1ns",    "1S",   "1M",        "1H",       "1d",   "1m30", "1s1h",
                          "1m1m",  "1ms1s", "1us1ms", "1 s",  "1s 2s",     "1e3s",     "1,5s", "inf",  "nan",
                          "0x10s", "1h-5m", "1h.5m",  "10s?", "\xC2\xB5s", "1\xC3\xA9"}) {
    EXPECT_EQ(try_parse_duration(bad), std::nullopt) << "'" << bad << "'";
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << "'" << bad << "'";
  }
}

TEST(duration, error_messages_name_the_input_and_the_reason) {
  EXPECT_EQ(error_of("1x"),
            "invalid duration '1x': unknown unit 'x' (units: h, m, s, ms, us) "
            "(expected e.g. 250ms, 10s, 2m, 1h30m)");
  EXPECT_THAT(error_of(""), HasSubstr("invalid duration '': empty"));
  EXPECT_THAT(error_of("-5s"), HasSubstr("negative"));
  EXPECT_THAT(error_of("1ns"), HasSubstr("unknown unit 'ns'"));
  EXPECT_THAT(error_of("1m30"), HasSubstr("missing unit after '30'"));
  EXPECT_THAT(error_of("1s1h"), HasSubstr("unit in '1h' is out of order"));
  EXPECT_THAT(error_of("1m1m"), HasSubstr("unit in '1m' is out of order"));
  EXPECT_THAT(error_of("1.s"), HasSubstr("expected digits after the decimal point in '1.s'"));
  EXPECT_THAT(error_of("abc"), HasSubstr("expected a number at 'abc'"));
  EXPECT_THAT(error_of("1s?"), HasSubstr("expected a number at '?'"));
  EXPECT_THAT(error_of("1h-5m"), HasSubstr("expected a number at '-5m'"));
}

TEST(duration, formats_shortest_readable_form) {
  EXPECT_EQ(format_duration(0ns), "0s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(10s), "10s");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(1h), "1h");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(1h + 5s), "1h5s");
  EXPECT_EQ(format_duration(1h + 1min), "1h1m");
  EXPECT_EQ(format_duration(90500ms), "1m30.5s");
  EXPECT_EQ(format_duration(500us), "500us");
  EXPECT_EQ(format_duration(1500us), "1.5ms");
  EXPECT_EQ(format_duration(1ns), "0.001us");
  EXPECT_EQ(format_duration(1001ns), "1.001us");
  EXPECT_EQ(format_duration(1s + 1ns), "1.000000001s");
  EXPECT_EQ(format_duration(max_duration), "87600h");
  EXPECT_EQ(format_duration(-1500ms), "-1.5s");
  EXPECT_EQ(format_duration(nanoseconds(INT64_MIN)).front(), '-');  // no overflow
}

TEST(duration, format_then_parse_round_trips) {
  const nanoseconds fixed[] = {0ns,
                               1ns,
                               999ns,
                               1us,
                               1001ns,
                               999999ns,
                               1ms,
                               59s,
                               60s,
                               61s + 1ns,
                               3599999999999ns,
                               1h,
                               25h + 59min + 59s + 999999999ns,
                               max_duration};
  for (nanoseconds d : fixed) {
    EXPECT_EQ(parse_duration(format_duration(d)), d) << format_duration(d);
  }
  std::mt19937_64 random(20240601);  // seeded: reproducible
  std::uniform_int_distribution<int64_t> any(0, max_duration.count());
  std::uniform_int_distribution<int64_t> small(0, 120'000'000'000);
  for (int i = 0; i < 20000; ++i) {
    const nanoseconds d(i % 2 == 0 ? any(random) : small(random));
    ASSERT_EQ(parse_duration(format_duration(d)), d) << format_duration(d);
  }
}

TEST(duration, parse_then_format_is_canonical) {
  EXPECT_EQ(format_duration(parse_duration("90s")), "1m30s");
  EXPECT_EQ(format_duration(parse_duration("0.5m")), "30s");
  EXPECT_EQ(format_duration(parse_duration("1000ms")), "1s");
  EXPECT_EQ(format_duration(parse_duration("60m")), "1h");
}

}  // namespace
}  // namespace stampede
