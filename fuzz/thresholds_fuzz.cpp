// Fuzzes the thresholds key and expression parsers and the duration parser (they read scenario files).
// Input layout: metric key '\n' expression '\n' duration; missing parts are empty.
// Beyond "never crash", it checks invariants: canonical expressions parse back equal, formatted durations
// parse back equal, and try_parse_duration agrees with parse_duration.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "common/duration.h"
#include "results/thresholds.h"

namespace {

using namespace stampede;
using namespace stampede::results;

std::string_view next_line(std::string_view& rest) {
  const size_t newline = rest.find('\n');
  const std::string_view line = rest.substr(0, newline);
  rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  return line;
}

void check(bool condition) {
  if (!condition) std::abort();
}

void fuzz_expression(std::string_view text) {
  for (const auto type : {metric_type::trend, metric_type::rate, metric_type::counter, metric_type::gauge}) {
    try {
      const threshold_expression e = parse_threshold_expression(text, type);
      check(parse_threshold_expression(to_string(e), type) == e);
      if (e.agg.method == aggregation_method::percentile)
        check(e.agg.percentile >= 0 && e.agg.percentile <= 100);
      (void)holds(e, 0.0);
      (void)holds(e, e.value);
    } catch (const std::invalid_argument&) {
    }
  }
}

void fuzz_selector(std::string_view key) {
  try {
    const metric_selector s = parse_metric_selector(key);
    check(metric_catalogue::builtin().find(s.metric) == s.type);
    for (size_t i = 1; i < s.tags.size(); ++i) check(s.tags[i - 1].key < s.tags[i].key);
    std::vector<std::pair<std::string_view, std::string_view>> sample;
    for (const auto& t : s.tags) sample.emplace_back(t.key, t.value);
    check(selector_matches(s, sample));
  } catch (const std::invalid_argument&) {
  }
}

void fuzz_duration(std::string_view text) {
  const auto parsed = try_parse_duration(text);
  try {
    check(parse_duration(text) == parsed);
  } catch (const std::invalid_argument&) {
    check(!parsed);
  }
  if (parsed) {
    check(*parsed >= std::chrono::nanoseconds::zero() && *parsed <= max_duration);
    check(try_parse_duration(format_duration(*parsed)) == parsed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view key = next_line(rest);
  const std::string_view expression = next_line(rest);
  const std::string_view duration = rest;

  fuzz_selector(key);
  fuzz_expression(expression);
  fuzz_duration(duration);
  fuzz_duration(key);  // more duration inputs for free
  try {
    const std::vector<metric_thresholds_input> input{
        {std::string(key), {{std::string(expression), true, std::string(duration)}}}};
    const auto built = build_thresholds(input);
    check(built.size() == 1);
    const auto results = evaluate_thresholds(built, [](const metric_selector&, const threshold_expression&) {
      return std::optional<double>(1.0);
    });
    check(results.size() == 1);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
